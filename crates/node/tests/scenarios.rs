//! Device scenarios against the real server in this process, each on SQLite and on
//! PostgreSQL (the PostgreSQL case is skipped when `RAPPORT_TEST_DATABASE_URL` is not
//! set): several devices editing one visit offline, days offline with automatic sync,
//! a wrong database key, a revoked device and a reassigned client.
//!
//! Every loop is bounded in count and in time; every text is Russian (and some emoji),
//! because text positions count characters, not bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rapport_api::{
    ContactInput, DocSync, Event, PairRequest, ReferralInput, Request, Response, VisitEdit,
};
use rapport_domain::{AnswerValue, DocId, QuestionKind, ScalarAnswer, Visit};
use rapport_node::Node;
use rapport_testkit::{Backend, TestServer};
use rstest::rstest;

mod common;
use common::*;

/// Upper bound of every wait in these tests.
const WAIT: Duration = Duration::from_secs(30);

/// The data folder's name inside each device's temporary folder (Cyrillic on purpose).
const DATA: &str = "данные устройства";

/// The server on `backend`, or `None` (the case is skipped) for PostgreSQL without a URL.
async fn server(backend: Backend) -> Option<TestServer> {
    let ts = TestServer::start(backend).await;
    if ts.is_none() {
        eprintln!("skipped: no PostgreSQL configured");
    }
    ts
}

fn contact(name: &str, role: &str) -> VisitEdit {
    VisitEdit::Contact {
        id: None,
        contact: ContactInput {
            updates_contact_id: None,
            name: name.to_owned(),
            role: role.to_owned(),
            phone: "+7 900 123-45-67".into(),
            email: "kontakt@example.ru".into(),
        },
    }
}

/// Syncs `d` until it holds `client` (PostgreSQL's feed may hold a fresh document back
/// for a moment while other transactions of the cluster are open).
async fn sync_until_client(d: &Device, client: DocId) {
    wait_for("the client on the device", WAIT, || async {
        d.sync().await;
        let Response::Clients(cards) = d.call(Request::Clients).await else {
            return None;
        };
        (cards.iter().any(|c| c.client_id == client) && has_view(d).await).then_some(())
    })
    .await;
}

/// Whether the programme view (the questionnaire) has arrived.
async fn has_view(d: &Device) -> bool {
    matches!(d.call(Request::Device).await, Response::Device(info) if info.programme_name.is_some())
}

/// Syncs `d` until its copy of `visit` has `text` as the answer to `question_id`.
async fn sync_until_text(d: &Device, visit: DocId, question_id: &str, text: &str) {
    wait_for("the visit on the device", WAIT, || async {
        d.sync().await;
        let v = d
            .node
            .handle(Request::OpenVisit { visit_id: visit })
            .await
            .ok()?;
        let Response::Visit(v) = v else { return None };
        (v.visit.answers.get(question_id) == Some(&AnswerValue::Text(text.into()))).then_some(())
    })
    .await;
}

