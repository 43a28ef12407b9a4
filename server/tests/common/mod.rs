//! The shared test harness of the server suites: a server on SQLite or on a fresh
//! PostgreSQL database, a lead, a programme with reps and clients, and devices that
//! pair and sync over HTTP with the real protocol sessions.
#![allow(dead_code)] // each suite uses its own subset

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, ChangeHash};
use rapport_domain::client::new_client;
use rapport_domain::programme::{add_client, override_assignment, put_rep, read_programme};
use rapport_domain::visit::{
    complete_visit, new_visit, put_contact_update, put_referral, record_quality_check,
    set_scalar_answer, set_text_answer,
};
use rapport_domain::{
    Capacity, ContactInput, DocId, DomainError, QuestionKind, Reason, ScalarAnswer, Segment,
    Template, VisitInit, default_template,
};
use rapport_protocol::{
    DeviceConfig, DeviceSession, DocError, Limits, MemDocSet, SyncRequest, SyncResponse,
};
use rapport_server::auth::edit_actor;
use rapport_server::db::LeadRow;
use rapport_server::edit::{create_docs, edit_doc};
use rapport_server::{AppState, Config, Secret, Server};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The default admin URL when `RAPPORT_TEST_DATABASE_URL` is not set is NOT used:
/// without the variable the PostgreSQL cases are skipped (and say so).
pub const PG_ENV: &str = "RAPPORT_TEST_DATABASE_URL";
/// The lead's password in every test (Cyrillic on purpose).
pub const PASSWORD: &str = "пароль-руководителя-2026";
/// Upper bound of any polling loop.
pub const POLL: Duration = Duration::from_secs(10);

/// Which database the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file in the data folder.
    Sqlite,
    /// A fresh PostgreSQL database (needs `RAPPORT_TEST_DATABASE_URL`).
    Postgres,
}

/// A fresh PostgreSQL database, dropped (`WITH (FORCE)`) when this is dropped.
#[derive(Debug)]
pub struct PgDb {
    admin_url: String,
    name: String,
    /// The URL of the fresh database.
    pub url: String,
}

impl PgDb {
    /// Creates `rapport_t_<random>`; `None` when the variable is not set.
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            eprintln!("{PG_ENV} is not set: skipping the PostgreSQL case");
            return None;
        };
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {PG_ENV}: {e}; start it with `pg_ctlcluster 15 main start`"
            )
        });
        let name = format!("rapport_t_{}", DocId::random().as_uuid().simple());
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE (the role needs CREATEDB): {e}"));
        let _ = admin.close().await;
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        let url = format!("{prefix}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDb {
    /// On a thread of its own: the test's runtime may be gone or blocked.
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                conn.execute(AssertSqlSafe(sql)).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A server in this process on a fresh database.
pub struct TestServer {
    /// The running server (None after [`Self::stop`]).
    pub server: Option<Server>,
    /// Its base URL.
    pub url: String,
    /// The configuration it was started with (port 0).
    pub config: Config,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Its data folder (dropped last).
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database, if on PostgreSQL (dropped after the server).
    pub pg: Option<PgDb>,
}

/// A fresh data folder and database configuration; `None` when PostgreSQL is asked
/// for and not configured.
pub async fn fresh_config(backend: Backend) -> Option<(Config, tempfile::TempDir, Option<PgDb>)> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgDb::create().await?),
    };
    let config = Config {
        bind: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.path().join("данные"),
        database_url: pg.as_ref().map(|p| Secret::new(p.url.clone())),
        ..Config::default()
    };
    Some((config, dir, pg))
}

