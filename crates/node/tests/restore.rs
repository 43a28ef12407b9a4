//! Storage goes back in time, and nothing typed is lost: the server restored from a
//! backup taken while devices uploaded; a device's folder restored from an older copy;
//! a folder copied to a second machine and both used. Real nodes against the real
//! server in-process, on SQLite and on PostgreSQL (skipped without
//! RAPPORT_TEST_DATABASE_URL).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use automerge::{ChangeHash, ReadDoc};
use rapport_api::{ReferralInput, Request, Response, SyncStatus, VisitEdit};
use rapport_domain::AnswerValue;
use rapport_domain::DocId;
use rapport_node::{KeyStorage, Node, read_device_docs};
use rapport_testkit::{Backend, TestServer, eventually};
use reqwest::Method;
use rstest::rstest;
use serde_json::Value;

mod common;
use common::*;

/// The text answers typed in these tests.
const PLANS: &str = "carnegie.plans";

/// Every document a device holds, with all its change hashes.
async fn held(dir: &Path) -> BTreeMap<DocId, Vec<ChangeHash>> {
    read_device_docs(dir, KeyStorage::File, None)
        .await
        .expect("the device's database reads")
        .into_iter()
        .map(|(id, doc)| (id, doc.get_changes(&[]).iter().map(|c| c.hash()).collect()))
        .collect()
}

/// A device's data folder's parent (the folder `DATA` is in).
struct Holder(std::path::PathBuf);

impl From<&Device> for Holder {
    fn from(d: &Device) -> Self {
        Holder(d.dir.path().to_path_buf())
    }
}

/// The server holds every change of every document any of `devices` holds.
async fn assert_server_holds_all(ts: &TestServer, devices: &[&Holder]) {
    for device in devices {
        for (id, hashes) in held(&device.0.join(DATA)).await {
            let Some(doc) = ts.load_doc(id).await else {
                panic!("the server lacks document {id}");
            };
            let missing = hashes
                .iter()
                .filter(|h| doc.get_change_by_hash(h).is_none())
                .count();
            assert_eq!(missing, 0, "the server lacks {missing} changes of {id}");
        }
    }
}

/// The device shows no stopped document and no error.
fn assert_nothing_stopped(status: &SyncStatus, who: &str) {
    assert!(
        status.stopped.is_empty(),
        "{who}: stopped {:?}",
        status.stopped
    );
    assert!(status.last_error.is_none(), "{who}: {status:?}");
}

fn referral(name: &str) -> VisitEdit {
    VisitEdit::Referral {
        id: None,
        referral: ReferralInput {
            name: name.into(),
            company: "АО «Берёзка»".into(),
            contact: "+7 900 000-00-00".into(),
            note: "рекомендация".into(),
        },
    }
}

