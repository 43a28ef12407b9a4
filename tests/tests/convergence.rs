//! Convergence of visit documents across 3–5 devices syncing through the real
//! protocol sessions and a stateless server, with requests dropped, responses
//! lost, duplicated and delivered late out of order, and storage going back in
//! time: the server restored from an earlier backup, a device from an earlier
//! image of itself (see the protocol's *When storage goes back in time*).
//!
//! At quiescence every replica (and the server) has the same heads and the same
//! typed visit; every change that some replica still held when the faults stopped
//! is on every replica (a restore may lose only what nobody else had); every change
//! a device made since it last went back is on the server; and the server stored
//! no change twice.
//!
//! 1,000 cases by default; the long run:
//! `PROPTEST_CASES=10000 cargo test -p rapport-tests --release --test convergence`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash, ReadDoc};
use proptest::prelude::*;
use rapport_domain::visit::{
    self, AnswerValue, ContactInput, ReferralInput, ScalarAnswer, VisitInit,
};
use rapport_domain::{DocId, QuestionKind, Template, check_document, default_template};
use rapport_protocol::{ErrorCode, NewChanges, Rejection};
use rapport_testkit::{Fault, MemDevice, MemDeviceSnapshot, MemServer, MemServerSnapshot};
use rapport_tests::text::{SNIPPETS, splice};

const NAMES: &[&str] = &["Пётр Ильич", "Анна Каренина", "Олег", "Зоя 🌸", "Jane"];

#[derive(Debug, Clone)]
enum Op {
    Text {
        dev: usize,
        q: usize,
        at: u16,
        del: u8,
        ins: usize,
    },
    YesNo {
        dev: usize,
        q: usize,
        value: bool,
    },
    Number {
        dev: usize,
        q: usize,
        value: i16,
    },
    AddContact {
        dev: usize,
        name: usize,
    },
    UpdateContact {
        dev: usize,
        pick: usize,
        phone: u16,
    },
    AddReferral {
        dev: usize,
        name: usize,
    },
    Sync {
        dev: usize,
        faults: Vec<Fault>,
    },
    DeliverLate {
        dev: usize,
    },
    /// A backup of the server.
    SnapshotServer,
    /// The server is restored from one of its backups (`pick` among them): what it
    /// received after that backup is lost, and it gets a new epoch.
    RestoreServer {
        pick: usize,
    },
    /// An image of a device's folder.
    SnapshotDevice {
        dev: usize,
    },
    /// The device is restored from one of its images: its edits after it are gone
    /// from it (those that reached the server or other devices must survive).
    RestoreDevice {
        dev: usize,
        pick: usize,
    },
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        4 => Just(Fault::None),
        1 => Just(Fault::DropRequest),
        1 => Just(Fault::DropResponse),
        1 => Just(Fault::Duplicate),
        1 => Just(Fault::Delay),
    ]
}