impl TestServer {
    /// A server with the default configuration.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// A server whose configuration `tweak` adjusts.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let (mut config, dir, pg) = fresh_config(backend).await?;
        tweak(&mut config);
        let server = Server::start(config.clone()).await.expect("server starts");
        Some(Self {
            url: server.url(),
            server: Some(server),
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            dir,
            pg,
        })
    }

    /// The shared state (store and server tables).
    pub fn state(&self) -> &AppState {
        &self.server.as_ref().expect("server running").state
    }

    /// Another server process on the same database (PostgreSQL), on its own port.
    pub async fn another(&self) -> Server {
        Server::start(self.config.clone())
            .await
            .expect("second server starts")
    }

    /// Stops the server gracefully.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("graceful shutdown");
        }
    }

    /// A lead account, signed in over HTTP.
    pub async fn lead(&self) -> TestLead {
        let email = format!("olga.{}@example.ru", DocId::random().as_uuid().simple());
        let row = rapport_server::api::auth::create_lead(
            self.state(),
            &email,
            "Ольга Смирнова",
            PASSWORD,
        )
        .await
        .expect("lead created");
        let token = sign_in(&self.http, &self.url, &email, PASSWORD).await;
        TestLead { row, token }
    }

    /// `method path` with the lead's token and a JSON body; status and JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.http, &self.url, method, path, token, body).await
    }

    /// A programme created over HTTP with reps and clients added as the endpoints do.
    pub async fn programme(&self, lead: &TestLead) -> DocId {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/programmes",
                Some(&lead.token),
                Some(json!({"name": "VIP-программа 2026 🚀", "start": "2026-03-01", "end": "2026-06-30"})),
            )
            .await;
        assert_eq!(status, 201, "create programme: {body}");
        body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("programme id in {body}"))
    }

    /// Adds a rep to the programme.
    pub async fn add_rep(&self, lead: &TestLead, programme: DocId, rep: &str, name: &str) {
        edit_doc(
            self.state(),
            &lead.row.actor,
            programme,
            "the programme",
            |doc| {
                put_rep(
                    doc,
                    rep,
                    name,
                    "rep@example.ru",
                    Capacity::Dedicated,
                    true,
                    rapport_server::now_ms(),
                )
            },
        )
        .await
        .expect("rep added");
    }

    /// A new client of the programme assigned to `rep`.
    pub async fn add_client(
        &self,
        lead: &TestLead,
        programme: DocId,
        company: &str,
        rep: &str,
    ) -> DocId {
        let id = DocId::random();
        let now = rapport_server::now_ms();
        let doc = new_client(
            edit_actor(&lead.row.actor),
            id,
            company,
            Segment::Corporate,
            Some(rep),
            now,
        )
        .expect("client doc");
        create_docs(self.state(), vec![(id, doc)])
            .await
            .expect("client stored");
        edit_doc(
            self.state(),
            &lead.row.actor,
            programme,
            "the programme",
            |doc| {
                add_client(doc, id, now)?;
                override_assignment(doc, id, rep, lead_decision(), &lead.row.id, now)
            },
        )
        .await
        .expect("client added and assigned");
        id
    }

    /// Moves a client to another rep (what the lead's reassignment does).
    pub async fn reassign(&self, lead: &TestLead, programme: DocId, client: DocId, rep: &str) {
        edit_doc(
            self.state(),
            &lead.row.actor,
            programme,
            "the programme",
            |doc| {
                override_assignment(
                    doc,
                    client,
                    rep,
                    lead_decision(),
                    &lead.row.id,
                    rapport_server::now_ms(),
                )
            },
        )
        .await
        .expect("client reassigned");
    }

    /// A one-time pairing code for `rep` (None: the lead's device).
    pub async fn pairing_code(
        &self,
        lead: &TestLead,
        programme: DocId,
        rep: Option<&str>,
    ) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/programmes/{programme}/pairing-codes"),
                Some(&lead.token),
                Some(json!({"rep_id": rep, "label": "Планшет 📱"})),
            )
            .await;
        assert_eq!(status, 201, "pairing code: {body}");
        body["code"].as_str().expect("code").to_owned()
    }

    /// The usual start: a lead, a programme with the rep "ivanov", one client of
    /// `company` assigned to him, and his tablet synced with the view and the client.
    pub async fn rep_with_client(&self, company: &str) -> RepWorld {
        let lead = self.lead().await;
        let programme = self.programme(&lead).await;
        self.add_rep(&lead, programme, "ivanov", "Иван Иванов")
            .await;
        let client = self.add_client(&lead, programme, company, "ivanov").await;
        let mut tablet = self.device(&lead, programme, Some("ivanov")).await;
        tablet
            .sync_until_has(&[rapport_domain::view_id(programme), client])
            .await;
        RepWorld {
            lead,
            programme,
            client,
            tablet,
        }
    }

    /// A device paired for `rep` (None: the lead's device).
    pub async fn device(&self, lead: &TestLead, programme: DocId, rep: Option<&str>) -> TestDevice {
        let code = self.pairing_code(lead, programme, rep).await;
        TestDevice::pair(&self.http, &self.url, &code, programme)
            .await
            .expect("pairing succeeds")
    }

    /// Number of changes the store holds for `doc` (0 when it has none).
    pub async fn stored_changes(&self, doc: DocId) -> usize {
        self.state()
            .store
            .load(doc)
            .await
            .expect("store load")
            .map_or(0, |d| d.get_changes(&[]).len())
    }
}

fn lead_decision() -> Reason {
    Reason::LeadDecision {
        note: "решение руководителя".to_owned(),
    }
}

