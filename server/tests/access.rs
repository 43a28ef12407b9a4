//! Access control: every route of the OpenAPI document against bad credentials, a
//! rep's device limited to its clients (also after a reassignment), uploads the
//! device may not make (and the lead seeing them on the devices page), pairing codes,
//! sign-in and revocation.

use std::collections::BTreeSet;

use rapport_domain::visit::{new_visit, set_text_answer};
use rapport_domain::{DocId, VisitInit, default_template, view_id};
use rapport_protocol::ErrorCode;
use rapport_testkit::{
    Backend, POLL, SyncFail, TestDevice, TestLead, TestServer, decode_response, error_code,
    eventually, random_actor, sorted_heads,
};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

/// Routes anyone may call.
const PUBLIC: &[&str] = &[
    "/healthz",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/auth/sign-in",
    "/api/v1/devices/pair",
];

struct World {
    ts: TestServer,
    lead: TestLead,
    programme: DocId,
    ivanov_clients: Vec<DocId>,
    petrov_clients: Vec<DocId>,
}

async fn world(backend: Backend) -> Option<World> {
    let ts = TestServer::start(backend).await?;
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_rep(&lead, programme, "petrov", "Пётр Петров").await;
    let mut ivanov_clients = Vec::new();
    let mut petrov_clients = Vec::new();
    for i in 0..2 {
        ivanov_clients.push(
            ts.add_client(&lead, programme, &format!("ООО «Иван-{i}»"), "ivanov")
                .await,
        );
        petrov_clients.push(
            ts.add_client(&lead, programme, &format!("АО «Пётр-{i}» 🏭"), "petrov")
                .await,
        );
    }
    Some(World {
        ts,
        lead,
        programme,
        ivanov_clients,
        petrov_clients,
    })
}

