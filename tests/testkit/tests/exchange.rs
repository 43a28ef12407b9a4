//! Devices and a stateless in-memory server running whole sync runs.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use rapport_domain::DocId;
use rapport_protocol::{DeviceSession, ErrorCode, Limits, SessionError, SyncRequest, SyncResponse};
use rapport_testkit::{Fault, MemDevice, MemServer, RunStats};
use rstest::rstest;

/// What to do to the n-th request (1-based) of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Nth {
    None,
    DropRequest(u32),
    DropResponse(u32),
}

/// The in-memory device of `rapport_testkit`, with what these tests add.
type Device = MemDevice;

trait DeviceExt {
    fn write(&mut self, doc: DocId, text: &str);
    fn notes(&self, doc: DocId) -> String;
    fn sync_clean(&mut self, server: &mut MemServer) -> Result<RunStats, SessionError>;
    fn sync_with(&mut self, server: &mut MemServer, fault: Nth) -> Result<RunStats, SessionError>;
}

impl DeviceExt for MemDevice {
    /// Append `text` to the document's `notes` text (creating both if needed).
    fn write(&mut self, doc: DocId, text: &str) {
        self.edit(doc, |d| {
            let mut tx = d.transaction();
            let notes = match tx.get(ROOT, "notes").unwrap() {
                Some((_, id)) => id,
                None => tx.put_object(ROOT, "notes", ObjType::Text).unwrap(),
            };
            let len = tx.length(&notes);
            tx.splice_text(&notes, len, 0, text).unwrap();
            tx.commit();
        });
    }

    fn notes(&self, doc: DocId) -> String {
        notes(&self.doc(&doc).expect("device has the document"))
    }

    fn sync_clean(&mut self, server: &mut MemServer) -> Result<RunStats, SessionError> {
        self.sync_with(server, Nth::None)
    }

    fn sync_with(&mut self, server: &mut MemServer, fault: Nth) -> Result<RunStats, SessionError> {
        MemDevice::sync(self, server, |n| match fault {
            Nth::DropRequest(k) if k == n => Fault::DropRequest,
            Nth::DropResponse(k) if k == n => Fault::DropResponse,
            _ => Fault::None,
        })
    }
}

fn notes(doc: &Automerge) -> String {
    match doc.get(ROOT, "notes").unwrap() {
        Some((_, id)) => doc.text(&id).unwrap(),
        None => String::new(),
    }
}

fn ids(n: usize) -> Vec<DocId> {
    (0..n).map(|_| DocId::random()).collect()
}

#[test]
fn new_document_with_cyrillic_text_uploads_in_one_round_trip() {
    let mut server = MemServer::default();
    let mut dev = Device::new(1);
    let doc = DocId::random();
    dev.write(doc, "Клиент: ООО «Ромашка» 🌼, контакт — Пётр");
    let stats = dev.sync_clean(&mut server).unwrap();
    assert_eq!(stats.requests, 1);
    assert!(stats.errors.is_empty());
    assert_eq!(
        notes(&server.load(&doc)),
        "Клиент: ООО «Ромашка» 🌼, контакт — Пётр"
    );
    assert!(dev.dirty.is_empty(), "the server acknowledged the document");
    assert_eq!(server.stored_changes(), 1);
}

/// A device's first upload of a document carries it whole (one saved document): the
/// server keeps those bytes as they came, its changes not encoded again; an edit after
/// it travels and is stored as a change.
#[test]
fn a_first_upload_is_stored_as_the_device_saved_it() {
    let mut server = MemServer::default();
    let mut dev = Device::new(1);
    let doc = DocId::random();
    for part in [
        "Клиент: ООО «Ромашка», ",
        "контакт — Пётр, ",
        "линия нужна к марту",
    ] {
        dev.write(doc, part);
    }
    let sent = dev.doc(&doc).expect("typed").save();
    dev.sync_clean(&mut server).unwrap();
    let kept = server.footprint(&doc).expect("stored");
    assert_eq!((kept.changes, kept.loose_changes), (3, 0), "{kept:?}");
    assert_eq!(kept.bytes, sent.len() as u64, "the bytes as sent");
    assert_eq!(server.load(&doc).save(), sent);

    dev.write(doc, " (срочно)");
    let stats = dev.sync_clean(&mut server).unwrap();
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    let kept = server.footprint(&doc).expect("stored");
    assert_eq!((kept.changes, kept.loose_changes), (4, 1), "{kept:?}");
    assert_eq!(
        notes(&server.load(&doc)),
        "Клиент: ООО «Ромашка», контакт — Пётр, линия нужна к марту (срочно)"
    );
    assert_eq!(server.duplicates(), 0);
}