/// Syncs `devices` in order, `rounds` times; returns how many runs each made.
///
/// On SQLite those rounds must bring every device to the server's copy of `visit`.
/// PostgreSQL's feed holds back rows while any older transaction of the cluster is
/// open (so it never skips one, see the store's `feed`); there, more rounds follow
/// (bounded) until every device reads what the server holds.
async fn converge(
    ts: &TestServer,
    backend: Backend,
    devices: &[&Device],
    rounds: usize,
    visit: DocId,
) -> usize {
    let started = Instant::now();
    // `round` is also the number of runs each device has made so far.
    for round in 0..200 {
        if round >= rounds {
            let on_server = ts.visit_doc(visit).await;
            let mut same = true;
            for d in devices {
                same &= d.open(visit).await.visit == on_server;
            }
            if same {
                return round;
            }
            assert_eq!(
                backend,
                Backend::Postgres,
                "after {rounds} round(s) a device still differs from the server"
            );
            assert!(started.elapsed() < WAIT, "the devices do not converge");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for d in devices {
            d.sync().await;
        }
    }
    panic!("the devices do not converge in 200 rounds");
}

/// Which order the three devices sync in after their offline edits.
#[derive(Clone, Copy, Debug)]
enum Order {
    TabletFirst,
    LeadFirst,
}

// 1. Two devices of one rep and the lead's device edit one visit offline.
#[rstest]
#[case::sqlite_tablet_first(Backend::Sqlite, Order::TabletFirst)]
#[case::sqlite_lead_first(Backend::Sqlite, Order::LeadFirst)]
#[case::postgres_tablet_first(Backend::Postgres, Order::TabletFirst)]
#[case::postgres_lead_first(Backend::Postgres, Order::LeadFirst)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_edit_one_visit_offline_and_converge(
    #[case] backend: Backend,
    #[case] order: Order,
) {
    let Some(ts) = server(backend).await else {
        return;
    };
    let (lead, programme, client) = world(&ts).await;
    let (tablet, _) = Device::paired(
        &ts,
        ts.pairing_code(&lead, programme, Some("ivanov")).await,
        "Планшет",
        false,
    )
    .await;
    let (laptop, _) = Device::paired(
        &ts,
        ts.pairing_code(&lead, programme, Some("ivanov")).await,
        "Ноутбук",
        false,
    )
    .await;
    let (boss, boss_info) = Device::paired(
        &ts,
        ts.pairing_code(&lead, programme, None).await,
        "Руководитель",
        false,
    )
    .await;
    assert_eq!(boss_info.rep_id, None);
    for d in [&laptop, &boss] {
        d.sync().await;
    }
    sync_until_client(&tablet, client).await;

    // The tablet starts the visit with a first sentence and syncs; all three hold it.
    let detail = tablet.start(client).await;
    let visit = detail.visit.id;
    let text_q = question(&detail.template, &QuestionKind::Text);
    let yes_no_q = question(&detail.template, &QuestionKind::YesNo);
    tablet.text(visit, &text_q, "Клиент доволен связью").await;
    tablet.sync().await;
    for d in [&laptop, &boss] {
        sync_until_text(d, visit, &text_q, "Клиент доволен связью").await;
    }

    // Offline: each types into the same sentence at a different place, the two rep
    // devices answer the yes/no question differently, each adds a contact.
    tablet
        .text(visit, &text_q, "Клиент доволен связью и просит скидку 🚀")
        .await;
    laptop
        .text(visit, &text_q, "Важно: Клиент доволен связью")
        .await;
    boss.text(visit, &text_q, "Клиент очень доволен связью")
        .await;
    for (d, yes) in [(&tablet, true), (&laptop, false)] {
        d.edit(
            visit,
            VisitEdit::Scalar {
                question_id: yes_no_q.clone(),
                value: ScalarAnswer::YesNo(yes),
            },
        )
        .await;
    }
    tablet.edit(visit, contact("Пётр Петров", "Директор")).await;
    laptop
        .edit(visit, contact("Анна Сидорова", "Главный бухгалтер"))
        .await;
    boss.edit(visit, contact("Сергей Кузнецов", "ИТ-директор 🖥"))
        .await;

    // The laptop watches what the syncs bring.
    let mut events = laptop.node.subscribe();
    let devices: [&Device; 3] = match order {
        Order::TabletFirst => [&tablet, &laptop, &boss],
        Order::LeadFirst => [&boss, &laptop, &tablet],
    };
    let laptop_runs = converge(&ts, backend, &devices, 2, visit).await;

    // Events: each run starts, progresses, finishes; others' edits show as DocsChanged.
    let mut seen = Vec::new();
    for _ in 0..1000 {
        match events.try_recv() {
            Ok(e) => seen.push(e),
            Err(_) => break,
        }
    }
    assert!(
        matches!(seen.first(), Some(Event::SyncStarted)),
        "a run starts with SyncStarted: {seen:?}"
    );
    assert!(
        matches!(seen.last(), Some(Event::SyncFinished(s)) if s.last_error.is_none() && s.pending_docs == 0),
        "a run ends with SyncFinished: {seen:?}"
    );
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, Event::SyncStarted))
            .count(),
        laptop_runs,
        "one SyncStarted per run of the laptop: {seen:?}"
    );
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, Event::SyncFinished(_)))
            .count(),
        laptop_runs,
        "one SyncFinished per run of the laptop: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::DocsChanged { doc_ids } if doc_ids.contains(&visit))),
        "the others' edits arrive as DocsChanged for the visit: {seen:?}"
    );

    // All three read the same visit, and so does the server.
    let views = [
        tablet.open(visit).await,
        laptop.open(visit).await,
        boss.open(visit).await,
    ];
    let on_server = ts.visit_doc(visit).await;
    for v in &views {
        assert_eq!(v.visit, views[0].visit, "the devices read different visits");
        assert_eq!(v.conflicts, views[0].conflicts);
        assert_eq!(v.visit, on_server, "a device differs from the server");
    }
    // Merged by character: every word of each, once, each where it was typed.
    let merged = "Важно: Клиент очень доволен связью и просит скидку 🚀";
    assert_eq!(
        on_server.answers.get(&text_q),
        Some(&AnswerValue::Text(merged.into()))
    );
    let Some(AnswerValue::Text(text)) = on_server.answers.get(&text_q) else {
        panic!("the text answer is text")
    };
    for word in [
        "Важно:",
        "Клиент",
        "очень",
        "доволен",
        "связью",
        "и",
        "просит",
        "скидку",
        "🚀",
    ] {
        assert_eq!(
            text.split_whitespace().filter(|w| *w == word).count(),
            1,
            "{word:?} once in {text:?}"
        );
    }
    let mut names: Vec<&str> = on_server
        .contact_updates
        .values()
        .map(|c| c.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Анна Сидорова", "Пётр Петров", "Сергей Кузнецов"]);

    // The yes/no answer keeps both values, each with its author.
    for v in &views {
        assert_eq!(
            v.conflicts,
            vec![yes_no_q.clone()],
            "the conflict is listed"
        );
    }
    let mut both = boss.conflicts(visit, &yes_no_q).await;
    both.sort_by(|a, b| a.author.cmp(&b.author));
    let pairs: Vec<(AnswerValue, &str)> = both
        .iter()
        .map(|c| (c.value.clone(), c.author.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            (AnswerValue::Bool(false), "Иван Иванов (Ноутбук)"),
            (AnswerValue::Bool(true), "Иван Иванов (Планшет)"),
        ],
        "{both:?}"
    );
    assert_ne!(both[0].actor, both[1].actor);
    let on_tablet = tablet.conflicts(visit, &yes_no_q).await;
    assert_eq!(on_tablet.len(), 2, "{on_tablet:?}");
    for c in &on_tablet {
        let label = if c.value == AnswerValue::Bool(true) {
            "Планшет"
        } else {
            "Ноутбук"
        };
        assert!(
            c.author.contains("Иван Иванов") && c.author.contains(label),
            "the tablet names {label} by the rep's name: {on_tablet:?}"
        );
    }

    // The history of the text names every author with what each typed (each entry is
    // the answer right after that change, on its own branch).
    let history = boss.history(visit, &text_q).await;
    for (who, typed) in [
        ("Иван Иванов (Планшет)", "Клиент доволен связью"),
        (
            "Иван Иванов (Планшет)",
            "Клиент доволен связью и просит скидку 🚀",
        ),
        ("Иван Иванов (Ноутбук)", "Важно: Клиент доволен связью"),
        (
            "lead (Руководитель, this device)",
            "Клиент очень доволен связью",
        ),
    ] {
        assert!(
            history.iter().any(|h| h.author == who && h.value == typed),
            "{who} typed {typed:?}: {history:?}"
        );
    }

    // The laptop chooses "no"; after everyone syncs, no conflict anywhere.
    laptop
        .edit(
            visit,
            VisitEdit::Resolve {
                question_id: yes_no_q.clone(),
                chosen: AnswerValue::Bool(false),
            },
        )
        .await;
    converge(&ts, backend, &[&laptop, &tablet, &boss], 1, visit).await;
    for d in [&tablet, &laptop, &boss] {
        let v = d.open(visit).await;
        assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
        assert_eq!(
            v.visit.answers.get(&yes_no_q),
            Some(&AnswerValue::Bool(false))
        );
        assert!(d.conflicts(visit, &yes_no_q).await.len() <= 1);
    }
    assert_eq!(
        ts.visit_doc(visit).await.answers.get(&yes_no_q),
        Some(&AnswerValue::Bool(false))
    );
    for d in [&tablet, &laptop, &boss] {
        d.node.shutdown().await;
    }
}

