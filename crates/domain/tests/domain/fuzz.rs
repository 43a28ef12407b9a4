//! The schema check: valid documents pass, wrong ones fail with a named
//! reason, and random or damaged bytes never panic.

use std::sync::OnceLock;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use proptest::prelude::*;
use rapport_domain::template::read_template;
use rapport_domain::{DocKind, SchemaError, check_document};

use crate::common::{client_doc, programme_doc};
use crate::sizes::filled_visit;

/// Built once: the proptest cases below reuse it.
fn saved_visit() -> Vec<u8> {
    static SAVED: OnceLock<Vec<u8>> = OnceLock::new();
    SAVED
        .get_or_init(|| filled_visit(&read_template(&programme_doc()).unwrap()).save())
        .clone()
}

#[test]
fn valid_documents_pass_with_their_kind() {
    assert_eq!(check_document(&programme_doc()), Ok(DocKind::Programme));
    let client = client_doc();
    assert_eq!(check_document(&client), Ok(DocKind::Client));
    assert_eq!(
        check_document(&Automerge::load(&saved_visit()).unwrap()),
        Ok(DocKind::Visit)
    );
}

fn edited(f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) -> Automerge {
    let mut doc = Automerge::load(&saved_visit()).unwrap();
    let mut tx = doc.transaction();
    f(&mut tx);
    tx.commit();
    doc
}

#[test]
fn wrong_documents_fail_naming_what_is_wrong() {
    assert_eq!(
        check_document(&Automerge::new()),
        Err(SchemaError::MissingType)
    );
    let doc = edited(|tx| tx.put(ROOT, "type", "invoice").unwrap());
    assert!(
        matches!(check_document(&doc), Err(SchemaError::WrongType { found, .. }) if found == "invoice")
    );
    let doc = edited(|tx| tx.put(ROOT, "schema", 2).unwrap());
    assert_eq!(
        check_document(&doc),
        Err(SchemaError::UnsupportedSchema {
            expected: 1,
            found: Some(2)
        })
    );
    let doc = edited(|tx| tx.put(ROOT, "client_id", "not-a-uuid").unwrap());
    let err = check_document(&doc).unwrap_err();
    assert_eq!(err.code(), "schema_malformed");
    assert!(err.to_string().contains("not-a-uuid"), "{err}");
    let doc = edited(|tx| {
        let answers = match tx.get(ROOT, "answers").unwrap() {
            Some((_, id)) => id,
            None => unreachable!(),
        };
        tx.put_object(&answers, "carnegie.plans", ObjType::List)
            .unwrap();
    });
    assert_eq!(check_document(&doc).unwrap_err().code(), "schema_malformed");
    let doc = edited(|tx| tx.put(ROOT, "state", "archived").unwrap());
    assert_eq!(check_document(&doc).unwrap_err().code(), "schema_malformed");
}

/// A value that loses to a concurrent one is still checked: whichever value wins, a
/// malformed one among them fails the check, and concurrent valid values pass and are
/// listed as a conflict.
#[test]
fn every_concurrent_answer_value_is_checked() {
    let base = Automerge::load(&saved_visit()).unwrap();
    let answers = match base.get(ROOT, "answers").unwrap() {
        Some((_, id)) => id,
        None => unreachable!(),
    };
    let fork = |put: &dyn Fn(&mut automerge::transaction::Transaction<'_>)| {
        let mut doc = base.fork().with_actor(automerge::ActorId::random());
        let mut tx = doc.transaction();
        put(&mut tx);
        tx.commit();
        doc
    };
    let text = |value: &'static str| {
        let answers = answers.clone();
        move |tx: &mut automerge::transaction::Transaction<'_>| {
            let t = tx
                .put_object(&answers, "carnegie.plans", ObjType::Text)
                .unwrap();
            tx.splice_text(&t, 0, 0, value).unwrap();
        }
    };
    let list = |tx: &mut automerge::transaction::Transaction<'_>| {
        tx.put_object(&answers, "carnegie.plans", ObjType::List)
            .unwrap();
    };
    // Many pairs of actors: the malformed value wins for some and loses for others.
    for _ in 0..16 {
        let mut merged = fork(&text("Склад в Твери"));
        merged.merge(&mut fork(&list)).unwrap();
        assert_eq!(
            check_document(&merged).unwrap_err().code(),
            "schema_malformed"
        );
    }
    let mut merged = fork(&text("Склад в Твери"));
    merged.merge(&mut fork(&text("Филиал в Казани"))).unwrap();
    assert_eq!(check_document(&merged), Ok(DocKind::Visit));
    assert_eq!(
        rapport_domain::conflicted_answers(&merged).unwrap(),
        vec!["carnegie.plans".to_owned()]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = Automerge::load(&bytes) {
            let _ = check_document(&doc);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn damaged_visits_never_panic(cut in 0usize..4096, flip in 0usize..4096, bit in 0u8..8) {
        let saved = saved_visit();
        let truncated = &saved[..cut.min(saved.len())];
        if let Ok(doc) = Automerge::load(truncated) {
            let _ = check_document(&doc);
        }
        let mut flipped = saved.clone();
        let i = flip % flipped.len();
        flipped[i] ^= 1 << bit;
        if let Ok(doc) = Automerge::load(&flipped) {
            let _ = check_document(&doc);
        }
    }
}