#[test]
fn fresh_device_downloads_every_document_in_the_first_round_trip() {
    let mut server = MemServer::default();
    let mut lead = Device::new(1);
    let docs = ids(40);
    for (i, d) in docs.iter().enumerate() {
        lead.write(*d, &format!("анкета №{i}: качество связи — хорошее"));
    }
    lead.sync_clean(&mut server).unwrap();

    let mut rep = Device::new(2);
    let stats = rep.sync_clean(&mut server).unwrap();
    eprintln!("first contact, 40 docs: {stats:?}");
    assert!(stats.requests <= 2, "{} round trips", stats.requests);
    for (i, d) in docs.iter().enumerate() {
        assert_eq!(
            rep.notes(*d),
            format!("анкета №{i}: качество связи — хорошее")
        );
    }
    // The acknowledgements reached the server: the next reconnect is one small request.
    let again = rep.sync_clean(&mut server).unwrap();
    assert_eq!(again.requests, 1);
    assert!(again.bytes_down < 100, "{} bytes down", again.bytes_down);
}

fn device_with_synced_docs(server: &mut MemServer, n: usize) -> (Device, Vec<DocId>) {
    let mut dev = Device::new(7);
    let docs = ids(n);
    for d in &docs {
        // A history of several edits, as real questionnaires have: with a
        // one-change history any new change is a large share of the document
        // and automerge sends the whole (small) document instead.
        dev.write(*d, "Отзыв клиента:");
        for word in [" всё", " хорошо"] {
            dev.write(*d, word);
        }
    }
    dev.sync_clean(server).unwrap();
    assert!(dev.dirty.is_empty());
    (dev, docs)
}

#[test]
fn reconnect_with_nothing_changed_is_one_small_request() {
    let mut server = MemServer::default();
    let (mut dev, _) = device_with_synced_docs(&mut server, 500);
    let stats = dev.sync_clean(&mut server).unwrap();
    eprintln!("reconnect, 500 docs, 0 changed: {stats:?}");
    assert_eq!(stats.requests, 1);
    assert!(stats.bytes_up < 1024, "{} bytes up", stats.bytes_up);
    assert!(stats.bytes_down < 1024, "{} bytes down", stats.bytes_down);
}

#[test]
fn reconnect_with_three_changed_costs_about_the_changes() {
    let mut server = MemServer::default();
    let (mut dev, docs) = device_with_synced_docs(&mut server, 500);
    for d in &docs[..3] {
        dev.write(*d, " Дополнение: нужен выезд техника.");
    }
    let stats = dev.sync_clean(&mut server).unwrap();
    eprintln!("reconnect, 500 docs, 3 changed: {stats:?}");
    assert!(stats.requests <= 2, "{} round trips", stats.requests);
    // Each small change is ~100-200 B; allow ~300 B per document each way.
    assert!(stats.bytes_up < 3 * 400, "{} bytes up", stats.bytes_up);
    assert!(
        stats.bytes_down < 3 * 300,
        "{} bytes down",
        stats.bytes_down
    );
    assert!(dev.dirty.is_empty());
    assert_eq!(
        notes(&server.load(&docs[0])),
        "Отзыв клиента: всё хорошо Дополнение: нужен выезд техника."
    );
}

/// A visit just started has a history of one or two changes; an edit of it is sent as
/// that edit's change, not as the whole document again (automerge's message v2 would
/// send the whole document once the new changes are over a third of its history).
#[test]
fn an_edit_of_a_short_document_costs_its_change_not_the_document() {
    let mut server = MemServer::default();
    let mut dev = Device::new(8);
    let docs = ids(3);
    for d in &docs {
        dev.write(
            *d,
            &"Визит начат: Иван Иванов, ООО «Ромашка» 🌼. ".repeat(8),
        );
    }
    dev.sync_clean(&mut server).unwrap();
    let mut change_bytes = 0;
    for d in &docs {
        let before = dev.doc(d).unwrap().get_heads();
        dev.write(*d, " Клиент доволен.");
        change_bytes += dev
            .doc(d)
            .unwrap()
            .get_changes(&before)
            .iter()
            .map(|c| c.raw_bytes().len())
            .sum::<usize>();
    }
    let stats = dev.sync_clean(&mut server).unwrap();
    let limit = change_bytes * 3 / 2 + 200 * docs.len();
    eprintln!("3 short documents edited: {change_bytes} change bytes, {stats:?}");
    assert_eq!(stats.requests, 1);
    assert!(
        stats.bytes_up <= limit,
        "{} bytes up, limit {limit}",
        stats.bytes_up
    );
    assert!(stats.bytes_down <= limit, "{} bytes down", stats.bytes_down);
    assert!(notes(&server.load(&docs[0])).ends_with("Клиент доволен."));
}