async fn lead_get(ts: &TestServer, token: &str, path: &str) -> Value {
    let (status, body) = ts.call(Method::GET, path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn lead_text(ts: &TestServer, token: &str, path: &str) -> String {
    let response = ts
        .http
        .get(format!("{}{path}", ts.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("export");
    assert!(response.status().is_success(), "{path}");
    response.text().await.expect("export body")
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_restored_from_a_backup_gets_back_everything_devices_hold(
    #[case] backend: Backend,
) {
    let Some(mut ts) = TestServer::start(backend).await else {
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_rep(&lead, programme, "petrov", "Пётр Петров").await;
    let ivanov_client = ts
        .add_client(&lead, programme, "ООО «Ромашка»", "ivanov")
        .await;
    let petrov_client = ts
        .add_client(&lead, programme, "АО «Василёк»", "petrov")
        .await;
    let code = |rep: &'static str| {
        let ts = &ts;
        let lead = &lead;
        async move { ts.pairing_code(lead, programme, Some(rep)).await }
    };
    let (tablet, _) = Device::paired(&ts, code("ivanov").await, "Планшет Иванова", false).await;
    let (laptop, _) = Device::paired(&ts, code("ivanov").await, "Ноутбук Иванова", false).await;
    let (petrov, _) = Device::paired(&ts, code("petrov").await, "Планшет Петрова", false).await;

    // Before the backup: a visit each, synced everywhere.
    let visit = tablet.start(ivanov_client).await.visit.id;
    tablet.text(visit, PLANS, "Планы: открыть склад").await;
    let petrov_visit = petrov.start(petrov_client).await.visit.id;
    petrov.text(petrov_visit, PLANS, "Планы Петрова").await;
    for d in [&tablet, &petrov, &laptop, &tablet] {
        d.sync().await;
    }

    // The backup, taken while the three devices upload.
    let backup_file = ts.dir.path().join("резервная копия.bak");
    let uploads = async {
        for i in 0..5 {
            tablet
                .text(visit, PLANS, &format!("Планы: открыть склад, шаг {i}"))
                .await;
            petrov
                .text(petrov_visit, PLANS, &format!("Планы Петрова, шаг {i}"))
                .await;
            laptop.edit(visit, referral(&format!("Ранний {i}"))).await;
            for d in [&tablet, &petrov, &laptop] {
                d.sync_any().await;
            }
        }
    };
    let (_, report) = tokio::join!(uploads, async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        rapport_server::backup::backup(&ts.config, &backup_file)
            .await
            .expect("backup while serving")
    });
    assert!(report.bytes > 0);

    // After the backup: a new visit, a referral typed on the laptop, a text answer.
    let late_visit = tablet.start(ivanov_client).await.visit.id;
    tablet
        .text(late_visit, PLANS, "Вторая встреча: после копии")
        .await;
    laptop.sync().await;
    laptop.edit(visit, referral("Сергей Поздний")).await;
    petrov
        .text(petrov_visit, PLANS, "Петров: после копии")
        .await;
    for d in [&tablet, &laptop, &petrov, &tablet, &laptop] {
        d.sync().await;
    }

    // The server goes back to the backup.
    ts.stop().await;
    rapport_server::backup::restore(&ts.config, &backup_file, true)
        .await
        .expect("restore");
    ts.restart_on_same_port().await;

    // The devices' next syncs put back what the server lost, relaying each other's work.
    for d in [&tablet, &laptop, &petrov, &tablet, &laptop, &petrov] {
        assert_nothing_stopped(&d.sync().await, "after the restore");
    }
    let holders: Vec<Holder> = [&tablet, &laptop, &petrov].map(Holder::from).into();
    assert_server_holds_all(&ts, &holders.iter().collect::<Vec<_>>()).await;

    // What the lead sees: status, referrals, exports.
    // The projections follow the feed, which PostgreSQL may hold back for a moment
    // while another test's transaction is open: wait (bounded) until they show it all.
    let status_path = format!("/api/v1/programmes/{programme}/status");
    let referrals_path = format!("/api/v1/programmes/{programme}/referrals");
    let export_path = format!("/api/v1/programmes/{programme}/exports/visits.csv");
    eventually(
        "the lead's status, referrals and export show every change",
        || async {
            ts.state().projector.catch_up().await.ok()?;
            let status = lead_get(&ts, &lead.token, &status_path).await;
            let visits = status["visits"]["draft"].as_u64().unwrap_or_default()
                + status["visits"]["completed"].as_u64().unwrap_or_default();
            // 5 referrals before the backup, 1 after.
            if visits != 3 || status["referrals"] != 6 {
                return None;
            }
            let referrals = lead_get(&ts, &lead.token, &referrals_path).await;
            let late = referrals
                .as_array()
                .expect("a list")
                .iter()
                .any(|r| r["name"] == "Сергей Поздний");
            let export = lead_text(&ts, &lead.token, &export_path).await;
            let texts = ["Вторая встреча: после копии", "Петров: после копии"]
                .iter()
                .all(|t| export.contains(t));
            (late && texts).then_some(())
        },
    )
    .await;

    // The tablet goes on typing into the visit the laptop also wrote: nothing stops.
    tablet
        .text(visit, PLANS, "Планы: открыть склад и офис")
        .await;
    assert_nothing_stopped(&tablet.sync().await, "the tablet");
    let doc = ts.visit_doc(visit).await;
    assert_eq!(
        doc.answers.get(PLANS),
        Some(&AnswerValue::Text("Планы: открыть склад и офис".into()))
    );
    for d in [&tablet, &laptop, &petrov] {
        d.node.shutdown().await;
    }
}

/// Copies a device's data folder (the node must be shut down).
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("target folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a file");
    }
}

async fn reopen(dir: &Path) -> Node {
    Node::open(options(&dir.join(DATA), false))
        .await
        .expect("the node opens its folder")
}

async fn call(node: &Node, request: Request) -> Response {
    node.handle(request).await.expect("node call")
}

async fn sync(node: &Node) -> SyncStatus {
    match call(node, Request::SyncNow).await {
        Response::Sync(s) => s,
        other => panic!("{other:?}"),
    }
}

async fn text(node: &Node, visit_id: DocId, value: &str) {
    call(
        node,
        Request::EditVisit {
            visit_id,
            edit: VisitEdit::Text {
                question_id: PLANS.into(),
                value: value.into(),
            },
        },
    )
    .await;
}

fn plans_of(node_doc: &automerge::Automerge) -> String {
    match rapport_domain::visit::read_visit(node_doc)
        .expect("a visit")
        .answers
        .get(PLANS)
    {
        Some(AnswerValue::Text(t)) => t.clone(),
        other => panic!("not a text answer: {other:?}"),
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_folder_restored_from_an_older_copy_loses_nothing_and_stops_nothing(
    #[case] backend: Backend,
) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (tablet, _) = Device::paired(&ts, code, "Планшет Иванова", false).await;
    let edited = tablet.start(client).await.visit.id;
    let untouched = tablet.start(client).await.visit.id;
    text(&tablet.node, edited, "до копии").await;
    text(&tablet.node, untouched, "до копии").await;
    tablet.sync().await;
    let folder = tablet.dir.path().to_path_buf();
    tablet.node.shutdown().await;

    // The image the tablet will be restored from.
    let image = tempfile::tempdir().expect("image");
    copy_folder(&folder.join(DATA), &image.path().join(DATA));

    // Work after the image, synced.
    let node = reopen(&folder).await;
    text(&node, edited, "после копии, отправлено").await;
    text(&node, untouched, "после копии, отправлено").await;
    assert_nothing_stopped(&sync(&node).await, "before the restore");
    node.shutdown().await;

    // The tablet is restored from the image, and the rep types on.
    std::fs::remove_dir_all(folder.join(DATA)).expect("wipe");
    copy_folder(&image.path().join(DATA), &folder.join(DATA));
    let node = reopen(&folder).await;
    text(&node, edited, "после восстановления").await;
    for _ in 0..2 {
        assert_nothing_stopped(&sync(&node).await, "after the restore");
    }
    // The edit typed after the restore arrived. It was typed over the restored (older)
    // text while the server had a newer one: the two merge by character, as any two
    // concurrent edits do, and the device ends with the server's merged text.
    let on_server = ts.load_doc(edited).await.expect("on the server");
    let merged = plans_of(&on_server);
    assert!(merged.contains("восстановления"), "{merged}");
    assert_server_holds_all(&ts, &[&Holder(folder.clone())]).await;
    // The document not edited since the restore came back to the device whole.
    let docs = read_device_docs(&folder.join(DATA), KeyStorage::File, None)
        .await
        .expect("device docs");
    assert_eq!(plans_of(&docs[&edited]), merged);
    assert_eq!(plans_of(&docs[&untouched]), "после копии, отправлено");
    assert_eq!(
        docs[&untouched].get_heads(),
        ts.load_doc(untouched).await.expect("doc").get_heads()
    );
    node.shutdown().await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_folder_copied_to_a_second_machine_and_both_used_loses_nothing(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (tablet, _) = Device::paired(&ts, code, "Планшет Иванова", false).await;
    let visit = tablet.start(client).await.visit.id;
    text(&tablet.node, visit, "общее начало").await;
    tablet.sync().await;
    let folder = tablet.dir.path().to_path_buf();
    tablet.node.shutdown().await;
    let second = tempfile::tempdir().expect("second machine");
    copy_folder(&folder.join(DATA), &second.path().join(DATA));

    let first = reopen(&folder).await;
    let other = reopen(second.path()).await;
    // Both type offline: the first into the answer, the second adds referrals.
    text(&first, visit, "общее начало, первая машина").await;
    call(
        &other,
        Request::EditVisit {
            visit_id: visit,
            edit: referral("Анна со второй машины"),
        },
    )
    .await;
    let second_visit = match call(
        &other,
        Request::StartVisit(rapport_api::StartVisit {
            client_id: client,
            date: "2026-12-01".into(),
        }),
    )
    .await
    {
        Response::Visit(v) => v.visit.id,
        other => panic!("{other:?}"),
    };
    text(&other, second_visit, "новый визит со второй машины").await;
    for node in [&first, &other, &first, &other] {
        assert_nothing_stopped(&sync(node).await, "copies");
    }
    let on_server = ts.load_doc(visit).await.expect("visit");
    assert_eq!(plans_of(&on_server), "общее начало, первая машина");
    let referrals = rapport_domain::visit::read_visit(&on_server)
        .expect("visit")
        .referrals;
    assert!(
        referrals
            .values()
            .any(|r| r.name == "Анна со второй машины"),
        "{referrals:?}"
    );
    assert_eq!(
        plans_of(&ts.load_doc(second_visit).await.expect("new visit")),
        "новый визит со второй машины"
    );
    // Each machine has the other's work once it starts again. (Until then each
    // receives the other's changes of a document when it next edits it: the two
    // copies are one device to the server and share its record of what it holds.)
    first.shutdown().await;
    other.shutdown().await;
    for (dir, wanted) in [(folder.as_path(), second_visit), (second.path(), visit)] {
        let node = reopen(dir).await;
        assert_nothing_stopped(&sync(&node).await, "a copy started again");
        // What the twin synced past this copy's cursor comes back at the head of the
        // feed (which PostgreSQL may hold back a moment while another test's
        // transaction is open).
        eventually("a copy gets its twin's documents", || async {
            assert_nothing_stopped(&sync(&node).await, "a copy");
            let docs = read_device_docs(&dir.join(DATA), KeyStorage::File, Some(&[wanted]))
                .await
                .ok()?;
            docs.contains_key(&wanted).then_some(())
        })
        .await;
        node.shutdown().await;
    }
    for dir in [folder.join(DATA), second.path().join(DATA)] {
        let docs = read_device_docs(&dir, KeyStorage::File, None)
            .await
            .expect("docs");
        assert_eq!(
            docs[&visit].get_heads(),
            on_server.get_heads(),
            "{}",
            dir.display()
        );
        assert!(docs.contains_key(&second_visit));
    }
}
