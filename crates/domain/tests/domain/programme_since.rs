//! `read_programme_since` always gives what `read_programme` gives: after random
//! edits on concurrent copies merged back and forth, with heads the document does not
//! have, with keyed maps created twice concurrently, entries removed, and documents
//! that do not read.

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue};
use autosurgeon::reconcile_prop;
use proptest::prelude::*;
use rapport_domain::programme::{
    Assignment, Lead, Membership, Period, Programme, ProgrammeInit, add_clients, apply_suggestion,
    new_programme, override_assignment, put_rep, read_programme, read_programme_since,
    register_device, set_meeting_warning_days, set_relationship, set_settings,
};
use rapport_domain::template::{retire_question, reword_question};
use rapport_domain::{
    Capacity, DocId, DomainError, Localized, Reason, Strength, default_template,
    suggest_assignments,
};

use crate::common::{T0, actor, doc_id, programme_doc};

const REPS: [&str; 4] = ["иванов", "петрова", "сидоров", "кузнецова"];
const NAMES: [&str; 3] = ["Иван Иванов", "Мария Петрова", "Пётр Сидоров"];
const STRENGTHS: [Strength; 4] = [
    Strength::Excellent,
    Strength::Good,
    Strength::Weak,
    Strength::Unknown,
];

fn client(n: u8) -> DocId {
    doc_id(0x10 + n)
}

fn rep(n: u8) -> &'static str {
    REPS[usize::from(n) % REPS.len()]
}

/// Runs one edit of a transaction on `doc`, as a writer outside the domain could.
fn raw(doc: &mut Automerge, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
    let mut tx = doc.transaction();
    f(&mut tx);
    tx.commit();
}

fn obj(doc: &impl ReadDoc, parent: &automerge::ObjId, key: &str) -> automerge::ObjId {
    match doc.get(parent, key).unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{key}: not an object: {other:?}"),
    }
}

/// Asserts both reads give the same result, the same error included.
fn assert_same_read(doc: &Automerge, prev: &Programme, prev_heads: &[ChangeHash]) {
    match (
        read_programme_since(doc, prev.clone(), prev_heads),
        read_programme(doc),
    ) {
        (Ok(since), Ok(full)) => assert_eq!(since, full),
        (Err(since), Err(full)) => assert_same_error(&since, &full),
        (since, full) => panic!("read since: {since:?}, full read: {full:?}"),
    }
}

fn assert_same_error(a: &DomainError, b: &DomainError) {
    assert_eq!((a.code(), a.to_string()), (b.code(), b.to_string()));
}

/// The fixture programme with two reps and three clients, assigned.
fn staffed_programme() -> Automerge {
    let mut doc = programme_doc();
    for (n, name) in NAMES.iter().take(2).enumerate() {
        put_rep(
            &mut doc,
            REPS[n],
            name,
            "rep@example.ru",
            Capacity::Dedicated,
            true,
            T0,
        )
        .unwrap();
    }
    let members: Vec<Membership> = (0..3)
        .map(|n| Membership {
            client_id: client(n),
            original_rep: Some(rep(n).to_owned()),
            strength: STRENGTHS[usize::from(n)],
            monopolised: n == 2,
        })
        .collect();
    add_clients(&mut doc, &members, T0).unwrap();
    let p = read_programme(&doc).unwrap();
    let s = suggest_assignments(&p.rep_capacities(), &p.clients_for_assignment()).unwrap();
    apply_suggestion(&mut doc, &s, "lead", T0).unwrap();
    doc
}