#[test]
fn others_edits_reach_a_device_within_two_round_trips() {
    let mut server = MemServer::default();
    let (mut a, docs) = device_with_synced_docs(&mut server, 50);
    let mut b = Device::new(8);
    b.sync_clean(&mut server).unwrap();
    for d in &docs[..3] {
        b.write(*d, " (правка Б)");
    }
    b.sync_clean(&mut server).unwrap();
    let stats = a.sync_clean(&mut server).unwrap();
    eprintln!("download of 3 edited docs: {stats:?}");
    assert!(stats.requests <= 2, "{} round trips", stats.requests);
    assert_eq!(a.notes(docs[0]), "Отзыв клиента: всё хорошо (правка Б)");
    assert!(
        stats.bytes_down < 3 * 400 + 200,
        "{} bytes down",
        stats.bytes_down
    );
}

#[rstest]
#[case::request_lost(Nth::DropRequest(1))]
#[case::response_lost(Nth::DropResponse(1))]
fn lost_request_or_response_is_retried_and_stores_nothing_twice(#[case] fault: Nth) {
    let mut server = MemServer::default();
    let (mut dev, docs) = device_with_synced_docs(&mut server, 5);
    let before = server.stored_changes();
    for d in &docs {
        dev.write(*d, " — повтор");
    }
    let stats = dev.sync_with(&mut server, fault).unwrap();
    assert!(stats.errors.is_empty());
    assert_eq!(server.stored_changes(), before + 5);
    assert_eq!(server.duplicates(), 0);
    assert!(dev.dirty.is_empty());
    for d in &docs {
        assert_eq!(dev.notes(*d), notes(&server.load(d)));
    }
}

#[test]
fn a_run_that_dies_midway_is_repaired_by_the_next_run() {
    let mut server = MemServer::default();
    let (mut dev, docs) = device_with_synced_docs(&mut server, 3);
    dev.write(docs[0], " изменено");
    // Response lost and no retry in this run: the app was closed.
    let limits = dev.config.limits;
    let mut set = dev.doc_set();
    let mut session = DeviceSession::new(
        dev.config,
        dev.cursor.clone(),
        [(docs[0], set.states.get(&docs[0]).cloned())],
    );
    let req = session.next_request(&mut set).unwrap().unwrap();
    server
        .handle(dev.id, &req.encode(&limits).unwrap())
        .unwrap();
    drop(session);
    let stats = dev.sync_clean(&mut server).unwrap();
    assert_eq!(stats.requests, 1);
    assert_eq!(server.duplicates(), 0);
    assert!(dev.dirty.is_empty());
}

#[test]
fn refused_document_keeps_its_data_and_the_rest_syncs() {
    let mut server = MemServer::default();
    let mut dev = Device::new(3);
    let (ok, refused) = (DocId::random(), DocId::random());
    dev.write(ok, "разрешено");
    dev.write(refused, "чужой клиент");
    server.forbidden.insert(refused);
    let stats = dev.sync_clean(&mut server).unwrap();
    assert_eq!(stats.errors, vec![(refused, ErrorCode::Forbidden)]);
    assert!(stats.requests <= 2, "no retry loop: {}", stats.requests);
    assert_eq!(dev.notes(refused), "чужой клиент");
    assert!(dev.dirty.contains(&refused) && !dev.dirty.contains(&ok));
    assert_eq!(notes(&server.load(&ok)), "разрешено");
    assert!(server.doc_ids() == vec![ok]);
}

#[test]
fn undecodable_message_is_a_per_document_error_and_nothing_is_stored() {
    let mut server = MemServer::default();
    let (good_dev, good) = {
        let mut d = Device::new(4);
        let id = DocId::random();
        d.write(id, "хорошо");
        (d, id)
    };
    let mut session = DeviceSession::new(good_dev.config, vec![], [(good, None)]);
    let mut store = good_dev.doc_set();
    let mut req = session.next_request(&mut store).unwrap().unwrap();
    let bad = DocId::random();
    req.docs.push(rapport_protocol::DocMessage {
        doc: bad,
        message: vec![0x42, 0xff, 0xff],
    });
    let body = req.encode(&Limits::DEFAULT).unwrap();
    let reply = SyncResponse::decode(&server.handle(4, &body).unwrap(), &Limits::DEFAULT).unwrap();
    assert_eq!(reply.errors.len(), 1);
    assert_eq!(
        (reply.errors[0].doc, reply.errors[0].code),
        (bad, ErrorCode::Invalid)
    );
    assert_eq!(server.doc_ids(), vec![good]);
    assert_eq!(server.stored_changes(), 1);
}