fn op(devices: usize) -> impl Strategy<Value = Op> {
    let dev = 0..devices;
    prop_oneof![
        6 => (dev.clone(), 0..2usize, any::<u16>(), 0..4u8, 0..SNIPPETS.len())
            .prop_map(|(dev, q, at, del, ins)| Op::Text { dev, q, at, del, ins }),
        2 => (dev.clone(), 0..2usize, any::<bool>())
            .prop_map(|(dev, q, value)| Op::YesNo { dev, q, value }),
        1 => (dev.clone(), 0..2usize, any::<i16>())
            .prop_map(|(dev, q, value)| Op::Number { dev, q, value }),
        1 => (dev.clone(), 0..NAMES.len()).prop_map(|(dev, name)| Op::AddContact { dev, name }),
        1 => (dev.clone(), any::<usize>(), any::<u16>())
            .prop_map(|(dev, pick, phone)| Op::UpdateContact { dev, pick, phone }),
        1 => (dev.clone(), 0..NAMES.len()).prop_map(|(dev, name)| Op::AddReferral { dev, name }),
        4 => (dev.clone(), proptest::collection::vec(fault(), 0..4))
            .prop_map(|(dev, faults)| Op::Sync { dev, faults }),
        1 => dev.clone().prop_map(|dev| Op::DeliverLate { dev }),
        1 => Just(Op::SnapshotServer),
        1 => any::<usize>().prop_map(|pick| Op::RestoreServer { pick }),
        1 => dev.clone().prop_map(|dev| Op::SnapshotDevice { dev }),
        1 => (dev, any::<usize>()).prop_map(|(dev, pick)| Op::RestoreDevice { dev, pick }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (3..=5usize).prop_flat_map(|n| (Just(n), proptest::collection::vec(op(n), 1..40)))
}

/// The server's check before committing a device's changes: the document must
/// still be a well-formed Rapport document (the real server does the same).
fn schema_check(doc: &Automerge, _new: NewChanges<'_>) -> Result<(), Rejection> {
    check_document(doc).map(|_| ()).map_err(|e| Rejection {
        code: ErrorCode::Rejected,
        message: e.to_string(),
    })
}

struct World {
    template: Template,
    text_q: Vec<String>,
    yes_no_q: Vec<String>,
    number_q: Vec<String>,
    server: MemServer,
    devices: Vec<MemDevice>,
    visit: DocId,
    now_ms: i64,
    /// Backups of the server, the first taken when every device had the visit.
    server_backups: Vec<MemServerSnapshot>,
    /// Images of each device, the first taken when it had the visit.
    device_images: Vec<Vec<MemDeviceSnapshot>>,
    /// Per device: how many of its `made` changes it had made when it last went
    /// back; those after it are still on the device.
    kept_from: Vec<usize>,
}

impl World {
    /// Device 0 creates the visit and uploads it; the others download it.
    fn new(n: usize) -> Self {
        let template = default_template();
        let text_q = template.active_ids(|k| matches!(k, QuestionKind::Text));
        let yes_no_q = template.active_ids(|k| matches!(k, QuestionKind::YesNo));
        let number_q = template.active_ids(|k| matches!(k, QuestionKind::Number));
        assert!(text_q.len() >= 2 && !yes_no_q.is_empty() && !number_q.is_empty());
        let mut server = MemServer::default();
        server.validate = Some(schema_check);
        let mut devices: Vec<MemDevice> = (1..=n as u64).map(MemDevice::new).collect();
        let visit = DocId::random();
        let init = VisitInit {
            id: visit,
            programme_id: DocId::random(),
            client_id: DocId::random(),
            date: "2026-11-27".into(),
            rep_id: "rep-1".into(),
        };
        let doc =
            visit::new_visit(devices[0].actor(), &init, &template, 1_000).expect("a valid visit");
        devices[0].insert(visit, doc);
        for d in &mut devices {
            let stats = d.sync(&mut server, |_| Fault::None).expect("initial sync");
            assert_eq!(stats.errors, vec![]);
        }
        for d in &devices {
            assert!(d.doc(&visit).is_some(), "device {} got the visit", d.id);
        }
        Self {
            template,
            text_q,
            yes_no_q,
            number_q,
            server_backups: vec![server.snapshot()],
            device_images: devices.iter().map(|d| vec![d.snapshot()]).collect(),
            kept_from: vec![0; n],
            server,
            devices,
            visit,
            now_ms: 2_000,
        }
    }

    fn apply(&mut self, op: &Op) {
        self.now_ms += 1_000;
        let now = self.now_ms;
        let (visit, template) = (self.visit, &self.template);
        match op {
            Op::Text {
                dev,
                q,
                at,
                del,
                ins,
            } => {
                let qid = &self.text_q[*q % self.text_q.len()];
                self.devices[*dev].edit(visit, |doc| {
                    let current = match visit::read_visit(doc).unwrap().answers.get(qid) {
                        Some(AnswerValue::Text(s)) => s.clone(),
                        other => panic!("text answer expected, got {other:?}"),
                    };
                    let new = splice(&current, u64::from(*at), u64::from(*del), SNIPPETS[*ins]);
                    visit::set_text_answer(doc, template, qid, &new, now).unwrap();
                    // The whole-value edit lands exactly, characters intact.
                    assert_eq!(
                        visit::read_visit(doc).unwrap().answers.get(qid),
                        Some(&AnswerValue::Text(new))
                    );
                });
            }
            Op::YesNo { dev, q, value } => {
                let qid = &self.yes_no_q[*q % self.yes_no_q.len()];
                self.devices[*dev].edit(visit, |doc| {
                    visit::set_scalar_answer(doc, template, qid, &ScalarAnswer::YesNo(*value), now)
                        .unwrap();
                });
            }
            Op::Number { dev, q, value } => {
                let qid = &self.number_q[*q % self.number_q.len()];
                let value = ScalarAnswer::Number(f64::from(*value));
                self.devices[*dev].edit(visit, |doc| {
                    visit::set_scalar_answer(doc, template, qid, &value, now).unwrap();
                });
            }
            Op::AddContact { dev, name } => {
                let input = ContactInput {
                    name: NAMES[*name].into(),
                    role: "Директор по закупкам".into(),
                    ..ContactInput::default()
                };
                self.devices[*dev].edit(visit, |doc| {
                    visit::put_contact_update(doc, None, &input, now).unwrap();
                });
            }
            Op::UpdateContact { dev, pick, phone } => {
                self.devices[*dev].edit(visit, |doc| {
                    let contacts = visit::read_visit(doc).unwrap().contact_updates;
                    if contacts.is_empty() {
                        return;
                    }
                    let (id, c) = contacts.iter().nth(pick % contacts.len()).unwrap();
                    let input = ContactInput {
                        updates_contact_id: c.updates_contact_id.clone(),
                        name: c.name.clone(),
                        role: c.role.clone(),
                        phone: format!("+7 900 {phone:05}"),
                        email: c.email.clone(),
                    };
                    visit::put_contact_update(doc, Some(id), &input, now).unwrap();
                });
            }
            Op::AddReferral { dev, name } => {
                let input = ReferralInput {
                    name: NAMES[*name].into(),
                    company: "АО «Вектор»".into(),
                    contact: "vector@example.ru".into(),
                    note: "знакомый директора".into(),
                };
                self.devices[*dev].edit(visit, |doc| {
                    visit::put_referral(doc, None, &input, now).unwrap();
                });
            }
            Op::Sync { dev, faults } => {
                let faults = faults.clone();
                let plan = move |n: u32| {
                    let i = usize::try_from(n).unwrap_or(usize::MAX) - 1;
                    faults.get(i).copied().unwrap_or(Fault::None)
                };
                let stats = self.devices[*dev]
                    .sync(&mut self.server, plan)
                    .expect("a sync run ends within its round-trip cap");
                assert_eq!(stats.errors, vec![], "the server refused a valid edit");
            }
            Op::DeliverLate { dev } => {
                self.devices[*dev].deliver_stale();
            }
            Op::SnapshotServer => self.server_backups.push(self.server.snapshot()),
            Op::RestoreServer { pick } => {
                let backup = &self.server_backups[pick % self.server_backups.len()];
                self.server.restore(backup.clone());
            }
            Op::SnapshotDevice { dev } => {
                let image = self.devices[*dev].snapshot();
                self.device_images[*dev].push(image);
            }
            Op::RestoreDevice { dev, pick } => {
                let images = &self.device_images[*dev];
                let image = images[pick % images.len()].clone();
                let device = &mut self.devices[*dev];
                device.restore(image);
                self.kept_from[*dev] = device.made.len();
                assert!(device.doc(&visit).is_some(), "every image holds the visit");
            }
        }
    }

    /// Every change of the visit some replica (a device or the server) holds now.
    fn held_anywhere(&self) -> BTreeSet<ChangeHash> {
        let mut held: BTreeSet<ChangeHash> = changes_of(&self.server.load(&self.visit));
        for d in &self.devices {
            held.extend(changes_of(&d.doc(&self.visit).expect("the visit")));
        }
        held
    }

    /// Delivers what is late, then syncs everyone without faults until nothing
    /// moves. Bounded: a protocol that never settles fails the test.
    ///
    /// A run reconciles within itself when the server asks (or the device was
    /// restored), so restores need no extra rounds: after a server restore the first
    /// round puts back on the server what each device holds, the second brings it to
    /// the devices that synced earlier in the round (measured: never more than 2
    /// rounds in 3,000 cases; 6 leave a margin).
    fn settle(&mut self) {
        for d in &mut self.devices {
            while d.deliver_stale() {}
        }
        for _round in 0..6 {
            for d in &mut self.devices {
                let stats = d
                    .sync(&mut self.server, |_| Fault::None)
                    .expect("a clean sync run");
                assert_eq!(stats.errors, vec![], "the server refused a valid edit");
            }
            if self.converged() {
                return;
            }
        }
        panic!("no convergence after 6 clean rounds");
    }

    fn converged(&self) -> bool {
        let server = sorted_heads(&self.server.load(&self.visit));
        self.devices
            .iter()
            .all(|d| d.dirty.is_empty() && sorted_heads(&d.doc(&self.visit).unwrap()) == server)
    }
}

fn changes_of(doc: &Automerge) -> BTreeSet<ChangeHash> {
    doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
}

fn sorted_heads(doc: &Automerge) -> Vec<automerge::ChangeHash> {
    let mut heads = doc.get_heads();
    heads.sort();
    heads
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Shrinking a 40-step multi-device scenario can take long; keep it bounded.
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_through_lossy_sync((n, ops) in scenario()) {
        let started = Instant::now();
        let mut world = World::new(n);
        for op in &ops {
            world.apply(op);
        }
        // What survives the restores: whatever some replica still holds.
        let held = world.held_anywhere();
        world.settle();

        let server_doc = world.server.load(&world.visit);
        check_document(&server_doc).expect("the merged visit is well-formed");
        let merged = visit::read_visit(&server_doc).expect("the merged visit reads");
        // Nothing held anywhere is lost: the server and every device have it all.
        for hash in &held {
            prop_assert!(
                world.server.has_change(&world.visit, hash),
                "change {} was held when the faults stopped, but the server did not store it", hash
            );
        }
        for (i, d) in world.devices.iter().enumerate() {
            let doc = d.doc(&world.visit).unwrap();
            prop_assert_eq!(sorted_heads(&doc), sorted_heads(&server_doc));
            prop_assert_eq!(&visit::read_visit(&doc).unwrap(), &merged);
            for hash in &held {
                prop_assert!(
                    doc.get_change_by_hash(hash).is_some(),
                    "change {} was held when the faults stopped, but device {} lacks it", hash, d.id
                );
            }
            // Nothing typed is lost: every change the device made since it last went
            // back (all of them if it never did) is merged.
            for (_, hash) in &d.made[world.kept_from[i]..] {
                prop_assert!(
                    server_doc.get_change_by_hash(hash).is_some(),
                    "change {} of device {} lost", hash, d.id
                );
            }
        }
        prop_assert_eq!(world.server.duplicates(), 0, "a retried upload was stored twice");
        prop_assert!(started.elapsed() < Duration::from_secs(60));
    }
}

/// A fixed scenario so that a regression in the harness itself shows plainly:
/// two devices type into the same Cyrillic answer and answer the same yes/no
/// question differently while offline; after sync the text holds both
/// insertions and both yes/no values stay visible as a conflict.
#[test]
fn two_offline_devices_merge_text_and_keep_both_yes_no_values() {
    let mut w = World::new(3);
    let qid = w.text_q[0].clone();
    let yes_no = w.yes_no_q[0].clone();
    let template = w.template.clone();
    let visit = w.visit;
    w.devices[0].edit(visit, |doc| {
        visit::set_text_answer(doc, &template, &qid, "Гордимся командой", 10_000).unwrap();
    });
    w.apply(&Op::Sync {
        dev: 0,
        faults: vec![],
    });
    w.apply(&Op::Sync {
        dev: 1,
        faults: vec![],
    });
    w.devices[0].edit(visit, |doc| {
        visit::set_text_answer(doc, &template, &qid, "Очень гордимся командой", 11_000).unwrap();
        visit::set_scalar_answer(doc, &template, &yes_no, &ScalarAnswer::YesNo(true), 11_000)
            .unwrap();
    });
    w.devices[1].edit(visit, |doc| {
        visit::set_text_answer(
            doc,
            &template,
            &qid,
            "Гордимся командой и клиентами 🤝",
            12_000,
        )
        .unwrap();
        visit::set_scalar_answer(doc, &template, &yes_no, &ScalarAnswer::YesNo(false), 12_000)
            .unwrap();
    });
    w.settle();
    let doc = w.server.load(&visit);
    let merged = visit::read_visit(&doc).unwrap();
    assert_eq!(
        merged.answers.get(&qid),
        Some(&AnswerValue::Text(
            "Очень гордимся командой и клиентами 🤝".into()
        ))
    );
    let values = rapport_domain::answer_conflicts(&doc, &yes_no).unwrap();
    let mut authors: Vec<String> = values.iter().map(|v| v.actor.clone()).collect();
    authors.sort();
    let mut expected = vec![
        w.devices[0].actor().to_hex_string(),
        w.devices[1].actor().to_hex_string(),
    ];
    expected.sort();
    assert_eq!(
        authors, expected,
        "both yes/no values stay visible with their authors"
    );
    // The third device, which never edited, sees the same.
    assert_eq!(
        visit::read_visit(&w.devices[2].doc(&visit).unwrap()).unwrap(),
        merged
    );
}