/// An edit of a programme, by the domain's edit functions (a refused one writes
/// nothing) or, for a removal, which the domain does not make, by hand.
#[derive(Clone, Debug)]
enum Edit {
    AddClients(Vec<(u8, Option<u8>, u8, bool)>),
    PutRep {
        rep: u8,
        name: u8,
        share: Option<u32>,
        active: bool,
    },
    RegisterDevice {
        device: u8,
        who: Option<u8>,
    },
    SetRelationship {
        client: u8,
        rep: Option<u8>,
        strength: u8,
        monopolised: bool,
    },
    Override {
        client: u8,
        rep: u8,
    },
    ApplySuggestion,
    Settings {
        name: u8,
        lead: u8,
        end_day: u8,
    },
    WarningDays(u32),
    RetireQuestion(u8),
    RewordQuestion(u8, u8),
    RemoveClient(u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => proptest::collection::vec(
            (0..6u8, proptest::option::of(0..4u8), 0..4u8, any::<bool>()),
            1..4
        )
        .prop_map(Edit::AddClients),
        2 => (0..4u8, 0..3u8, proptest::option::of(1..=100u32), any::<bool>())
            .prop_map(|(rep, name, share, active)| Edit::PutRep { rep, name, share, active }),
        1 => (0..3u8, proptest::option::of(0..4u8))
            .prop_map(|(device, who)| Edit::RegisterDevice { device, who }),
        2 => (0..6u8, proptest::option::of(0..4u8), 0..4u8, any::<bool>()).prop_map(
            |(client, rep, strength, monopolised)| Edit::SetRelationship {
                client,
                rep,
                strength,
                monopolised
            }
        ),
        2 => (0..6u8, 0..4u8).prop_map(|(client, rep)| Edit::Override { client, rep }),
        1 => Just(Edit::ApplySuggestion),
        1 => (0..3u8, 0..3u8, 1..=28u8)
            .prop_map(|(name, lead, end_day)| Edit::Settings { name, lead, end_day }),
        1 => (1..=366u32).prop_map(Edit::WarningDays),
        1 => any::<u8>().prop_map(Edit::RetireQuestion),
        1 => (any::<u8>(), 0..3u8).prop_map(|(q, w)| Edit::RewordQuestion(q, w)),
        1 => (0..6u8).prop_map(Edit::RemoveClient),
    ]
}

/// One step: an edit on one of the three copies, or a merge of one copy into another.
#[derive(Clone, Debug)]
enum Step {
    Edit { on: usize, edit: Edit },
    Merge { from: usize, into: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, edit()).prop_map(|(on, edit)| Step::Edit { on, edit }),
        1 => (0..3usize, 0..3usize).prop_map(|(from, into)| Step::Merge { from, into }),
    ]
}

fn question(doc: &Automerge, n: u8) -> String {
    let p = read_programme(doc).unwrap();
    let ids: Vec<&String> = p.template.questions.keys().collect();
    ids[usize::from(n) % ids.len()].clone()
}