#[test]
fn round_trip_cap_stops_a_run() {
    let mut server = MemServer::default();
    let mut lead = Device::new(1);
    let doc = DocId::random();
    lead.write(doc, "текст");
    lead.sync_clean(&mut server).unwrap();
    let mut rep = Device::new(2);
    rep.config.max_round_trips = 1;
    assert_eq!(
        rep.sync_clean(&mut server).unwrap_err(),
        SessionError::RoundTripLimit(1)
    );
}

#[test]
fn feed_pages_when_the_response_is_full() {
    let limits = Limits {
        max_frame_bytes: 2_000,
        ..Limits::DEFAULT
    };
    let mut server = MemServer::with_limits(limits);
    let mut lead = Device::new(1);
    lead.config.limits = limits;
    let docs = ids(30);
    for d in &docs {
        lead.write(*d, "Рекомендация: ООО «Берёзка», звонить Ивану");
    }
    lead.sync_clean(&mut server).unwrap();
    let mut rep = Device::new(2);
    rep.config.limits = limits;
    let stats = rep.sync_clean(&mut server).unwrap();
    assert!(stats.requests > 2, "paged: {}", stats.requests);
    for d in &docs {
        assert_eq!(rep.notes(*d), "Рекомендация: ООО «Берёзка», звонить Ивану");
    }
}

#[rstest]
#[case::abc([0, 1, 2])]
#[case::cba([2, 1, 0])]
#[case::bac([1, 0, 2])]
fn three_devices_editing_one_document_offline_converge(#[case] order: [usize; 3]) {
    let mut server = MemServer::default();
    let mut devs: Vec<Device> = (1..=3).map(Device::new).collect();
    let doc = DocId::random();
    devs[0].write(doc, "Заметки:");
    devs[0].sync_clean(&mut server).unwrap();
    for d in &mut devs[1..] {
        d.sync_clean(&mut server).unwrap();
    }
    for (i, d) in devs.iter_mut().enumerate() {
        d.write(doc, &format!(" правка {i} ✓;"));
    }
    for &i in &order {
        devs[i].sync_clean(&mut server).unwrap();
    }
    // A second pass delivers what the earlier devices missed.
    for &i in &order {
        devs[i].sync_clean(&mut server).unwrap();
    }
    let server_doc = server.load(&doc);
    let text = notes(&server_doc);
    for (i, d) in devs.iter().enumerate() {
        assert!(text.contains(&format!("правка {i} ✓;")), "{text}");
        assert_eq!(d.doc(&doc).unwrap().get_heads(), server_doc.get_heads());
        assert_eq!(d.notes(doc), text);
        assert!(d.dirty.is_empty());
    }
    assert_eq!(server.duplicates(), 0);
}

#[test]
fn a_request_survives_the_wire_and_back() {
    // The node encodes what the session produced; the server decodes the same frame.
    let mut dev = Device::new(5);
    let doc = DocId::random();
    dev.write(doc, "проверка");
    let mut s = DeviceSession::new(dev.config, vec![], [(doc, None)]);
    let req = s.next_request(&mut dev.doc_set()).unwrap().unwrap();
    let back =
        SyncRequest::decode(&req.encode(&Limits::DEFAULT).unwrap(), &Limits::DEFAULT).unwrap();
    assert_eq!(back, req);
}

#[test]
fn changes_the_server_rejects_are_not_stored_and_the_device_keeps_them() {
    let mut server = MemServer::default();
    server.validate = Some(|doc, _changes| {
        if notes(doc).contains("запрещено") {
            Err(rapport_protocol::Rejection {
                code: ErrorCode::Rejected,
                message: "ответ содержит запрещённое слово".into(),
            })
        } else {
            Ok(())
        }
    });
    let (mut dev, docs) = device_with_synced_docs(&mut server, 2);
    let before = server.stored_changes();
    dev.write(docs[0], " запрещено");
    dev.write(docs[1], " можно");
    let stats = dev.sync_clean(&mut server).unwrap();
    assert_eq!(stats.errors, vec![(docs[0], ErrorCode::Rejected)]);
    assert_eq!(server.stored_changes(), before + 1);
    assert_eq!(notes(&server.load(&docs[0])), "Отзыв клиента: всё хорошо");
    assert_eq!(dev.notes(docs[0]), "Отзыв клиента: всё хорошо запрещено");
    assert!(dev.dirty.contains(&docs[0]) && !dev.dirty.contains(&docs[1]));
}