/// A signed-in lead.
pub struct TestLead {
    /// The account.
    pub row: LeadRow,
    /// The session token.
    pub token: String,
}

/// What [`TestServer::rep_with_client`] sets up.
pub struct RepWorld {
    /// The lead.
    pub lead: TestLead,
    /// The programme.
    pub programme: DocId,
    /// The rep's client.
    pub client: DocId,
    /// The rep's synced tablet.
    pub tablet: TestDevice,
}

/// Signs in over HTTP and returns the token.
pub async fn sign_in(http: &reqwest::Client, url: &str, email: &str, password: &str) -> String {
    let (status, body) = call(
        http,
        url,
        reqwest::Method::POST,
        "/api/v1/auth/sign-in",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "sign-in: {body}");
    body["token"].as_str().expect("token").to_owned()
}

/// One JSON call; the body is `Value::Null` when it is not JSON.
pub async fn call(
    http: &reqwest::Client,
    url: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, format!("{url}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("HTTP request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("response body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Asserts `body` is the JSON error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON error body: {body}"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error says what to do: {body}");
    code
}

/// Why an HTTP sync request failed.
#[derive(Debug)]
pub enum SyncFail {
    /// No answer (connection refused or cut: a killed server).
    Transport(String),
    /// An HTTP error status with its body.
    Status(u16, Value),
}

/// What one sync run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Requests sent.
    pub requests: u32,
    /// Request bytes.
    pub bytes_up: usize,
    /// Response bytes.
    pub bytes_down: usize,
    /// Per-document errors of this run.
    pub errors: Vec<DocError>,
}

/// A device: documents and sync states in memory, synced over HTTP.
pub struct TestDevice {
    /// Its actor (every change it makes carries it).
    pub actor: ActorId,
    /// Its device token.
    pub token: String,
    /// Its device id.
    pub device_id: String,
    /// The programme.
    pub programme: DocId,
    /// The rep (None: the lead's device).
    pub rep: Option<String>,
    /// Documents and persisted sync states.
    pub docs: MemDocSet,
    /// Persisted feed cursor.
    pub cursor: Vec<u8>,
    /// Documents edited since their last successful sync.
    pub dirty: BTreeSet<DocId>,
    /// Every change this device made.
    pub made: Vec<(DocId, ChangeHash)>,
    /// Changes of this device the server acknowledged (the document was synced).
    pub acked: HashSet<(DocId, ChangeHash)>,
    /// Totals over all runs.
    pub total: RunReport,
    /// The server URL (may be switched to another process).
    pub url: String,
    http: reqwest::Client,
}

/// A random 16-byte actor.
pub fn random_actor() -> ActorId {
    ActorId::from(rapport_server::auth::random_bytes::<16>().to_vec())
}

impl TestDevice {
    /// Pairs with `code`; the error is the HTTP status and body.
    pub async fn pair(
        http: &reqwest::Client,
        url: &str,
        code: &str,
        programme: DocId,
    ) -> Result<Self, (u16, Value)> {
        let actor = random_actor();
        let (status, body) = call(
            http,
            url,
            reqwest::Method::POST,
            "/api/v1/devices/pair",
            None,
            Some(json!({"code": code, "actor": actor.to_hex_string()})),
        )
        .await;
        if status != 200 {
            return Err((status, body));
        }
        Ok(Self {
            actor,
            token: body["token"].as_str().expect("token").to_owned(),
            device_id: body["device_id"].as_str().expect("device id").to_owned(),
            programme,
            rep: body["rep_id"].as_str().map(str::to_owned),
            docs: MemDocSet::default(),
            cursor: Vec::new(),
            dirty: BTreeSet::new(),
            made: Vec::new(),
            acked: HashSet::new(),
            total: RunReport::default(),
            url: url.to_owned(),
            http: http.clone(),
        })
    }

    /// The template of the programme as the device has it: from the programme view (a
    /// rep's device) or the programme (the lead's); the default before the first sync.
    pub fn template(&self) -> Template {
        let view = self
            .docs
            .docs
            .get(&rapport_domain::view_id(self.programme))
            .and_then(|d| rapport_domain::read_view(d).ok())
            .map(|v| v.template);
        view.or_else(|| {
            self.docs
                .docs
                .get(&self.programme)
                .and_then(|d| read_programme(d).ok())
                .map(|p| p.template)
        })
        .unwrap_or_else(default_template)
    }

    /// Adds a document made on this device.
    pub fn insert(&mut self, id: DocId, doc: Automerge) {
        for c in doc.get_changes(&[]) {
            self.made.push((id, c.hash()));
        }
        self.docs.docs.insert(id, doc);
        self.dirty.insert(id);
    }

    /// Creates a visit of `client` by this device's rep, with a Cyrillic answer.
    pub fn new_visit(&mut self, client: DocId) -> DocId {
        let id = DocId::random();
        let template = self.template();
        let doc = new_visit(
            self.actor.clone(),
            &VisitInit {
                id,
                programme_id: self.programme,
                client_id: client,
                date: "2026-03-10".to_owned(),
                rep_id: self.rep.clone().unwrap_or_else(|| "lead".to_owned()),
            },
            &template,
            rapport_server::now_ms(),
        )
        .expect("valid visit");
        self.insert(id, doc);
        self.edit(id, |doc, t| {
            set_text_answer(
                doc,
                t,
                "carnegie.proud_of",
                "Гордимся командой и клиентами 🚀",
                rapport_server::now_ms(),
            )
        })
        .expect("answer");
        id
    }

    /// Edits a document with this device's actor; records the new changes.
    pub fn edit<T>(
        &mut self,
        id: DocId,
        f: impl FnOnce(&mut Automerge, &Template) -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let template = self.template();
        let actor = self.actor.clone();
        let doc = self
            .docs
            .docs
            .get_mut(&id)
            .expect("the device has the document");
        doc.set_actor(actor);
        let before = doc.get_heads();
        let out = f(doc, &template)?;
        let new: Vec<ChangeHash> = doc.get_changes(&before).iter().map(|c| c.hash()).collect();
        if !new.is_empty() {
            self.dirty.insert(id);
        }
        self.made.extend(new.into_iter().map(|h| (id, h)));
        Ok(out)
    }

    /// Answers every required question and completes the visit.
    pub fn complete(&mut self, id: DocId) {
        self.edit(id, fill_and_complete).expect("visit completes");
    }

    /// One request body built from the current state (for raw tests); the session is
    /// discarded, nothing is persisted.
    pub fn request_body(&mut self) -> Vec<u8> {
        let mut session = self.session();
        let request = session
            .next_request(&mut self.docs)
            .expect("within the round-trip budget")
            .expect("a request");
        request.encode(&Limits::DEFAULT).expect("encodable")
    }

    fn session(&self) -> DeviceSession {
        let dirty = self
            .dirty
            .iter()
            .map(|id| (*id, self.docs.states.get(id).cloned()));
        DeviceSession::new(DeviceConfig::default(), self.cursor.clone(), dirty)
    }

    /// POSTs a raw body to /api/v1/sync.
    pub async fn post(&self, body: Vec<u8>) -> Result<Vec<u8>, SyncFail> {
        let resp = self
            .http
            .post(format!("{}/api/v1/sync", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| SyncFail::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| SyncFail::Transport(e.to_string()))?;
        if status != 200 {
            return Err(SyncFail::Status(
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ));
        }
        Ok(bytes.to_vec())
    }

    /// One sync run until quiescent (bounded); panics on an HTTP failure.
    pub async fn sync(&mut self) -> RunReport {
        match self.try_sync().await {
            Ok(r) => r,
            Err(e) => panic!("sync failed: {e:?}"),
        }
    }

    /// One sync run; stops at the first failed request (the session's `fail` keeps
    /// the persisted state, as a real device would).
    pub async fn try_sync(&mut self) -> Result<RunReport, SyncFail> {
        let limits = Limits::DEFAULT;
        let mut session = self.session();
        let mut run = RunReport::default();
        let started = Instant::now();
        while let Some(request) = session
            .next_request(&mut self.docs)
            .expect("within the round-trip budget")
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "a sync run took over 60 s"
            );
            let body = request.encode(&limits).expect("encodable");
            run.requests += 1;
            run.bytes_up += body.len();
            self.total.requests += 1;
            self.total.bytes_up += body.len();
            let reply = match self.post(body).await {
                Ok(r) => r,
                Err(e) => {
                    session.fail();
                    return Err(e);
                }
            };
            run.bytes_down += reply.len();
            self.total.bytes_down += reply.len();
            let response = SyncResponse::decode(&reply, &limits).expect("a valid response frame");
            let outcome = session.handle_response(&mut self.docs, response);
            self.docs.apply(&outcome);
            for id in &outcome.synced {
                self.dirty.remove(id);
                // The server has the whole document: every change of ours in it is committed.
                if let Some(doc) = self.docs.docs.get(id) {
                    for c in doc.get_changes(&[]) {
                        if c.actor_id() == &self.actor {
                            self.acked.insert((*id, c.hash()));
                        }
                    }
                }
            }
            for e in &outcome.errors {
                self.dirty.insert(e.doc);
            }
            if let Some(cursor) = outcome.cursor {
                self.cursor = cursor;
            }
            run.errors.extend(outcome.errors.iter().cloned());
            self.total.errors.extend(outcome.errors);
        }
        Ok(run)
    }

    /// Syncs until the device holds every one of `ids` (bounded by count and
    /// [`POLL`]). On PostgreSQL the feed shows a commit only once older transactions of
    /// the cluster have ended, so a document may arrive one run later.
    pub async fn sync_until_has(&mut self, ids: &[DocId]) -> RunReport {
        let started = Instant::now();
        let mut all = RunReport::default();
        for attempt in 0..200 {
            let run = self.sync().await;
            all.requests += run.requests;
            all.bytes_up += run.bytes_up;
            all.bytes_down += run.bytes_down;
            all.errors.extend(run.errors);
            if ids.iter().all(|id| self.docs.docs.contains_key(id)) {
                return all;
            }
            assert!(
                attempt < 199 && started.elapsed() < POLL,
                "the device never received all of {ids:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        all
    }

    /// The device's copy of a document.
    pub fn doc(&self, id: &DocId) -> Option<&Automerge> {
        self.docs.docs.get(id)
    }

    /// Ids of documents the device holds.
    pub fn ids(&self) -> BTreeSet<DocId> {
        self.docs.docs.keys().copied().collect()
    }
}

/// Answers every missing required question (Cyrillic texts) and completes the visit.
pub fn fill_and_complete(doc: &mut Automerge, template: &Template) -> Result<(), DomainError> {
    let now = rapport_server::now_ms();
    for q in template.active().into_iter().filter(|q| q.required) {
        match &q.kind {
            QuestionKind::Text => {
                set_text_answer(doc, template, &q.id, "Ответ клиента: всё хорошо ✅", now)?
            }
            QuestionKind::YesNo => {
                set_scalar_answer(doc, template, &q.id, &ScalarAnswer::YesNo(true), now)?
            }
            QuestionKind::Number => {
                set_scalar_answer(doc, template, &q.id, &ScalarAnswer::Number(7.0), now)?;
            }
            QuestionKind::Date => set_scalar_answer(
                doc,
                template,
                &q.id,
                &ScalarAnswer::Date("2026-03-10".into()),
                now,
            )?,
            QuestionKind::Choice { options } => {
                let first = options.first().map(|o| o.id.clone()).unwrap_or_default();
                set_scalar_answer(doc, template, &q.id, &ScalarAnswer::Choice(first), now)?;
            }
            QuestionKind::Contacts => {
                put_contact_update(
                    doc,
                    None,
                    &ContactInput {
                        updates_contact_id: None,
                        name: "Пётр Петров".into(),
                        role: "Директор".into(),
                        phone: "+7 900 000-00-00".into(),
                        email: "petr@example.ru".into(),
                    },
                    now,
                )?;
            }
            QuestionKind::Referrals => {
                put_referral(
                    doc,
                    None,
                    &rapport_domain::visit::ReferralInput {
                        name: "Мария".into(),
                        company: "ООО «Лютик»".into(),
                        contact: "maria@example.ru".into(),
                        note: String::new(),
                    },
                    now,
                )?;
            }
            QuestionKind::QualityCheck { .. } => {
                record_quality_check(
                    doc,
                    template,
                    &q.id,
                    &rapport_domain::QualityAnswer {
                        target: 100.0,
                        actual: 100.0,
                        outage_last_month: false,
                        note: "норма".into(),
                    },
                    now,
                )?;
            }
        }
    }
    complete_visit(doc, template, now)
}

/// Polls `check` every 50 ms until it returns `Some` or [`POLL`] passes.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    for _ in 0..1000 {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < POLL, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// Heads of each document, for comparing copies.
pub fn heads_of(docs: &BTreeMap<DocId, Automerge>) -> BTreeMap<DocId, Vec<ChangeHash>> {
    docs.iter()
        .map(|(id, d)| {
            let mut h = d.get_heads();
            h.sort();
            (*id, h)
        })
        .collect()
}

/// Sorted heads of one document.
pub fn sorted_heads(doc: &Automerge) -> Vec<ChangeHash> {
    let mut h = doc.get_heads();
    h.sort();
    h
}

/// Decodes a response body (for raw tests).
pub fn decode_response(body: &[u8]) -> SyncResponse {
    SyncResponse::decode(body, &Limits::DEFAULT).expect("a valid response frame")
}

/// Decodes a request body (for raw tests).
pub fn decode_request(body: &[u8]) -> SyncRequest {
    SyncRequest::decode(body, &Limits::DEFAULT).expect("a valid request frame")
}