// 2. Days offline: 500 edits with the server down, then it comes back by itself.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_offline_then_everything_arrives_without_a_touch(#[case] backend: Backend) {
    let Some(mut ts) = server(backend).await else {
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let mut clients = Vec::new();
    for i in 0..30 {
        clients.push(
            ts.add_client(&lead, programme, &format!("ООО «Клиент №{i}»"), "ivanov")
                .await,
        );
    }
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (tablet, _) = Device::paired(&ts, code, "Планшет", true).await;
    // The first sync runs by itself after pairing.
    wait_for("the first automatic sync", WAIT, || async {
        let Response::Clients(cards) = tablet.call(Request::Clients).await else {
            return None;
        };
        let status = tablet.status().await;
        (cards.len() == 30 && status.last_success_ms.is_some()).then_some(())
    })
    .await;

    ts.stop().await;
    let mut visits = Vec::new();
    for client in &clients {
        visits.push(tablet.start(*client).await.visit.id);
    }
    let template = tablet.open(visits[0]).await.template;
    let text_q = question(&template, &QuestionKind::Text);
    let yes_no_q = question(&template, &QuestionKind::YesNo);
    let mut texts: BTreeMap<DocId, String> = BTreeMap::new();
    for e in 0..500usize {
        let visit = visits[e % visits.len()];
        let saved = match (e / visits.len()) % 3 {
            0 => {
                let text = texts.entry(visit).or_default();
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&format!("слово{e}"));
                let value = text.clone();
                tablet.text(visit, &text_q, &value).await
            }
            1 => {
                tablet
                    .edit(
                        visit,
                        VisitEdit::Scalar {
                            question_id: yes_no_q.clone(),
                            value: ScalarAnswer::YesNo(e % 2 == 0),
                        },
                    )
                    .await
            }
            _ => {
                tablet
                    .edit(
                        visit,
                        VisitEdit::Referral {
                            id: None,
                            referral: ReferralInput {
                                name: format!("Рекомендация №{e}"),
                                company: "АО «Василёк» 🌼".into(),
                                contact: "+7 495 000-00-00".into(),
                                note: "знакомый директора".into(),
                            },
                        },
                    )
                    .await
            }
        };
        assert_eq!(saved.visit_id, visit);
    }
    let status = wait_for("the failed attempt recorded", WAIT, || async {
        let s = tablet.status().await;
        s.last_error
            .as_ref()
            .is_some_and(|e| e.code == "offline")
            .then_some(s)
    })
    .await;
    assert_eq!(status.pending_docs, 30, "{status:?}");
    assert!(status.pending_bytes > 0, "{status:?}");

    let mut on_device: BTreeMap<DocId, Visit> = BTreeMap::new();
    for visit in &visits {
        let v = tablet.open(*visit).await.visit;
        assert_eq!(
            v.answers.get(&text_q),
            Some(&AnswerValue::Text(texts[visit].clone())),
            "every word typed offline is on the device"
        );
        on_device.insert(*visit, v);
    }

    // The server comes back; nobody touches the device.
    ts.restart_on_same_port().await;
    wait_for(
        "the lead sees all 30 visits as on the device",
        WAIT,
        || async {
            for (id, visit) in &on_device {
                let doc = ts.load_doc(*id).await?;
                let on_server = rapport_domain::visit::read_visit(&doc).ok()?;
                if on_server != *visit {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    let status = wait_for("the device to see it is synced", WAIT, || async {
        let s = tablet.status().await;
        (s.pending_docs == 0 && !s.running).then_some(s)
    })
    .await;
    assert!(status.last_error.is_none(), "{status:?}");
    assert!(status.stopped.is_empty(), "{status:?}");
    tablet.node.shutdown().await;
}

/// Every file under `dir` but the key, with its bytes.
fn files_but_key(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    for _ in 0..1000 {
        let Some(next) = todo.pop() else {
            return out;
        };
        for entry in std::fs::read_dir(&next).expect("read the data folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.file_name() != Some(std::ffi::OsStr::new(rapport_node::keys::KEY_FILE)) {
                out.insert(path.clone(), std::fs::read(&path).expect("read a file"));
            }
        }
    }
    panic!("too many folders under {}", dir.display());
}

// 3. A wrong or missing key changes nothing; the right key opens everything again.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_key_changes_nothing(#[case] backend: Backend) {
    let Some(ts) = server(backend).await else {
        return;
    };
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (tablet, _) = Device::paired(&ts, code, "Планшет", false).await;
    sync_until_client(&tablet, client).await;
    let detail = tablet.start(client).await;
    let visit = detail.visit.id;
    let text_q = question(&detail.template, &QuestionKind::Text);
    let typed = "Клиент хочет расширить канал до 1 Гбит/с 🚀";
    tablet.text(visit, &text_q, typed).await;
    let Device { node, dir } = tablet;
    node.shutdown().await;
    drop(node);
    let data = dir.path().join(DATA);
    let key_path = data.join(rapport_node::keys::KEY_FILE);
    let right_key = std::fs::read(&key_path).expect("the key file");
    let before = files_but_key(&data);
    assert!(!before.is_empty());

    let other_key = "5a".repeat(32);
    assert_ne!(right_key, other_key.as_bytes());
    std::fs::write(&key_path, &other_key).expect("write another key");
    let err = match Node::open(options(&data, false)).await {
        Ok(_) => panic!("the node opened with the wrong key"),
        Err(e) => e,
    };
    assert_eq!(err.code(), "store_wrong_key", "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(
        files_but_key(&data),
        before,
        "a wrong key changed the files"
    );

    std::fs::remove_file(&key_path).expect("delete the key");
    let err = match Node::open(options(&data, false)).await {
        Ok(_) => panic!("the node opened without its key"),
        Err(e) => e,
    };
    assert_eq!(err.code(), "key_missing", "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert!(
        !key_path.exists(),
        "a new key was made for an existing database"
    );
    assert_eq!(
        files_but_key(&data),
        before,
        "a missing key changed the files"
    );

    std::fs::write(&key_path, &right_key).expect("restore the key");
    let node = Node::open(options(&data, false))
        .await
        .expect("the right key opens the node");
    let tablet = Device { node, dir };
    let v = tablet.open(visit).await;
    assert_eq!(
        v.visit.answers.get(&text_q),
        Some(&AnswerValue::Text(typed.into()))
    );
    assert_eq!(v.sync, DocSync::Pending);
    tablet.sync().await;
    assert_eq!(
        ts.visit_doc(visit).await.answers.get(&text_q),
        Some(&AnswerValue::Text(typed.into()))
    );
    tablet.node.shutdown().await;
}

// 4. The lead revokes a device: it stops syncing and keeps everything.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_keeps_its_data_and_stops_syncing(#[case] backend: Backend) {
    let Some(ts) = server(backend).await else {
        return;
    };
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (tablet, info) = Device::paired(&ts, code, "Планшет", false).await;
    sync_until_client(&tablet, client).await;
    let detail = tablet.start(client).await;
    let visit = detail.visit.id;
    let text_q = question(&detail.template, &QuestionKind::Text);
    tablet.text(visit, &text_q, "Первая запись").await;
    tablet.sync().await;
    tablet
        .text(visit, &text_q, "Первая запись, вторая — без сети")
        .await;
    tablet
        .edit(visit, contact("Ольга Орлова", "Финансовый директор"))
        .await;

    ts.revoke_device(&lead, programme, &info.device_id).await;
    let status = tablet.sync_any().await;
    let error = status.last_error.clone().expect("the run fails");
    assert_eq!(error.code, "device_revoked", "{status:?}");
    assert!(error.message.contains("kept"), "{error:?}");
    assert_eq!(status.pending_docs, 1, "{status:?}");

    let v = tablet.open(visit).await;
    assert_eq!(
        v.visit.answers.get(&text_q),
        Some(&AnswerValue::Text(
            "Первая запись, вторая — без сети".into()
        ))
    );
    assert!(
        v.visit
            .contact_updates
            .values()
            .any(|c| c.name == "Ольга Орлова"),
        "{:?}",
        v.visit.contact_updates
    );
    tablet
        .text(
            visit,
            &text_q,
            "Первая запись, вторая — без сети, третья 📝",
        )
        .await;
    assert_eq!(
        tablet.open(visit).await.visit.answers.get(&text_q),
        Some(&AnswerValue::Text(
            "Первая запись, вторая — без сети, третья 📝".into()
        ))
    );
    // Still revoked: no new run summary (nothing was sent), the same error.
    let again = tablet.sync_any().await;
    assert_eq!(
        again.last_error.as_ref().map(|e| e.code.as_str()),
        Some("device_revoked")
    );
    assert_eq!(again.last_run, status.last_run);
    assert_eq!(
        ts.visit_doc(visit).await.answers.get(&text_q),
        Some(&AnswerValue::Text("Первая запись".into())),
        "the server took nothing from the revoked device"
    );

    // With automatic sync on, the revoked device tries once at start and then leaves
    // the server alone (no retry every period).
    let Device { node, dir } = tablet;
    node.shutdown().await;
    drop(node);
    let node = Node::open(options(&dir.path().join(DATA), true))
        .await
        .expect("the revoked device opens");
    let tablet = Device { node, dir };
    let first = wait_for("the attempt at start", WAIT, || async {
        let s = tablet.status().await;
        s.last_attempt_ms
            .filter(|t| Some(*t) != again.last_attempt_ms)
            .map(|_| s)
    })
    .await;
    assert_eq!(
        first.last_error.as_ref().map(|e| e.code.as_str()),
        Some("device_revoked")
    );
    // Two and a half sync periods (1 s each).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = tablet.status().await;
    assert_eq!(
        later.last_attempt_ms, first.last_attempt_ms,
        "the revoked device kept trying: {later:?}"
    );
    assert_eq!(later.next_attempt_ms, None, "{later:?}");
    assert_eq!(later.pending_docs, 1, "{later:?}");

    // The tablet is found: the lead gives the rep a new code, the tablet comes back as
    // the same device under its own actor, and what was typed after the revocation
    // reaches the server by itself (automatic sync is on).
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let back = match tablet
        .call(Request::Pair(PairRequest {
            server_url: ts.url().to_owned(),
            code,
            label: "Планшет (нашёлся)".into(),
        }))
        .await
    {
        Response::Device(d) => d,
        other => panic!("pairing answered {other:?}"),
    };
    assert_eq!(back.device_id, info.device_id, "the same device comes back");
    assert_eq!(back.actor, info.actor, "under its own actor");
    let on_server = wait_for("the offline edits on the server", WAIT, || async {
        ts.load_doc(visit).await?;
        let visit = ts.visit_doc(visit).await;
        (visit.answers.get(&text_q)
            == Some(&AnswerValue::Text(
                "Первая запись, вторая — без сети, третья 📝".into(),
            )))
        .then_some(visit)
    })
    .await;
    assert!(
        on_server
            .contact_updates
            .values()
            .any(|c| c.name == "Ольга Орлова"),
        "{:?}",
        on_server.contact_updates
    );
    let done = wait_for("nothing pending", WAIT, || async {
        let s = tablet.status().await;
        (s.pending_docs == 0 && s.last_error.is_none()).then_some(s)
    })
    .await;
    assert!(done.stopped.is_empty(), "{done:?}");
    tablet.node.shutdown().await;
}