#[test]
fn full_responses_defer_documents_and_requests_split_by_frame_size() {
    let limits = Limits {
        max_frame_bytes: 3_000,
        ..Limits::DEFAULT
    };
    let mut server = MemServer::with_limits(limits);
    let mut a = Device::new(1);
    let mut b = Device::new(2);
    a.config.limits = limits;
    b.config.limits = limits;
    let docs = ids(10);
    for d in &docs {
        a.write(*d, "Начало.");
    }
    a.sync_clean(&mut server).unwrap();
    b.sync_clean(&mut server).unwrap();
    for d in &docs {
        a.write(*d, &" Длинный отчёт о визите.".repeat(15));
        b.write(*d, " Б.");
    }
    let up = a.sync_clean(&mut server).unwrap();
    assert!(
        up.requests > 1,
        "split into several requests: {}",
        up.requests
    );
    let down = b.sync_clean(&mut server).unwrap();
    assert!(down.errors.is_empty(), "{:?}", down.errors);
    a.sync_clean(&mut server).unwrap();
    for d in &docs {
        assert_eq!(a.notes(*d), b.notes(*d));
        assert!(b.notes(*d).contains("Длинный отчёт") && a.notes(*d).contains(" Б."));
    }
    assert_eq!(server.duplicates(), 0);
}

mod convergence {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Edit {
            device: usize,
            doc: usize,
            text: String,
        },
        Sync {
            device: usize,
            fault: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 0..3usize, "[а-яё ]{1,6}").prop_map(|(device, doc, text)| Op::Edit {
                device,
                doc,
                text
            }),
            (0..3usize, 0..4u8).prop_map(|(device, fault)| Op::Sync { device, fault }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn devices_converge_whatever_the_order_and_losses(ops in proptest::collection::vec(op(), 1..25)) {
            let mut server = MemServer::default();
            let mut devs: Vec<Device> = (1..=3).map(Device::new).collect();
            let docs = ids(3);
            for op in ops {
                match op {
                    Op::Edit { device, doc, text } => devs[device].write(docs[doc], &text),
                    Op::Sync { device, fault } => {
                        let fault = match fault {
                            1 => Nth::DropRequest(1),
                            2 => Nth::DropResponse(1),
                            3 => Nth::DropResponse(2),
                            _ => Nth::None,
                        };
                        devs[device].sync_with(&mut server, fault).unwrap();
                    }
                }
            }
            for _ in 0..2 {
                for d in &mut devs {
                    d.sync_clean(&mut server).unwrap();
                }
            }
            prop_assert_eq!(server.duplicates(), 0);
            for id in server.doc_ids() {
                let heads = server.load(&id).get_heads();
                for d in &devs {
                    prop_assert_eq!(d.doc(&id).map(|x| x.get_heads()), Some(heads.clone()));
                    prop_assert!(d.dirty.is_empty());
                }
            }
        }
    }
}

#[test]
fn hostile_messages_naming_unknown_changes_do_not_crash_the_server() {
    use automerge::ChangeHash;
    use automerge::sync::{ChunkList, Have, Message, MessageVersion};
    let mut server = MemServer::default();
    let (_dev, docs) = device_with_synced_docs(&mut server, 1);
    let unknown = ChangeHash([7; 32]);
    let hostile = [
        Message {
            heads: vec![unknown],
            need: vec![unknown],
            have: vec![
                Have::default(),
                Have {
                    last_sync: vec![unknown],
                    bloom: Default::default(),
                },
            ],
            changes: ChunkList::empty(),
            flags: None,
            version: MessageVersion::V1,
        },
        Message {
            heads: vec![],
            need: vec![],
            have: vec![Have {
                last_sync: vec![unknown],
                bloom: Default::default(),
            }],
            changes: ChunkList::from(vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]),
            flags: None,
            version: MessageVersion::V2,
        },
    ];
    for message in hostile {
        let req = SyncRequest {
            cursor: vec![],
            docs: vec![rapport_protocol::DocMessage {
                doc: docs[0],
                message: message.encode(),
            }],
        };
        let body = req.encode(&Limits::DEFAULT).unwrap();
        let reply = server.handle(9, &body).unwrap();
        SyncResponse::decode(&reply, &Limits::DEFAULT).unwrap();
    }
    assert_eq!(server.duplicates(), 0);
    assert_eq!(notes(&server.load(&docs[0])), "Отзыв клиента: всё хорошо");
}

