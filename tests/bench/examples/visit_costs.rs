//! Where P1's time goes per visit: the Automerge steps of an upload and a download,
//! each timed over the 200 visits of P1's shape (20 edits of ~370 bytes of Russian
//! each), in memory, no store, no network.
//!
//! ```text
//! cargo run --release -p rapport-bench --example visit_costs
//! ```
//!
//! Prints one line per step, in milliseconds for all 200 visits. What it showed when
//! written (2 cores): a visit read back from its 21 stored changes costs ~2.9 ms, from
//! its saved bytes ~1.1 ms; Automerge 0.12 encodes a loaded document's changes again
//! (`get_changes`) in ~1 ms; saving one costs ~0.12 ms. Applying only the last 4
//! changes on top of a snapshot of the first 17 costs as much as applying all 21 from
//! nothing (~3.1 ms with the load), however they are given (`apply_changes`,
//! `load_incremental`, one `load` of the concatenated bytes): what pays is a document
//! stored as one snapshot, which is why the device folds edited documents from memory.

use std::time::Instant;

use automerge::sync::{Capability, Have, Message, State, SyncDoc};
use automerge::{ActorId, Automerge, Change};
use rapport_domain::visit::{VisitInit, new_visit, set_text_answer};
use rapport_domain::{DocId, QuestionKind, check_document, default_template};

const VISITS: usize = 200;
const EDITS: usize = 20;
const PROSE: &str = "Клиент доволен скоростью канала и работой поддержки, просит резервную линию \
     в новый офис на Лиговском, бюджет согласуют в следующем квартале; ";

/// A visit typed as P1 types it.
fn visit(d: usize) -> Automerge {
    let template = default_template();
    let questions = template.active_ids(|k| *k == QuestionKind::Text);
    let init = VisitInit {
        id: DocId::random(),
        programme_id: DocId::random(),
        client_id: DocId::random(),
        date: "2026-03-10".into(),
        rep_id: "ivanov".into(),
    };
    let mut doc = new_visit(ActorId::random(), &init, &template, 0).expect("a visit");
    for k in 0..EDITS {
        let body: String = PROSE.chars().cycle().skip(k * 7).take(170).collect();
        let text = format!("Визит №{d}, правка {k}: {body}");
        set_text_answer(
            &mut doc,
            &template,
            &questions[k % questions.len()],
            &text,
            0,
        )
        .expect("an answer");
    }
    doc
}

/// A device's first message for a document the server has none of: the whole document.
fn first_message(doc: &Automerge) -> Vec<u8> {
    let mut state = State::new();
    state.their_heads = Some(Vec::new());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have::default()]);
    state.their_capabilities = Some(vec![Capability::MessageV2]);
    doc.generate_sync_message(&mut state)
        .expect("a message")
        .encode()
}

fn time(step: &str, mut f: impl FnMut()) {
    let started = Instant::now();
    f();
    println!("{step}: {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
}

fn main() {
    let docs: Vec<Automerge> = (0..VISITS).map(visit).collect();
    let rows: Vec<Vec<Vec<u8>>> = docs
        .iter()
        .map(|d| {
            d.get_changes(&[])
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect()
        })
        .collect();
    let saved: Vec<Vec<u8>> = docs.iter().map(Automerge::save).collect();
    let loaded: Vec<Automerge> = saved
        .iter()
        .map(|s| Automerge::load(s).expect("loads"))
        .collect();
    let messages: Vec<Vec<u8>> = loaded.iter().map(first_message).collect();
    println!(
        "{VISITS} visits, {} changes each, {} bytes saved on average",
        rows[0].len(),
        saved.iter().map(Vec::len).sum::<usize>() / VISITS
    );
    time("read back from its stored changes", || {
        for changes in &rows {
            let mut doc = Automerge::new();
            let changes: Vec<Change> = changes
                .iter()
                .map(|b| Change::from_bytes(b.clone()).expect("a change"))
                .collect();
            doc.apply_changes(changes).expect("applies");
        }
    });
    // Folded after 16 edits: a snapshot and the last 4 changes.
    let folded: Vec<(Vec<u8>, Vec<Vec<u8>>)> = docs
        .iter()
        .map(|d| {
            let all = d.get_changes(&[]);
            let cut = all.len() - 4;
            let mut early = Automerge::new();
            early
                .apply_changes(all[..cut].iter().cloned())
                .expect("applies");
            (
                early.save(),
                all[cut..].iter().map(|c| c.raw_bytes().to_vec()).collect(),
            )
        })
        .collect();
    time("snapshot + 4 changes: load, apply_changes", || {
        for (snap, changes) in &folded {
            let mut doc = Automerge::load(snap).expect("loads");
            let changes: Vec<Change> = changes
                .iter()
                .map(|b| Change::from_bytes(b.clone()).expect("a change"))
                .collect();
            doc.apply_changes(changes).expect("applies");
        }
    });
    time("snapshot + 4 changes: load only", || {
        for (snap, _) in &folded {
            Automerge::load(snap).expect("loads");
        }
    });
    time(
        "snapshot + 4 changes: load_incremental of the changes",
        || {
            for (snap, changes) in &folded {
                let mut doc = Automerge::load(snap).expect("loads");
                doc.load_incremental(&changes.concat()).expect("applies");
            }
        },
    );
    time("snapshot + 4 changes: load of the concatenation", || {
        for (snap, changes) in &folded {
            let mut all = snap.clone();
            all.extend(changes.concat());
            Automerge::load(&all).expect("loads");
        }
    });
    time(
        "snapshot + 4 changes: Automerge::new, load_incremental of all",
        || {
            for (snap, changes) in &folded {
                let mut all = snap.clone();
                all.extend(changes.concat());
                let mut doc = Automerge::new();
                doc.load_incremental(&all).expect("loads");
            }
        },
    );
    time("load its saved bytes", || {
        for bytes in &saved {
            Automerge::load(bytes).expect("loads");
        }
    });
    time("save", || {
        for doc in &loaded {
            doc.save();
        }
    });
    time("its changes encoded again (get_changes)", || {
        for doc in &loaded {
            doc.get_changes(&[]);
        }
    });
    time("its change hashes (get_changes_meta)", || {
        for doc in &loaded {
            doc.get_changes_meta(&[]);
        }
    });
    time("the device's first message", || {
        for doc in &loaded {
            first_message(doc);
        }
    });
    time("the server receives it and answers", || {
        for message in &messages {
            let mut doc = Automerge::new();
            let mut state = State::new();
            let message = Message::decode(message).expect("decodes");
            doc.receive_sync_message(&mut state, message)
                .expect("receives");
            doc.generate_sync_message(&mut state).map(Message::encode);
            state.encode();
        }
    });
    time("the server's schema check", || {
        for doc in &loaded {
            check_document(doc).expect("a visit");
        }
    });
    // P3's reconnect: one short answer changed on a visit the server holds resident.
    let template = default_template();
    let short: Vec<Vec<Change>> = loaded
        .iter()
        .map(|doc| {
            let mut edited = doc.fork();
            set_text_answer(
                &mut edited,
                &template,
                "carnegie.plans",
                "План: открыть филиал в Казани 🏢",
                0,
            )
            .expect("an answer");
            edited.get_changes(&doc.get_heads())
        })
        .collect();
    time("a short answer's change applied to a resident copy", || {
        for (doc, changes) in loaded.iter().zip(&short) {
            let mut copy = doc.clone();
            copy.apply_changes(changes.iter().cloned())
                .expect("applies");
        }
    });
}