fn apply(doc: &mut Automerge, edit: &Edit, now: i64) {
    // A refused edit writes nothing: what is checked is the reads after it.
    let _refused = match edit {
        Edit::AddClients(members) => {
            let members: Vec<Membership> = members
                .iter()
                .map(|&(c, r, s, monopolised)| Membership {
                    client_id: client(c),
                    original_rep: r.map(|r| rep(r).to_owned()),
                    strength: STRENGTHS[usize::from(s)],
                    monopolised,
                })
                .collect();
            add_clients(doc, &members, now)
        }
        Edit::PutRep {
            rep: r,
            name,
            share,
            active,
        } => put_rep(
            doc,
            rep(*r),
            NAMES[usize::from(*name)],
            "rep@example.ru",
            share.map_or(Capacity::Dedicated, |percent| Capacity::Share { percent }),
            *active,
            now,
        ),
        Edit::RegisterDevice { device, who } => register_device(
            doc,
            &actor(0x40 + device),
            who.map_or("lead", rep),
            "Планшет",
            now,
        ),
        Edit::SetRelationship {
            client: c,
            rep: r,
            strength,
            monopolised,
        } => set_relationship(
            doc,
            client(*c),
            r.map(rep),
            STRENGTHS[usize::from(*strength)],
            *monopolised,
            now,
        ),
        Edit::Override { client: c, rep: r } => override_assignment(
            doc,
            client(*c),
            rep(*r),
            Reason::LeadDecision {
                note: "Решение руководителя".to_owned(),
            },
            "lead",
            now,
        ),
        Edit::ApplySuggestion => {
            let p = read_programme(doc).unwrap();
            match suggest_assignments(&p.rep_capacities(), &p.clients_for_assignment()) {
                Ok(s) => apply_suggestion(doc, &s, "lead", now),
                Err(_) => Ok(()),
            }
        }
        Edit::Settings {
            name,
            lead,
            end_day,
        } => set_settings(
            doc,
            [
                "VIP-программа 2026",
                "Ключевые клиенты",
                "Программа «Север»",
            ][usize::from(*name)],
            &Period {
                start: "2026-03-01".to_owned(),
                end: format!("2026-07-{end_day:02}"),
            },
            &Lead {
                name: NAMES[usize::from(*lead)].to_owned(),
                email: "lead@example.ru".to_owned(),
            },
            now,
        ),
        Edit::WarningDays(days) => set_meeting_warning_days(doc, *days, now),
        Edit::RetireQuestion(q) => {
            let q = question(doc, *q);
            retire_question(doc, &q, now)
        }
        Edit::RewordQuestion(q, w) => {
            let q = question(doc, *q);
            let wording = Localized {
                ru: ["Как дела у клиента?", "Что изменилось?", "Довольны ли вы?"][usize::from(*w)]
                    .to_owned(),
                en: "Reworded".to_owned(),
            };
            reword_question(doc, &q, wording, now)
        }
        Edit::RemoveClient(c) => {
            let key = client(*c).to_string();
            raw(doc, |tx| {
                for map in ["clients", "assignments"] {
                    let map = obj(tx, &ROOT, map);
                    if tx.get(&map, key.as_str()).unwrap().is_some() {
                        tx.delete(&map, key.as_str()).unwrap();
                    }
                }
            });
            Ok(())
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Three copies of a programme (one and two forks with actors of their own) take
    /// random edits and merges; after every step, each copy read since each copy's
    /// last read whose heads it has (and, where it has not, by the full read it falls
    /// back to) equals its full read; each copy's own result is its next `prev`.
    #[test]
    fn read_since_equals_the_full_read_after_every_edit_and_merge(
        steps in proptest::collection::vec(step(), 1..14)
    ) {
        let base = staffed_programme();
        let mut docs = [
            base.clone(),
            base.fork().with_actor(actor(11)),
            base.fork().with_actor(actor(12)),
        ];
        let first = read_programme(&base).unwrap();
        let mut reads: Vec<(Programme, Vec<ChangeHash>)> =
            vec![(first, base.get_heads()); docs.len()];
        for (n, step) in steps.iter().enumerate() {
            let now = T0 + 1_000 * (i64::try_from(n).unwrap() + 1);
            match step {
                Step::Edit { on, edit } => apply(&mut docs[*on], edit, now),
                Step::Merge { from, into } => {
                    let mut from = docs[*from].clone();
                    docs[*into].merge(&mut from).unwrap();
                }
            }
            let mut next = Vec::with_capacity(docs.len());
            for (j, doc) in docs.iter().enumerate() {
                let full = read_programme(doc).unwrap();
                for (i, (prev, heads)) in reads.iter().enumerate() {
                    let since = read_programme_since(doc, prev.clone(), heads).unwrap();
                    prop_assert_eq!(
                        &since, &full,
                        "step {} ({:?}): copy {} read since copy {}'s read", n, step, j, i
                    );
                }
                let (prev, heads) = &reads[j];
                next.push((read_programme_since(doc, prev.clone(), heads).unwrap(), doc.get_heads()));
            }
            reads = next;
        }
    }
}

#[test]
fn heads_of_another_document_read_the_whole_programme() {
    let doc = staffed_programme();
    let mut other = new_programme(
        actor(2),
        &ProgrammeInit {
            id: doc_id(0xA1),
            name: "Другая программа".to_owned(),
            period: Period {
                start: "2026-01-01".to_owned(),
                end: "2026-12-31".to_owned(),
            },
            lead: Lead {
                name: "Анна Кузнецова".to_owned(),
                email: "anna@example.ru".to_owned(),
            },
        },
        &default_template(),
        T0,
    )
    .unwrap();
    put_rep(
        &mut other,
        "кузнецова",
        "Анна Кузнецова",
        "anna@example.ru",
        Capacity::Dedicated,
        true,
        T0,
    )
    .unwrap();
    let prev = read_programme(&other).unwrap();
    let since = read_programme_since(&doc, prev.clone(), &other.get_heads()).unwrap();
    assert_eq!(since, read_programme(&doc).unwrap());
    assert_eq!(since.id, doc_id(0xA0));
}

#[test]
fn a_document_gone_back_in_time_reads_the_whole_programme() {
    let mut doc = staffed_programme();
    let saved = doc.save();
    add_clients(
        &mut doc,
        &[Membership {
            client_id: client(5),
            original_rep: Some("петрова".to_owned()),
            strength: Strength::Good,
            monopolised: false,
        }],
        T0 + 1,
    )
    .unwrap();
    let later = read_programme(&doc).unwrap();
    // The earlier bytes, loaded again: the later read's heads are not in them.
    let earlier = Automerge::load(&saved).unwrap();
    let since = read_programme_since(&earlier, later.clone(), &doc.get_heads()).unwrap();
    assert_eq!(since, read_programme(&earlier).unwrap());
    assert!(!since.clients.contains_key(&client(5).to_string()));
    // A fork that never saw the edit, read from the later read: the same.
    let fork = Automerge::load(&saved).unwrap().with_actor(actor(7));
    assert_same_read(&fork, &later, &doc.get_heads());
}

#[test]
fn no_earlier_heads_read_the_whole_programme() {
    let doc = staffed_programme();
    // Whatever `prev` is: with no heads nothing tells what it was read from.
    let unrelated = read_programme(&programme_doc()).unwrap();
    assert_eq!(
        read_programme_since(&doc, unrelated.clone(), &[]).unwrap(),
        read_programme(&doc).unwrap()
    );
}

/// Replaces the root's `assignments` with a new map holding one client's assignment,
/// as a writer that creates the map instead of finding it would.
fn create_assignments(doc: &mut Automerge, c: u8, rep: &str) {
    let mut a = Assignment::none();
    a.current_rep = Some(rep.to_owned());
    a.original_rep = Some(rep.to_owned());
    a.strength = Strength::Excellent;
    raw(doc, |tx| {
        let map = tx.put_object(ROOT, "assignments", ObjType::Map).unwrap();
        reconcile_prop(tx, &map, client(c).to_string().as_str(), &a).unwrap();
    });
}

#[test]
fn a_keyed_map_created_by_two_devices_at_once_reads_the_winner() {
    let base = staffed_programme();
    let before = read_programme(&base).unwrap();
    let mut a = base.fork().with_actor(actor(11));
    let mut b = base.fork().with_actor(actor(12));
    create_assignments(&mut a, 0, "иванов");
    create_assignments(&mut b, 1, "петрова");
    let a_read = read_programme(&a).unwrap();
    let b_read = read_programme(&b).unwrap();
    let (a_heads, b_heads) = (a.get_heads(), b.get_heads());
    let mut merged = a.clone();
    merged.merge(&mut b.clone()).unwrap();
    let full = read_programme(&merged).unwrap();
    // One of the two maps wins; the other's assignment is not read.
    assert_eq!(full.assignments.len(), 1, "{:?}", full.assignments);
    for (prev, heads) in [
        (&before, base.get_heads()),
        (&a_read, a_heads.clone()),
        (&b_read, b_heads.clone()),
    ] {
        assert_eq!(
            read_programme_since(&merged, prev.clone(), &heads).unwrap(),
            full,
            "{heads:?}"
        );
    }
    // An edit of the losing map's entry changes nothing that is read, and still reads
    // the same as a full read.
    let loser = if full.assignments.contains_key(&client(0).to_string()) {
        (&mut b, 1)
    } else {
        (&mut a, 0)
    };
    let key = client(loser.1).to_string();
    raw(loser.0, |tx| {
        let map = obj(tx, &ROOT, "assignments");
        let entry = obj(tx, &map, &key);
        tx.put(&entry, "monopolised", true).unwrap();
    });
    let prev = read_programme(&merged).unwrap();
    let heads = merged.get_heads();
    merged.merge(loser.0).unwrap();
    assert_eq!(
        read_programme_since(&merged, prev.clone(), &heads).unwrap(),
        read_programme(&merged).unwrap()
    );
}

#[test]
fn a_removed_client_is_gone_from_the_read() {
    let mut doc = staffed_programme();
    let prev = read_programme(&doc).unwrap();
    let heads = doc.get_heads();
    let key = client(1).to_string();
    assert!(prev.clients.contains_key(&key) && prev.assignments.contains_key(&key));
    // The domain removes no client; a writer outside it (or an older build) could.
    raw(&mut doc, |tx| {
        for map in ["clients", "assignments"] {
            let map = obj(tx, &ROOT, map);
            tx.delete(&map, key.as_str()).unwrap();
        }
    });
    let since = read_programme_since(&doc, prev.clone(), &heads).unwrap();
    assert_eq!(since, read_programme(&doc).unwrap());
    assert!(!since.clients.contains_key(&key) && !since.assignments.contains_key(&key));
}

#[test]
fn a_deleted_warning_setting_reads_the_default() {
    let mut doc = staffed_programme();
    set_meeting_warning_days(&mut doc, 30, T0 + 1).unwrap();
    let prev = read_programme(&doc).unwrap();
    let heads = doc.get_heads();
    assert_eq!(prev.meeting_warning_days, 30);
    // A programme written before the setting has none: it reads the default.
    raw(&mut doc, |tx| {
        tx.delete(ROOT, "meeting_warning_days").unwrap()
    });
    let since = read_programme_since(&doc, prev.clone(), &heads).unwrap();
    assert_eq!(since, read_programme(&doc).unwrap());
    assert_eq!(since.meeting_warning_days, 14);
}

#[test]
fn a_document_of_another_kind_gives_the_full_reads_error() {
    let base = staffed_programme();
    let prev = read_programme(&base).unwrap();
    let heads = base.get_heads();
    let mut retyped = base.clone();
    raw(&mut retyped, |tx| tx.put(ROOT, "type", "client").unwrap());
    let err = read_programme_since(&retyped, prev.clone(), &heads).unwrap_err();
    assert_eq!(err.code(), "schema_wrong_type");
    assert_same_read(&retyped, &prev, &heads);
    let mut newer = base.clone();
    raw(&mut newer, |tx| tx.put(ROOT, "schema", 2).unwrap());
    assert_eq!(
        read_programme_since(&newer, prev.clone(), &heads)
            .unwrap_err()
            .code(),
        "schema_unsupported_version"
    );
    assert_same_read(&newer, &prev, &heads);
}

#[test]
fn malformed_entries_give_the_full_reads_error() {
    let base = staffed_programme();
    let prev = read_programme(&base).unwrap();
    let heads = base.get_heads();
    let key = client(0).to_string();
    // A null entry: read as absent by `Option`, but a full read fails on it.
    let mut nulled = base.clone();
    raw(&mut nulled, |tx| {
        let clients = obj(tx, &ROOT, "clients");
        tx.put(&clients, key.as_str(), ScalarValue::Null).unwrap();
    });
    assert_eq!(
        read_programme_since(&nulled, prev.clone(), &heads)
            .unwrap_err()
            .code(),
        "schema_malformed"
    );
    assert_same_read(&nulled, &prev, &heads);
    // A scalar where an assignment map belongs, and a list where a keyed map does.
    let mut scalar = base.clone();
    raw(&mut scalar, |tx| {
        let assignments = obj(tx, &ROOT, "assignments");
        tx.put(&assignments, key.as_str(), "Иванов").unwrap();
    });
    assert_same_read(&scalar, &prev, &heads);
    let mut listed = base.clone();
    raw(&mut listed, |tx| {
        let reps = tx.put_object(ROOT, "reps", ObjType::List).unwrap();
        tx.insert(&reps, 0, "иванов").unwrap();
    });
    assert_same_read(&listed, &prev, &heads);
    assert!(read_programme(&listed).is_err());
}