#[test]
fn unreadable_server_message_fails_only_that_document_on_the_device() {
    let mut dev = Device::new(6);
    let (a, b) = (DocId::random(), DocId::random());
    dev.write(a, "своё");
    let mut set = dev.doc_set();
    let mut session = DeviceSession::new(dev.config, vec![], [(a, None)]);
    let req = session.next_request(&mut set).unwrap().unwrap();
    let mut server = MemServer::default();
    let reply = server
        .handle(dev.id, &req.encode(&Limits::DEFAULT).unwrap())
        .unwrap();
    let mut response = SyncResponse::decode(&reply, &Limits::DEFAULT).unwrap();
    response.docs.push(rapport_protocol::DocMessage {
        doc: b,
        message: vec![0x99],
    });
    let outcome = session.handle_response(&mut set, response);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(
        (outcome.errors[0].doc, outcome.errors[0].code),
        (b, ErrorCode::Invalid)
    );
    assert_eq!(outcome.synced, vec![a]);
    assert_eq!(dev.notes(a), "своё");
    assert!(!outcome.more);
    assert!(outcome.cursor.is_some());
    assert_eq!(session.next_request(&mut set).unwrap(), None);
}

#[test]
fn an_unknown_cursor_asks_to_reconcile_and_applies_nothing() {
    let mut server = MemServer::default();
    let (mut dev, docs) = device_with_synced_docs(&mut server, 2);
    let before = server.stored_changes();
    dev.write(docs[0], " не дошло");
    let start = server.start_cursor();
    // The server's cursor: its epoch, then a feed position (format 1, a transaction id,
    // a sequence number); here one far beyond anything the store handed out.
    let mut beyond = start[..16].to_vec();
    beyond.push(1);
    beyond.extend_from_slice(&0u64.to_be_bytes());
    beyond.extend_from_slice(&1_000i64.to_be_bytes());
    let other_epoch = [[7u8; 16].as_slice(), &start[16..]].concat();
    for cursor in [beyond, other_epoch, b"garbage".to_vec()] {
        let mut set = dev.doc_set();
        let mut session = DeviceSession::new(
            dev.config,
            cursor,
            [(docs[0], set.states.get(&docs[0]).cloned())],
        );
        let req = session.next_request(&mut set).unwrap().unwrap();
        let reply = server
            .handle(dev.id, &req.encode(&Limits::DEFAULT).unwrap())
            .unwrap();
        let response = SyncResponse::decode(&reply, &Limits::DEFAULT).unwrap();
        assert!(response.reconcile);
        assert_eq!(response.cursor, start, "the start of the feed");
        assert!(response.docs.is_empty() && response.errors.is_empty());
        assert_eq!(server.stored_changes(), before, "nothing was applied");
    }
    assert_eq!(server.reconciles_asked(), 3);
}

#[test]
fn a_restored_server_gets_back_from_the_devices_what_it_lost() {
    let mut server = MemServer::default();
    let (mut a, docs) = device_with_synced_docs(&mut server, 3);
    let mut b = Device::new(8);
    b.sync_clean(&mut server).unwrap();
    let backup = server.snapshot();
    a.write(docs[0], " — после копии");
    let new_doc = DocId::random();
    a.write(new_doc, "новая анкета");
    a.sync_clean(&mut server).unwrap();
    b.sync_clean(&mut server).unwrap();
    assert_eq!(b.notes(new_doc), "новая анкета");

    server.restore(backup);
    assert!(server.load(&new_doc).get_heads().is_empty(), "lost");
    // B relays what A wrote: the server asks it to reconcile, and it lacks both.
    let stats = b.sync_clean(&mut server).unwrap();
    assert_eq!(stats.reconciles, 1);
    assert!(stats.errors.is_empty());
    assert_eq!(notes(&server.load(&new_doc)), "новая анкета");
    assert_eq!(notes(&server.load(&docs[0])), a.notes(docs[0]));
    // A reconciles too; nothing is stored twice, and both hold the same.
    let stats = a.sync_clean(&mut server).unwrap();
    assert_eq!(stats.reconciles, 1);
    assert_eq!(server.duplicates(), 0);
    assert!(a.dirty.is_empty() && b.dirty.is_empty());
    for d in docs.iter().chain([&new_doc]) {
        assert_eq!(a.doc(d).unwrap().get_heads(), server.load(d).get_heads());
        assert_eq!(b.doc(d).unwrap().get_heads(), server.load(d).get_heads());
    }
    // Then normal runs: one request each, no reconcile.
    let stats = a.sync_clean(&mut server).unwrap();
    assert_eq!((stats.requests, stats.reconciles), (1, 0));
}