/// Sends `method path` with a raw Authorization header (or none).
async fn raw_call(
    ts: &TestServer,
    method: &Method,
    path: &str,
    auth: Option<&str>,
) -> (u16, Value) {
    let mut req = ts
        .http
        .request(method.clone(), format!("{}{path}", ts.url()));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if path == "/api/v1/sync" {
        req = req
            .header("content-type", "application/octet-stream")
            .body(Vec::new());
    } else if *method != Method::GET && *method != Method::DELETE {
        req = req.json(&json!({}));
    }
    let resp = req.send().await.expect("HTTP request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_bad_credentials_with_a_json_error(#[case] backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let mut revoked = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let petrov = ts.device(&w.lead, w.programme, Some("petrov")).await;
    let (status, _) = ts
        .call(
            Method::POST,
            &format!(
                "/api/v1/programmes/{}/devices/{}/revoke",
                w.programme, revoked.device_id
            ),
            Some(&w.lead.token),
            None,
        )
        .await;
    assert_eq!(status, 204, "revoke");
    revoked.token = format!("Bearer {}", revoked.token);

    let (status, spec) = ts
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    let paths = spec["paths"]
        .as_object()
        .expect("paths in the OpenAPI document");
    let mut checked = 0;
    let mut seen_public = BTreeSet::new();
    for (template, item) in paths {
        let ops = item.as_object().expect("path item");
        for (method, op) in ops {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            if PUBLIC.contains(&template.as_str()) {
                seen_public.insert(template.clone());
                continue;
            }
            let path = substitute(template, w.programme);
            let device_route = op["security"].to_string().contains("device_token");
            let petrov_bearer = format!("Bearer {}", petrov.token);
            let lead_bearer = format!("Bearer {}", w.lead.token);
            let mut cases: Vec<(&str, Option<&str>)> = vec![
                ("no token", None),
                ("malformed bearer", Some("Bearer xyz")),
                ("basic auth", Some("Basic abc")),
                ("revoked device", Some(revoked.token.as_str())),
            ];
            if device_route {
                // A lead's session cannot sync or act as a device.
                cases.push(("lead session on a device route", Some(lead_bearer.as_str())));
            } else {
                cases.push((
                    "another rep's device on a lead route",
                    Some(petrov_bearer.as_str()),
                ));
            }
            for (what, auth) in cases {
                let (status, body) = raw_call(ts, &method, &path, auth).await;
                assert!(
                    status == 401 || status == 403,
                    "{method} {path} with {what}: {status} {body}"
                );
                error_code(&body);
                let keys: Vec<_> = body
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                assert_eq!(
                    keys,
                    ["error"],
                    "{method} {path} with {what} leaks data: {body}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(
        seen_public.len(),
        PUBLIC.len(),
        "public routes are in the document: {seen_public:?}"
    );
    assert!(checked >= 40, "only {checked} route × credential cases");
    eprintln!("{checked} route × credential cases refused");
}

fn substitute(template: &str, programme: DocId) -> String {
    template
        .split('/')
        .map(|part| match part {
            "{id}" | "{programme_id}" => programme.to_string(),
            p if p.starts_with('{') => DocId::random().to_string(),
            p => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reps_device_gets_only_its_clients(#[case] backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let mut petrov = ts.device(&w.lead, w.programme, Some("petrov")).await;
    petrov.sync_until_has(&w.petrov_clients).await;
    let theirs: Vec<_> = w
        .petrov_clients
        .iter()
        .map(|c| petrov.new_visit(*c))
        .collect();
    assert!(petrov.sync().await.errors.is_empty());

    let mut ivanov = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let expected: BTreeSet<DocId> = w
        .ivanov_clients
        .iter()
        .copied()
        .chain([view_id(w.programme)])
        .collect();
    // On PostgreSQL the feed holds rows back while any older transaction of the
    // cluster is open (parallel tests): sync until his documents are in, then check
    // that nothing else came with them.
    let wanted: Vec<DocId> = expected.iter().copied().collect();
    let run = ivanov.sync_until_has(&wanted).await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(
        ivanov.ids(),
        expected,
        "the programme view and his own clients, nothing else"
    );
    assert!(
        ivanov.doc(&w.programme).is_none(),
        "the programme document (the lead's assessments) never reaches a rep"
    );
    for id in w.petrov_clients.iter().chain(&theirs) {
        assert!(
            ivanov.doc(id).is_none(),
            "another rep's {id} must not reach ivanov"
        );
    }
    // Asking for another rep's visit by id is refused, and reveals nothing. The device
    // core never asks for a document it does not hold (it has nothing to send), so the
    // request is made by hand from the device's state.
    let body = ivanov.request_body_with(&[theirs[0]]);
    let response = decode_response(&ivanov.post(body).await.expect("a 200 answer"));
    assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
    assert_eq!(response.errors[0].doc, theirs[0]);
    assert_eq!(response.errors[0].code, ErrorCode::Forbidden);
    assert!(
        response.docs.iter().all(|m| m.doc != theirs[0]),
        "no content of another rep's visit"
    );
    assert!(ivanov.doc(&theirs[0]).is_none());
}

/// A tablet back after days offline sends many documents in one request: they are
/// received on every core, each answered on its own: the forged ones refused, every
/// other one stored, as with a few.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_is_received_on_every_core_and_each_document_answered(
    #[case] backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let mut ivanov = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    ivanov.sync_until_has(&w.ivanov_clients).await;
    let mut good = Vec::new();
    let mut forged = Vec::new();
    for i in 0..40 {
        let client = w.ivanov_clients[i % 2];
        if i % 13 == 5 {
            // Authored by another actor (copied from someone else's device).
            let id = DocId::random();
            let doc = new_visit(
                random_actor(),
                &VisitInit {
                    id,
                    programme_id: w.programme,
                    client_id: client,
                    date: "2026-03-12".into(),
                    rep_id: "ivanov".into(),
                },
                &default_template(),
                rapport_server::now_ms(),
            )
            .expect("visit");
            ivanov.insert(id, doc);
            forged.push(id);
        } else {
            let id = ivanov.new_visit(client);
            ivanov
                .edit(id, |doc, t| {
                    set_text_answer(
                        doc,
                        t,
                        "carnegie.proud_of",
                        &format!("Гордятся командой №{i}"),
                        rapport_server::now_ms(),
                    )
                })
                .expect("answer");
            good.push(id);
        }
    }
    let run = ivanov.sync().await;
    let refused: BTreeSet<DocId> = run.errors.iter().map(|e| e.doc).collect();
    assert_eq!(
        refused,
        forged.iter().copied().collect(),
        "{:?}",
        run.errors
    );
    assert!(
        run.errors.iter().all(|e| e.code == ErrorCode::Forbidden),
        "{:?}",
        run.errors
    );
    let store = &ts.state().store;
    for (i, id) in good.iter().enumerate() {
        let stored = store.load(*id).await.expect("load").expect("stored");
        assert_eq!(
            sorted_heads(&stored),
            sorted_heads(&ivanov.doc(id).expect("on the device")),
            "visit {i}"
        );
    }
    for id in &forged {
        assert!(
            store.load(*id).await.expect("load").is_none(),
            "nothing forged is stored"
        );
    }
}

/// The documents `groups` read from the store's feed ([`rapport_store::DocStore::feed_in`]),
/// once the feed holds `want` (PostgreSQL holds rows back while an older transaction
/// of the cluster is open: parallel tests), bounded in time.
async fn feed_of_groups(
    ts: &TestServer,
    groups: &[DocId],
    want: &BTreeSet<DocId>,
) -> BTreeSet<DocId> {
    let started = std::time::Instant::now();
    loop {
        let page = ts
            .state()
            .store
            .feed_in(&rapport_store::FeedCursor::start(), 1_000, groups)
            .await
            .expect("feed_in");
        let got: BTreeSet<DocId> = page.docs.into_iter().collect();
        if got.is_superset(want) || started.elapsed() > POLL {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs `sql` on the server's database, behind its back.
async fn raw_sql(ts: &TestServer, sql: &'static str) {
    let pool = ts.raw_pool().await;
    sqlx::query(sql).execute(&pool).await.expect(sql);
    pool.close().await;
}

/// Every projected document is filed under its feed group, so a rep's feed reads its
/// programme's documents and its own clients', not another rep's: its cost follows its
/// own documents. Documents stored unfiled (before feed groups existed) are filed when
/// the projector starts, and read by every device until then.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_filed_so_a_reps_feed_reads_only_its_own(#[case] backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let mut petrov = ts.device(&w.lead, w.programme, Some("petrov")).await;
    petrov.sync_until_has(&w.petrov_clients).await;
    let visits: Vec<DocId> = w
        .petrov_clients
        .iter()
        .map(|c| petrov.new_visit(*c))
        .collect();
    assert!(petrov.sync().await.errors.is_empty());
    // Projected (and so filed) now: on PostgreSQL the feed the projector follows may
    // hold the new visits back while another test's transaction is open, and until
    // filed they are in every group's feed.
    ts.state()
        .projector
        .project_docs(&visits)
        .await
        .expect("projected");

    let ivanov_groups: Vec<DocId> = [w.programme]
        .into_iter()
        .chain(w.ivanov_clients.iter().copied())
        .collect();
    let ivanovs: BTreeSet<DocId> = [w.programme, view_id(w.programme)]
        .into_iter()
        .chain(w.ivanov_clients.iter().copied())
        .collect();
    assert_eq!(
        feed_of_groups(ts, &ivanov_groups, &ivanovs).await,
        ivanovs,
        "the programme, its view and ivanov's clients; none of petrov's documents"
    );
    let petrov_groups: Vec<DocId> = [w.programme]
        .into_iter()
        .chain(w.petrov_clients.iter().copied())
        .collect();
    let petrovs: BTreeSet<DocId> = [w.programme, view_id(w.programme)]
        .into_iter()
        .chain(w.petrov_clients.iter().copied())
        .chain(visits.iter().copied())
        .collect();
    assert_eq!(feed_of_groups(ts, &petrov_groups, &petrovs).await, petrovs);

    // Stored before feed groups existed: unfiled, so every feed reads them…
    raw_sql(ts, "UPDATE docs SET feed_group = NULL").await;
    let everything: BTreeSet<DocId> = ivanovs.union(&petrovs).copied().collect();
    assert_eq!(
        feed_of_groups(ts, &ivanov_groups, &everything).await,
        everything
    );
    // …until the projector files them.
    let filed = ts.state().projector.file_unfiled().await.expect("filed");
    assert_eq!(filed, everything.len() as u64);
    assert_eq!(feed_of_groups(ts, &ivanov_groups, &ivanovs).await, ivanovs);
    // And a rep's device, reading its groups only, still gets everything it may read.
    let mut ivanov = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let mine: Vec<DocId> = ivanovs
        .iter()
        .copied()
        .filter(|d| *d != w.programme)
        .collect();
    let run = ivanov.sync_until_has(&mine).await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(ivanov.ids(), mine.into_iter().collect::<BTreeSet<_>>());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassigned_client_moves_to_the_new_rep_and_the_old_rep_is_refused(
    #[case] backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let client = w.ivanov_clients[0];
    let mut ivanov = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let mut petrov = ts.device(&w.lead, w.programme, Some("petrov")).await;
    ivanov.sync_until_has(&[view_id(w.programme), client]).await;
    petrov.sync_until_has(&[view_id(w.programme)]).await;
    let visit = ivanov.new_visit(client);
    assert!(ivanov.sync().await.errors.is_empty());
    let synced_heads = sorted_heads(&ivanov.doc(&visit).expect("visit"));
    // Petrov's cursor is now past the client's documents.
    assert!(petrov.sync().await.errors.is_empty());
    assert!(petrov.doc(&visit).is_none());

    ts.reassign(&w.lead, w.programme, client, "petrov").await;

    ivanov
        .edit(visit, |doc, t| {
            set_text_answer(
                doc,
                t,
                "carnegie.plans",
                "Расширение в Казань 🚚",
                rapport_server::now_ms(),
            )
        })
        .expect("offline edit");
    let run = ivanov.sync().await;
    let refused: Vec<_> = run.errors.iter().filter(|e| e.doc == visit).collect();
    assert_eq!(refused.len(), 1, "{:?}", run.errors);
    assert_eq!(refused[0].code, ErrorCode::Forbidden);
    assert!(!refused[0].message.is_empty());
    let server = ts
        .state()
        .store
        .load(visit)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(
        sorted_heads(&server),
        synced_heads,
        "the server keeps what was synced before"
    );
    assert_ne!(
        sorted_heads(&ivanov.doc(&visit).expect("kept")),
        synced_heads,
        "the device keeps its refused edit"
    );
    assert!(ivanov.dirty.contains(&visit), "still pending on the device");

    // The touch queue re-feeds the client's documents to the new rep.
    let started = std::time::Instant::now();
    for attempt in 0.. {
        let run = petrov.sync().await;
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        if petrov.doc(&visit).is_some() && petrov.doc(&client).is_some() {
            break;
        }
        assert!(
            attempt < 100 && started.elapsed() < POLL,
            "the reassigned client's documents never reached petrov's device"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        sorted_heads(&petrov.doc(&visit).expect("visit")),
        synced_heads
    );
}

/// A server process keeps the rights it read for devices (their clients, the programme's
/// authors) and reads them again only when the stamp read with the device moved, so a
/// change made through another process counts at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_keeping_devices_rights_sees_another_process_change_them() {
    let Some(w) = world(Backend::Postgres).await else {
        return;
    };
    let ts = &w.ts;
    let other = ts.another().await;
    let client = w.ivanov_clients[0];
    let mut tablet = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    tablet.url = other.url();
    tablet.sync_until_has(&[view_id(w.programme), client]).await;
    let visit = tablet.new_visit(client);
    let run = tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    // Nothing changed: the next upload is checked against the rights kept.
    let (read, kept) = other.state.db.rights_counts();
    tablet
        .edit(visit, |doc, t| {
            set_text_answer(
                doc,
                t,
                "carnegie.plans",
                "Склад в Твери 🏗️",
                rapport_server::now_ms(),
            )
        })
        .expect("edit");
    let run = tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let (read_after, kept_after) = other.state.db.rights_counts();
    assert_eq!(read_after, read, "rights read again though nothing changed");
    assert!(
        kept_after >= kept + 2,
        "clients and authors kept: {kept} → {kept_after}"
    );

    // A second tablet of the rep, paired through the first process: a new author, known
    // to the second process at its first upload there.
    let mut phone = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    phone.url = other.url();
    phone.sync_until_has(&[view_id(w.programme), client]).await;
    phone.new_visit(client);
    let run = phone.sync().await;
    assert!(
        run.errors.is_empty(),
        "the new author was refused: {:?}",
        run.errors
    );

    // A lead account added through the first process: a new author of every
    // programme's documents. Its edit, relayed by the tablet through the second
    // process, is accepted there at once.
    let deputy = ts.lead().await;
    let mut doc = tablet.doc(&visit).expect("the tablet's visit");
    let mut actor = hex::decode(&deputy.row.actor).expect("the lead's actor is hex");
    actor.extend_from_slice(&[9; 8]);
    doc.set_actor(automerge::ActorId::from(actor));
    set_text_answer(
        &mut doc,
        &default_template(),
        "carnegie.plans",
        "Заместитель руководителя дописал: склад в Клину",
        rapport_server::now_ms(),
    )
    .expect("edit");
    tablet.insert(visit, doc.clone());
    let run = tablet.sync().await;
    assert!(
        run.errors.is_empty(),
        "the new lead's edit was refused: {:?}",
        run.errors
    );
    let stored = ts.load_doc(visit).await.expect("the visit is stored");
    assert_eq!(sorted_heads(&stored), sorted_heads(&doc));

    // The client given to petrov through the first process: the second refuses at once.
    ts.reassign(&w.lead, w.programme, client, "petrov").await;
    tablet
        .edit(visit, |doc, t| {
            set_text_answer(
                doc,
                t,
                "carnegie.plans",
                "Уже не мой клиент",
                rapport_server::now_ms(),
            )
        })
        .expect("edit");
    let run = tablet.sync().await;
    let refused: Vec<_> = run.errors.iter().filter(|e| e.doc == visit).collect();
    assert_eq!(refused.len(), 1, "{:?}", run.errors);
    assert_eq!(refused[0].code, ErrorCode::Forbidden);
    other.shutdown().await.expect("second process stops");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_a_device_may_not_make_are_refused(#[case] backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let mut ivanov = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let view = view_id(w.programme);
    ivanov.sync_until_has(&[view]).await;
    let store = &ts.state().store;
    let programme_doc = store
        .load(w.programme)
        .await
        .expect("load")
        .expect("programme");
    let programme_before = sorted_heads(&programme_doc);
    let view_before = sorted_heads(&store.load(view).await.expect("load").expect("view"));
    // The devices page names a refused document's kind from its projection.
    let db = &ts.state().db;
    eventually("the view's projection", || async {
        db.meta(view).await.expect("meta").map(|_| ())
    })
    .await;

    // A rep edits a copy of the programme (the lead's document) and the view (the
    // server publishes it; devices only read it).
    ivanov.insert(w.programme, programme_doc);
    ivanov
        .edit(view, |doc, _| {
            use automerge::transaction::Transactable;
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, "name", "Переименовано планшетом")?;
            tx.commit();
            Ok::<_, rapport_domain::DomainError>(())
        })
        .expect("local edit of the view");
    ivanov
        .edit(w.programme, |doc, _| {
            rapport_domain::programme::put_rep(
                doc,
                "ivanov",
                "Иван Грозный",
                "ivan@example.ru",
                rapport_domain::Capacity::Dedicated,
                true,
                rapport_server::now_ms(),
            )
        })
        .expect("local edit");
    // A visit authored by another actor (copied from someone else's device).
    let forged = DocId::random();
    let doc = new_visit(
        random_actor(),
        &VisitInit {
            id: forged,
            programme_id: w.programme,
            client_id: w.ivanov_clients[0],
            date: "2026-03-11".into(),
            rep_id: "ivanov".into(),
        },
        &default_template(),
        rapport_server::now_ms(),
    )
    .expect("visit");
    ivanov.insert(forged, doc);
    // And a valid one in the same request.
    let good = ivanov.new_visit(w.ivanov_clients[1]);

    let run = ivanov.sync().await;
    let code_of = |id: DocId| run.errors.iter().find(|e| e.doc == id).map(|e| e.code);
    assert_eq!(
        code_of(w.programme),
        Some(ErrorCode::Forbidden),
        "{:?}",
        run.errors
    );
    assert_eq!(
        code_of(view),
        Some(ErrorCode::Forbidden),
        "{:?}",
        run.errors
    );
    assert_eq!(
        code_of(forged),
        Some(ErrorCode::Forbidden),
        "{:?}",
        run.errors
    );
    assert_eq!(code_of(good), None, "{:?}", run.errors);
    // The lead sees what the device keeps and the server refuses, with the device's
    // own message, and nothing of the accepted visit.
    let refused = refused_docs(&w, &ivanov.device_id).await;
    let message_of = |id: DocId| {
        run.errors
            .iter()
            .find(|e| e.doc == id)
            .map(|e| e.message.clone())
    };
    for (id, kind) in [
        (w.programme, json!("programme")),
        (view, json!("programme_view")),
        (forged, Value::Null),
    ] {
        let shown = refused
            .iter()
            .find(|r| r["doc_id"] == id.to_string())
            .unwrap_or_else(|| panic!("{id} on the devices page: {refused:?}"));
        assert_eq!(shown["code"], "forbidden", "{shown}");
        assert_eq!(shown["kind"], kind, "{shown}");
        assert_eq!(
            shown["message"].as_str(),
            message_of(id).as_deref(),
            "{shown}"
        );
        assert!(shown["at_ms"].as_i64().is_some_and(|t| t > 0), "{shown}");
    }
    assert_eq!(refused.len(), 3, "only the refused documents: {refused:?}");
    assert_eq!(
        sorted_heads(&store.load(view).await.expect("load").expect("view")),
        view_before,
        "the view is unchanged"
    );
    assert!(
        store.load(forged).await.expect("load").is_none(),
        "nothing of the forged visit"
    );
    assert!(
        store.load(good).await.expect("load").is_some(),
        "the valid visit is stored"
    );
    assert_eq!(
        sorted_heads(
            &store
                .load(w.programme)
                .await
                .expect("load")
                .expect("programme")
        ),
        programme_before,
        "the programme is unchanged"
    );
}

/// The documents the server refuses from a device, as the lead's devices page shows them.
async fn refused_docs(w: &World, device_id: &str) -> Vec<Value> {
    let (status, devices) =
        w.ts.call(
            Method::GET,
            &format!("/api/v1/programmes/{}/devices", w.programme),
            Some(&w.lead.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{devices}");
    let device = devices
        .as_array()
        .expect("a list of devices")
        .iter()
        .find(|d| d["id"] == device_id)
        .unwrap_or_else(|| panic!("device {device_id} in {devices}"));
    device["refused"].as_array().expect("refused").clone()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_document_shows_on_the_devices_page_until_the_server_accepts_it(
    #[case] backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let client = w.ivanov_clients[0];
    let foreign = w.petrov_clients[0];
    let mut ivanov = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let mut petrov = ts.device(&w.lead, w.programme, Some("petrov")).await;
    ivanov.sync_until_has(&[view_id(w.programme), client]).await;
    let visit = ivanov.new_visit(client);
    assert!(ivanov.sync().await.errors.is_empty());
    let db = &ts.state().db;
    eventually("the visit's projection", || async {
        db.meta(visit).await.expect("meta").map(|_| ())
    })
    .await;

    // The client goes to Petrov; Ivanov's tablet edits the visit offline and starts a
    // visit of Petrov's client: the server refuses both, the tablet keeps them.
    ts.reassign(&w.lead, w.programme, client, "petrov").await;
    ivanov
        .edit(visit, |doc, t| {
            set_text_answer(
                doc,
                t,
                "carnegie.plans",
                "Открыть филиал в Нижнем Новгороде 🏗",
                rapport_server::now_ms(),
            )
        })
        .expect("offline edit");
    let started = ivanov.new_visit(foreign);
    let run = ivanov.sync().await;
    let error_of = |id: DocId| {
        run.errors
            .iter()
            .find(|e| e.doc == id)
            .unwrap_or_else(|| panic!("{id} refused: {:?}", run.errors))
    };
    assert_eq!(error_of(visit).code, ErrorCode::Forbidden);
    assert_eq!(error_of(started).code, ErrorCode::Forbidden);

    let refused = refused_docs(&w, &ivanov.device_id).await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    let shown = |id: DocId| {
        refused
            .iter()
            .find(|r| r["doc_id"] == id.to_string())
            .unwrap_or_else(|| panic!("{id} on the devices page: {refused:?}"))
    };
    // The stored visit is known to the server: its kind and its client's (Cyrillic) name.
    assert_eq!(shown(visit)["kind"], "visit");
    assert_eq!(shown(visit)["client"], "ООО «Иван-0»");
    assert_eq!(shown(visit)["code"], "forbidden");
    assert_eq!(shown(visit)["message"], error_of(visit).message.as_str());
    assert!(
        shown(visit)["message"]
            .as_str()
            .is_some_and(|m| m.contains("not (or no longer) assigned to you")),
        "{refused:?}"
    );
    // A document refused on its first upload is unknown to the server: no kind.
    assert_eq!(shown(started)["kind"], Value::Null);
    assert_eq!(shown(started)["client"], Value::Null);
    assert_eq!(shown(started)["code"], "forbidden");
    assert_eq!(
        shown(started)["message"],
        error_of(started).message.as_str()
    );
    assert!(refused_docs(&w, &petrov.device_id).await.is_empty());
    // A request without uploads changes nothing.
    assert!(petrov.sync().await.errors.is_empty());
    assert_eq!(refused_docs(&w, &ivanov.device_id).await.len(), 2);

    // The lead gives both clients to Ivanov. A refused document waits on the device
    // until the app next starts (the server never had the started visit, so it cannot
    // give it back): then the first sync reconciles, tries both again, they are
    // accepted and the refusals are gone.
    ts.reassign(&w.lead, w.programme, client, "ivanov").await;
    ts.reassign(&w.lead, w.programme, foreign, "ivanov").await;
    ivanov.reopen();
    let run = ivanov.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(run.reconciles, 1, "the first run after a start reconciles");
    assert!(ivanov.dirty.is_empty(), "{:?}", ivanov.dirty);
    assert!(
        ts.load_doc(started).await.is_some(),
        "the started visit is stored"
    );
    assert_eq!(
        sorted_heads(&ts.load_doc(visit).await.expect("visit")),
        sorted_heads(&ivanov.doc(&visit).expect("visit")),
        "the offline edit is stored"
    );
    let refused = refused_docs(&w, &ivanov.device_id).await;
    assert!(refused.is_empty(), "{refused:?}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_codes_are_single_use_and_expire(#[case] backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let code = ts.pairing_code(&w.lead, w.programme, Some("ivanov")).await;
    TestDevice::pair(&ts.http, ts.url(), &code.to_lowercase(), w.programme)
        .await
        .expect("first use (case does not matter)");
    let (status, body) = TestDevice::pair(&ts.http, ts.url(), &code, w.programme)
        .await
        .expect_err("second use fails");
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "invalid_pairing_code");

    let expired = rapport_server::auth::new_pairing_code();
    let now = rapport_server::now_ms();
    ts.state()
        .db
        .insert_pairing_code(
            &rapport_server::auth::hash_secret(&expired),
            w.programme,
            Some("ivanov"),
            "Старый планшет",
            &w.lead.row.id,
            now - 3_600_000,
            now - 1,
        )
        .await
        .expect("insert");
    let (status, body) = TestDevice::pair(&ts.http, ts.url(), &expired, w.programme)
        .await
        .expect_err("expired code fails");
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "invalid_pairing_code");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_look_alike_and_revocation_is_immediate(#[case] backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let sign_in = |email: String, password: &'static str| async move {
        ts.call(
            Method::POST,
            "/api/v1/auth/sign-in",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    };
    let wrong_password = sign_in(w.lead.row.email.clone(), "неверный-пароль-123").await;
    let unknown_email = sign_in("nobody@example.ru".into(), "неверный-пароль-123").await;
    assert_eq!(wrong_password.0, 401);
    assert_eq!(wrong_password, unknown_email, "identical status and body");
    assert_eq!(error_code(&wrong_password.1), "invalid_credentials");

    let mut tablet = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    tablet.sync().await;
    let (status, _) = ts
        .call(
            Method::POST,
            &format!(
                "/api/v1/programmes/{}/devices/{}/revoke",
                w.programme, tablet.device_id
            ),
            Some(&w.lead.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    tablet.new_visit(w.ivanov_clients[0]);
    match tablet.try_sync().await {
        Err(SyncFail::Status(401, body)) => {
            assert_eq!(error_code(&body), "device_revoked")
        }
        other => panic!("a revoked device must get 401 device_revoked, got {other:?}"),
    }
    let (status, body) = ts
        .call(Method::GET, "/api/v1/devices/me", Some(&tablet.token), None)
        .await;
    assert_eq!((status, error_code(&body)), (401, "device_revoked"));
}

/// A device's actor is its own: a second device cannot take it while the first is
/// active, but a revoked tablet that was found again comes back under its actor with a
/// fresh code for the same rep (its offline edits carry that actor), and only then.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_comes_back_under_its_own_actor_and_nobody_else_takes_it(
    #[case] backend: Backend,
) {
    let Some(ts) = TestServer::start(backend).await else {
        eprintln!("skipped: no PostgreSQL configured");
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_rep(&lead, programme, "petrov", "Пётр Петров").await;
    let actor = random_actor().to_hex_string();
    let pair = |code: String| {
        let ts = &ts;
        let actor = actor.clone();
        async move {
            ts.call(
                Method::POST,
                "/api/v1/devices/pair",
                None,
                Some(json!({"code": code, "actor": actor, "label": "Планшет Иванова"})),
            )
            .await
        }
    };
    let (status, first) = pair(ts.pairing_code(&lead, programme, Some("ivanov")).await).await;
    assert_eq!(status, 200, "{first}");
    let device_id = first["device_id"].as_str().expect("id").to_owned();
    let old_token = first["token"].as_str().expect("token").to_owned();

    // While it is active, nobody takes its actor; the code is not used up.
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (status, body) = pair(code.clone()).await;
    assert_eq!((status, error_code(&body)), (422, "actor_taken"), "{body}");
    let other = random_actor().to_hex_string();
    let (status, body) = ts
        .call(
            Method::POST,
            "/api/v1/devices/pair",
            None,
            Some(json!({"code": code, "actor": other})),
        )
        .await;
    assert_eq!(
        status, 200,
        "the refused attempt left the code usable: {body}"
    );

    ts.revoke_device(&lead, programme, &device_id).await;
    // Revoked: another rep's code does not bring it back under this actor.
    let (status, body) = pair(ts.pairing_code(&lead, programme, Some("petrov")).await).await;
    assert_eq!((status, error_code(&body)), (422, "actor_taken"), "{body}");
    // The same rep's fresh code does: same device, a new token, the old one stays dead.
    let (status, back) = pair(ts.pairing_code(&lead, programme, Some("ivanov")).await).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["device_id"], device_id.as_str());
    let new_token = back["token"].as_str().expect("token");
    assert_ne!(new_token, old_token);
    let (status, body) = ts
        .call(Method::GET, "/api/v1/devices/me", Some(&old_token), None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "unknown_device"),
        "{body}"
    );
    let (status, body) = ts
        .call(Method::GET, "/api/v1/devices/me", Some(new_token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, devices) = ts
        .call(
            Method::GET,
            &format!("/api/v1/programmes/{programme}/devices"),
            Some(&lead.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{devices}");
    let ours: Vec<&Value> = devices
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["id"] == device_id.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "one row for the device: {devices}");
    assert!(ours[0]["revoked_ms"].is_null(), "active again: {devices}");
}

/// The programme view is rewritten at every edit of the programme, and PostgreSQL's
/// feed holds a row back while any older transaction of the cluster is open: a fresh
/// tablet paired during a busy moment must still get its questionnaire in its first
/// sync, not runs later (seen as "the questionnaire has not arrived yet" in the app).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_device_gets_the_programme_view_while_the_feed_holds_it_back() {
    let Some(w) = world(Backend::Postgres).await else {
        return;
    };
    let ts = &w.ts;
    let mut held = ts.hold_the_feed().await;
    // The lead rewords the view (a new rep), then pairs Ivanov's new tablet.
    ts.add_rep(&w.lead, w.programme, "sidorov", "Сидор Сидоров")
        .await;
    let mut tablet = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let run = tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let server_view = ts.load_doc(view_id(w.programme)).await.expect("the view");
    let view = tablet
        .doc(&view_id(w.programme))
        .expect("the view (the questionnaire) arrives in the first sync");
    assert_eq!(
        sorted_heads(&view),
        sorted_heads(&server_view),
        "the latest view, with Сидоров in it"
    );
    // Later runs neither fail nor send it again while it stays held back.
    let again = tablet.sync().await;
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert!(
        again.bytes_down < 300,
        "the acknowledged view is not sent again: {} bytes",
        again.bytes_down
    );
    sqlx::query("ROLLBACK")
        .execute(&mut held)
        .await
        .expect("rollback");
}

/// The same for every document a fresh device may read: a client assigned and a visit
/// uploaded while an older transaction holds the feed back arrive in the new tablet's
/// first sync (a device never needs a second sync for what existed when it asked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_device_gets_every_readable_document_the_feed_still_holds_back() {
    let Some(w) = world(Backend::Postgres).await else {
        return;
    };
    let ts = &w.ts;
    let mut held = ts.hold_the_feed().await;
    // Written after the open transaction began: held back by the feed.
    let client = ts
        .add_client(&w.lead, w.programme, "ООО «Поздний клиент»", "ivanov")
        .await;
    let mut laptop = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    laptop.sync().await;
    let visit = laptop.new_visit(client);
    let run = laptop.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(
        ts.load_doc(visit).await.is_some(),
        "the laptop uploaded the visit"
    );

    let mut tablet = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let run = tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let mut wanted: Vec<DocId> = w.ivanov_clients.clone();
    wanted.extend([client, visit, view_id(w.programme)]);
    for id in wanted {
        let theirs = ts.load_doc(id).await.expect("on the server");
        let mine = tablet
            .doc(&id)
            .unwrap_or_else(|| panic!("{id} did not arrive in the first sync"));
        assert_eq!(sorted_heads(&mine), sorted_heads(&theirs), "{id}");
    }
    for id in &w.petrov_clients {
        assert!(tablet.doc(id).is_none(), "another rep's client is not sent");
    }
    sqlx::query("ROLLBACK")
        .execute(&mut held)
        .await
        .expect("rollback");
}

/// A device may relay changes of others it holds (how a restored server gets back what
/// it lost): every author registered to the programme is accepted, whichever of its
/// devices uploads; an author registered nowhere, or to another programme, is refused
/// and nothing of the document is stored.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_relays_changes_of_authors_registered_to_the_programme(#[case] backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let ts = &w.ts;
    let mut tablet = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    let mut laptop = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    tablet.sync().await;
    laptop.sync().await;
    // The laptop types a visit; the tablet holds it (as after an earlier sync) and is
    // the one to upload it. An edit by the laptop under a per-opening actor (its
    // registered 16 bytes and 8 more) is relayed the same way.
    let visit = laptop.new_visit(w.ivanov_clients[0]);
    let mut doc = laptop.doc(&visit).expect("the laptop's visit");
    let mut suffixed = laptop.actor.to_bytes().to_vec();
    suffixed.extend_from_slice(&[7; 8]);
    doc.set_actor(automerge::ActorId::from(suffixed));
    rapport_domain::visit::set_text_answer(
        &mut doc,
        &default_template(),
        "carnegie.plans",
        "Планы, набранные на ноутбуке",
        rapport_server::now_ms(),
    )
    .expect("edit");
    tablet.insert(visit, doc.clone());
    let run = tablet.sync().await;
    assert!(run.errors.is_empty(), "relayed: {:?}", run.errors);
    let stored = ts
        .load_doc(visit)
        .await
        .expect("the relayed visit is stored");
    assert_eq!(sorted_heads(&stored), sorted_heads(&doc));

    // An author of another programme, and one registered nowhere: refused whole.
    let other = ts.programme(&w.lead).await;
    ts.add_rep(&w.lead, other, "ivanov", "Иван Иванов").await;
    let stranger = ts.device(&w.lead, other, Some("ivanov")).await;
    for (actor, what) in [
        (stranger.actor.clone(), "another programme's device"),
        (random_actor(), "an actor registered nowhere"),
    ] {
        let id = DocId::random();
        let doc = new_visit(
            actor,
            &VisitInit {
                id,
                programme_id: w.programme,
                client_id: w.ivanov_clients[1],
                date: "2026-03-11".into(),
                rep_id: "ivanov".into(),
            },
            &default_template(),
            rapport_server::now_ms(),
        )
        .expect("visit");
        tablet.insert(id, doc);
        let run = tablet.sync().await;
        let refused = run.errors.iter().find(|e| e.doc == id);
        assert_eq!(
            refused.map(|e| e.code),
            Some(ErrorCode::Forbidden),
            "{what}: {:?}",
            run.errors
        );
        assert!(
            refused.is_some_and(|e| e.message.contains("not registered")),
            "{what}: {refused:?}"
        );
        assert!(ts.load_doc(id).await.is_none(), "{what}: nothing stored");
    }
}