// 5. The lead reassigns the client: the visit stops syncing from the old rep's
// device, keeps his edits there, and reaches the new rep.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassigned_clients_visit_stops_and_reaches_the_new_rep(#[case] backend: Backend) {
    let Some(ts) = server(backend).await else {
        return;
    };
    let (lead, programme, client) = world(&ts).await;
    ts.add_rep(&lead, programme, "petrov", "Пётр Петров").await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (tablet, _) = Device::paired(&ts, code, "Планшет Иванова", false).await;
    sync_until_client(&tablet, client).await;
    let detail = tablet.start(client).await;
    let visit = detail.visit.id;
    let text_q = question(&detail.template, &QuestionKind::Text);
    let first = "Первая правка";
    let second = "Первая правка. Вторая правка ✅";
    let third = "Первая правка. Вторая правка ✅ Третья — офлайн";
    tablet.text(visit, &text_q, first).await;
    tablet.sync().await;
    tablet.text(visit, &text_q, second).await;
    tablet.sync().await;
    assert_eq!(
        ts.visit_doc(visit).await.answers.get(&text_q),
        Some(&AnswerValue::Text(second.into()))
    );
    tablet.text(visit, &text_q, third).await;

    ts.reassign(&lead, programme, client, "petrov").await;
    let status = tablet.sync_any().await;
    let stopped = status
        .stopped
        .iter()
        .find(|s| s.doc_id == visit)
        .unwrap_or_else(|| panic!("the visit is listed as stopped: {status:?}"));
    assert_eq!(stopped.kind, "visit");
    assert_eq!(stopped.code, "forbidden");
    assert!(stopped.message.contains("kept"), "{stopped:?}");
    assert_eq!(
        status.pending_docs, 0,
        "a stopped visit is not pending: {status:?}"
    );

    let v = tablet.open(visit).await;
    match &v.sync {
        DocSync::Stopped { code, message } => {
            assert_eq!(code, "forbidden");
            assert!(message.contains("kept"), "{message}");
        }
        other => panic!("the visit should be stopped, is {other:?}"),
    }
    assert_eq!(
        v.visit.answers.get(&text_q),
        Some(&AnswerValue::Text(third.into()))
    );
    assert_eq!(
        ts.visit_doc(visit).await.answers.get(&text_q),
        Some(&AnswerValue::Text(second.into())),
        "the server keeps what was synced before, nothing after"
    );
    let again = tablet.sync_any().await;
    assert_eq!(
        again.last_run.as_ref().map(|r| r.docs_sent),
        Some(0),
        "a stopped visit is not sent again: {again:?}"
    );
    assert!(again.stopped.iter().any(|s| s.doc_id == visit));

    // The new rep's device receives the client and the visit.
    let code = ts.pairing_code(&lead, programme, Some("petrov")).await;
    let (petrov, _) = Device::paired(&ts, code, "Планшет Петрова", false).await;
    let received = wait_for("the new rep receives the visit", WAIT, || async {
        petrov.sync().await;
        let Response::Clients(cards) = petrov.call(Request::Clients).await else {
            return None;
        };
        let card = cards.into_iter().find(|c| c.client_id == client)?;
        (card.visit.as_ref().map(|v| v.visit_id) == Some(visit) && has_view(&petrov).await)
            .then_some(card)
    })
    .await;
    assert_eq!(received.company, "ООО «Ромашка»");
    assert_eq!(
        petrov.open(visit).await.visit.answers.get(&text_q),
        Some(&AnswerValue::Text(second.into()))
    );

    // Given back to ivanov: the server sends the visit again, the tablet takes it out
    // of its stopped documents, and the edit it kept reaches the server.
    ts.reassign(&lead, programme, client, "ivanov").await;
    wait_for("the visit is given back to the tablet", WAIT, || async {
        let status = tablet.sync_any().await;
        let stored = ts.visit_doc(visit).await.answers.get(&text_q).cloned();
        (status.stopped.is_empty() && stored == Some(AnswerValue::Text(third.into()))).then_some(())
    })
    .await;
    tablet.node.shutdown().await;
    petrov.node.shutdown().await;
}