/// A copy of the server's data put back by hand keeps the store's epoch: a device that
/// read the feed past the copy has a cursor beyond it, is asked to reconcile, and puts
/// back what the server lost.
#[test]
fn a_server_put_back_by_hand_gets_back_what_it_lost_from_a_device_ahead_of_it() {
    let mut server = MemServer::default();
    let (mut a, docs) = device_with_synced_docs(&mut server, 2);
    let mut b = Device::new(8);
    b.sync_clean(&mut server).unwrap();
    let copy = server.snapshot();
    let start = server.start_cursor();
    a.write(docs[0], " — после копии");
    a.sync_clean(&mut server).unwrap();
    // B reads the feed past the copy.
    b.sync_clean(&mut server).unwrap();
    assert_eq!(b.notes(docs[0]), a.notes(docs[0]));

    server.restore_keeping_epoch(copy.clone());
    assert_eq!(server.start_cursor(), start, "the same epoch");
    assert_eq!(notes(&server.load(&docs[0])), "Отзыв клиента: всё хорошо");
    let stats = b.sync_clean(&mut server).unwrap();
    assert_eq!(stats.reconciles, 1, "B's cursor is beyond the feed");
    assert_eq!(server.reconciles_asked(), 1);
    assert!(stats.errors.is_empty());
    assert_eq!(notes(&server.load(&docs[0])), a.notes(docs[0]));
    assert_eq!(server.duplicates(), 0);

    // `restore`, by contrast, gives a new epoch: every cursor is unknown.
    server.restore(copy);
    assert_ne!(server.start_cursor()[..16], start[..16], "a new epoch");
}

#[test]
fn a_device_restored_from_an_old_image_gets_back_what_it_sent_and_writes_as_a_new_actor() {
    let mut server = MemServer::default();
    let (mut dev, docs) = device_with_synced_docs(&mut server, 2);
    let image = dev.snapshot();
    let old_actor = dev.actor();
    dev.write(docs[0], " — отправлено");
    dev.sync_clean(&mut server).unwrap();
    dev.write(docs[1], " — не отправлено");
    let sent = dev.notes(docs[0]);

    dev.restore(image);
    assert_ne!(dev.actor(), old_actor, "a fresh actor per opening");
    let stats = dev.sync_clean(&mut server).unwrap();
    assert_eq!(
        stats.reconciles, 1,
        "reconciles at the first run after opening"
    );
    assert_eq!(
        dev.notes(docs[0]),
        sent,
        "what reached the server came back"
    );
    assert_eq!(dev.notes(docs[1]), notes(&server.load(&docs[1])));
    // Writing again reuses no (actor, sequence number): the server takes it.
    dev.write(docs[0], " — снова");
    let stats = dev.sync_clean(&mut server).unwrap();
    assert!(stats.errors.is_empty());
    assert_eq!(stats.reconciles, 0);
    assert_eq!(notes(&server.load(&docs[0])), format!("{sent} — снова"));
    let mut other = Device::new(9);
    other.sync_clean(&mut server).unwrap();
    assert_eq!(other.notes(docs[0]), format!("{sent} — снова"));
    assert_eq!(server.duplicates(), 0);
}

#[test]
fn lost_heads_requests_and_responses_are_sent_again() {
    let mut server = MemServer::default();
    let (mut a, docs) = device_with_synced_docs(&mut server, 2);
    let backup = server.snapshot();
    a.write(docs[1], " — потеряно сервером");
    a.sync_clean(&mut server).unwrap();
    server.restore(backup);
    // 1: the sync request (reconcile), 2 and 3: heads requests lost both ways.
    let stats = MemDevice::sync(&mut a, &mut server, |n| match n {
        2 => Fault::DropRequest,
        3 => Fault::DropResponse,
        _ => Fault::None,
    })
    .unwrap();
    assert_eq!(stats.reconciles, 1);
    assert_eq!(notes(&server.load(&docs[1])), a.notes(docs[1]));
    assert!(a.dirty.is_empty());
}

#[test]
fn a_copy_of_a_device_gets_what_its_twin_synced_past_its_cursor() {
    let mut server = MemServer::default();
    let (mut a, _) = device_with_synced_docs(&mut server, 1);
    // The folder copied to a second machine: the same device to the server.
    let mut b = Device::new(a.id);
    b.restore(a.snapshot());
    b.sync_clean(&mut server).unwrap();
    let mut lead = Device::new(1);
    let x = DocId::random();
    lead.write(x, "новая анкета от руководителя");
    lead.sync_clean(&mut server).unwrap();
    // A gets X; the server now believes "device 7" holds it. B is another opening of
    // the device's folder than the one that reconciled last (A, when it took its turn
    // back): B is asked to reconcile, does not list X, and X goes to the head of the
    // feed, where B finds it in the same run.
    a.sync_clean(&mut server).unwrap();
    let stats = b.sync_clean(&mut server).unwrap();
    assert_eq!(stats.reconciles, 1);
    assert_eq!(b.notes(x), "новая анкета от руководителя");
    // B's app starts again: it reconciles at open, and still holds X.
    b.reopen();
    let stats = b.sync_clean(&mut server).unwrap();
    assert_eq!(stats.reconciles, 1);
    assert_eq!(b.notes(x), "новая анкета от руководителя");
    // Both copies write under their own actors: nothing collides, nothing is lost.
    assert_ne!(a.actor(), b.actor());
    a.reopen();
    assert_ne!(a.actor(), b.actor());
    a.write(x, " — A");
    b.write(x, " — B");
    for d in [&mut a, &mut b] {
        let stats = d.sync_clean(&mut server).unwrap();
        assert!(stats.errors.is_empty());
    }
    // Two inserts at one place: Automerge orders them by actor, and the actors are
    // random per opening, so either order is right; every replica must agree on it.
    let both = notes(&server.load(&x));
    assert!(
        both == "новая анкета от руководителя — A — B"
            || both == "новая анкета от руководителя — B — A",
        "{both}"
    );
    // The twins share one record on the server of what "device 7" holds: B's exchange
    // made it claim B's edit, so A's next runs skip X until A reconciles, at its next
    // opening (a limit of using a copied folder beside its original, not a loss).
    a.reopen();
    for d in [&mut a, &mut b, &mut lead] {
        d.sync_clean(&mut server).unwrap();
        assert_eq!(d.notes(x), both);
    }
    assert_eq!(server.duplicates(), 0);
}

#[test]
fn a_folder_copied_onto_a_second_tablet_gets_what_the_first_acknowledged() {
    // The smallest case the simulation found: both copies sync as the one device the
    // folder names; once the first acknowledged the lead's change, the server's sync
    // state said "the device" had it, and the feed skipped it for the second.
    let mut server = MemServer::default();
    let mut lead = Device::new(9);
    let doc = DocId::random();
    lead.write(doc, "Клиент: ООО «Ромашка».");
    lead.sync_clean(&mut server).unwrap();
    let mut first = Device::new(1);
    first.sync_clean(&mut server).unwrap();
    assert_eq!(first.notes(doc), "Клиент: ООО «Ромашка».");
    let mut second = Device::new(1);
    second.restore(first.snapshot());
    second.sync_clean(&mut server).unwrap();

    lead.write(doc, " Лид: перезвонить в пятницу.");
    lead.sync_clean(&mut server).unwrap();
    let stats = first.sync_clean(&mut server).unwrap();
    assert_eq!(stats.reconciles, 1, "the other copy reconciled last");
    first.sync_clean(&mut server).unwrap();
    let stats = second.sync_clean(&mut server).unwrap();
    assert_eq!(stats.reconciles, 1, "the first copy reconciled since");
    let text = "Клиент: ООО «Ромашка». Лид: перезвонить в пятницу.";
    assert_eq!(first.notes(doc), text);
    assert_eq!(
        second.notes(doc),
        text,
        "the second copy is not left behind"
    );
    // One copy alone pays nothing more: its next runs are one request each.
    let stats = second.sync_clean(&mut server).unwrap();
    assert_eq!((stats.requests, stats.reconciles), (1, 0));
    assert_eq!(server.duplicates(), 0);
}

#[test]
fn a_tablet_back_at_its_first_image_gets_everything_from_a_server_restored_after_it_reconciled() {
    // The simulation's second finding, at its smallest: an empty cursor is a start in
    // any epoch, so it is never asked to reconcile, and a backup's sync states claimed
    // the device held what its first image does not.
    let mut server = MemServer::default();
    let mut lead = Device::new(9);
    let doc = DocId::random();
    lead.write(doc, "Анкета: ООО «Берёзка».");
    lead.sync_clean(&mut server).unwrap();
    let mut tablet = Device::new(1);
    let first_image = tablet.snapshot();
    tablet.sync_clean(&mut server).unwrap();
    assert_eq!(tablet.notes(doc), "Анкета: ООО «Берёзка».");
    let backup = server.snapshot();
    // The tablet goes back to its first image, reconciles (request 1), then loses the
    // network before its sync gets through.
    tablet.restore(first_image);
    let offline = tablet.sync(&mut server, |n| {
        if n == 1 {
            Fault::None
        } else {
            Fault::DropRequest
        }
    });
    assert!(offline.is_err(), "no sync got through");
    assert!(tablet.doc(&doc).is_none());
    // Now the server is restored from the backup, whose states say the tablet has it.
    server.restore(backup);
    tablet.sync_clean(&mut server).unwrap();
    assert_eq!(
        tablet.notes(doc),
        "Анкета: ООО «Берёзка».",
        "the tablet is not left without the document"
    );
    assert!(tablet.dirty.is_empty());
}
