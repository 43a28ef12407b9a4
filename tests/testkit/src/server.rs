//! The server in this process, a signed-in lead, and the programme set-up the suites share.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use automerge::Automerge;
use rapport_domain::client::new_client;
use rapport_domain::programme::{
    Membership, add_client, add_clients, apply_suggestion, override_assignment, put_rep,
    read_members,
};
use rapport_domain::visit::read_visit;
use rapport_domain::{
    Capacity, DocId, Reason, Segment, Strength, SuggestedAssignment, Suggestion, Visit,
};
use rapport_server::app::StartError;
use rapport_server::auth::edit_actor;
use rapport_server::db::LeadRow;
use rapport_server::edit::{create_docs, edit_doc};
use rapport_server::{AppState, Config, Secret, Server};
use serde_json::{Value, json};

use crate::device::TestDevice;
use crate::http::{call, sign_in};
use crate::pg::{Backend, PgDb};
use crate::tls::TestCa;
use crate::util::POLL;

/// The lead's password in every test (Cyrillic on purpose).
pub const PASSWORD: &str = "пароль-руководителя-2026";

/// A server in this process on a fresh database.
pub struct TestServer {
    /// The running server (None after [`Self::stop`]).
    pub server: Option<Server>,
    /// The address it listens on; kept across [`Self::restart_on_same_port`].
    addr: SocketAddr,
    /// Its base URL (see [`Self::url`]).
    url: String,
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
        Self::start_serving(backend, None, tweak).await
    }

    /// A server serving HTTPS with `ca`'s server certificate (its [`Self::url`] is
    /// `https://127.0.0.1:<port>`; its [`Self::http`] client trusts `ca`).
    pub async fn start_tls(backend: Backend, ca: &TestCa) -> Option<Self> {
        Self::start_tls_with(backend, ca, |_| {}).await
    }

    /// [`Self::start_tls`] with the configuration adjusted by `tweak` (e.g. `ui_dir`).
    pub async fn start_tls_with(
        backend: Backend,
        ca: &TestCa,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        Self::start_serving(backend, Some(ca), tweak).await
    }

    async fn start_serving(
        backend: Backend,
        tls: Option<&TestCa>,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        let (mut config, dir, pg) = fresh_config(backend).await?;
        if let Some(ca) = tls {
            config.tls_cert = Some(ca.cert_pem());
            config.tls_key = Some(ca.key_pem());
        }
        tweak(&mut config);
        let server = Server::start(config.clone()).await.expect("server starts");
        let http = match tls {
            Some(ca) => ca.client(),
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        };
        Some(Self {
            addr: server.addr,
            url: server.url(),
            server: Some(server),
            config,
            http,
            dir,
            pg,
        })
    }

    /// Its base URL, e.g. `http://127.0.0.1:41234` (`https://…` when started with
    /// TLS); the same after a restart.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on (the same after a restart): where another process
    /// may serve its database once it stopped.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (store and server tables).
    pub fn state(&self) -> &AppState {
        &self.server.as_ref().expect("server running").state
    }

    /// A connection pool of its own to the server's database, to read and write behind
    /// the server's back (close it when done).
    pub async fn raw_pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = match &self.config.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.config.sqlite_path().display()),
        };
        sqlx::AnyPool::connect(&url)
            .await
            .expect("connect to the server's database")
    }

    /// Waits until everything committed to the store is projected: the projector has
    /// caught up and the feed holds nothing back. On PostgreSQL the feed holds a commit
    /// back while an older transaction of the cluster is open (another test's), and the
    /// projector sees it only once that ends; a test that then says "nothing moves" (no
    /// status event, no new projection) must first wait for this. Bounded: 10 s.
    pub async fn settle_projections(&self) {
        let state = self.state();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let projected = state.projector.catch_up().await.expect("a projection pass");
            let cursor = state.db.projector_cursor().await.expect("the cursor");
            let held = state
                .store
                .feed_held_back(&cursor, 1)
                .await
                .expect("held back");
            if projected == 0 && held.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the store's commits never all reached the projections"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// An open transaction with an id, in a session of its own on this server's
    /// PostgreSQL cluster: the change feed holds back every later commit of the cluster
    /// until it ends (`COMMIT` or `ROLLBACK` on the connection returned), as another
    /// test's or a backup's transaction may. Panics on SQLite.
    pub async fn hold_the_feed(&self) -> sqlx::PgConnection {
        use sqlx::Connection as _;
        let url = &self.pg.as_ref().expect("a PostgreSQL test database").url;
        let mut held = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query("BEGIN")
            .execute(&mut held)
            .await
            .expect("begin");
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut held)
            .await
            .expect("a transaction id");
        held
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

    /// Stops the server (if running) and starts a new one on the same address, data
    /// folder and database: what a device configured with [`Self::url`] sees when the
    /// server restarts.
    pub async fn restart_on_same_port(&mut self) {
        self.stop().await;
        let mut config = self.config.clone();
        config.bind = self.addr;
        let state = AppState::open(config)
            .await
            .expect("the restarted server opens its data");
        // The old listener is closed, but a test elsewhere in this process may briefly
        // hold the port as a client's ephemeral port: retry the bind for a bounded time.
        let started = Instant::now();
        for _ in 0..200 {
            match Server::start_with(state.clone()).await {
                Ok(server) => {
                    self.server = Some(server);
                    return;
                }
                Err(StartError::Bind { .. }) if started.elapsed() < POLL => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("the server does not restart on {}: {e}", self.addr),
            }
        }
        panic!(
            "the server does not restart on {}: the port stays taken",
            self.addr
        );
    }

    /// A lead account, signed in over HTTP.
    pub async fn lead(&self) -> TestLead {
        let email = format!("olga.{}@example.ru", DocId::random().as_uuid().simple());
        let row =
            rapport_server::accounts::create_lead(self.state(), &email, "Ольга Смирнова", PASSWORD)
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

    /// Many clients at once: for each of `reps` (put into the programme if it is not
    /// there yet, named `Представитель <id>`), `per_rep` new clients named by
    /// `company(rep, i)`, stored in batches and added and assigned in one commit of the
    /// programme (assigning client by client re-reads the programme each time: minutes
    /// for a thousand clients). Returns each rep's clients, in `reps`' order.
    pub async fn add_clients_of(
        &self,
        lead: &TestLead,
        programme: DocId,
        reps: &[String],
        per_rep: usize,
        company: impl Fn(&str, usize) -> String,
    ) -> Vec<Vec<DocId>> {
        let now = rapport_server::now_ms();
        let clients: Vec<Vec<DocId>> = reps
            .iter()
            .map(|_| (0..per_rep).map(|_| DocId::random()).collect())
            .collect();
        let mut docs: Vec<(DocId, Automerge)> = Vec::new();
        for (rep, ids) in reps.iter().zip(&clients) {
            for (i, id) in ids.iter().enumerate() {
                let doc = new_client(
                    edit_actor(&lead.row.actor),
                    *id,
                    &company(rep, i),
                    Segment::Corporate,
                    Some(rep),
                    now,
                )
                .expect("client document");
                docs.push((*id, doc));
            }
        }
        while !docs.is_empty() {
            let batch = docs.split_off(docs.len().saturating_sub(1000));
            create_docs(self.state(), batch)
                .await
                .expect("clients stored");
        }
        edit_doc(
            self.state(),
            &lead.row.actor,
            programme,
            "the programme",
            |doc| {
                let known = read_members(doc)?.reps;
                for rep in reps.iter().filter(|r| !known.contains_key(*r)) {
                    put_rep(
                        doc,
                        rep,
                        &format!("Представитель {rep}"),
                        "",
                        Capacity::Dedicated,
                        true,
                        now,
                    )?;
                }
                let members: Vec<Membership> = reps
                    .iter()
                    .zip(&clients)
                    .flat_map(|(rep, ids)| {
                        ids.iter().map(move |id| Membership {
                            client_id: *id,
                            original_rep: Some(rep.clone()),
                            strength: Strength::Excellent,
                            monopolised: false,
                        })
                    })
                    .collect();
                add_clients(doc, &members, now)?;
                let assignments = reps
                    .iter()
                    .zip(&clients)
                    .flat_map(|(rep, ids)| {
                        ids.iter().map(move |id| SuggestedAssignment {
                            client_id: id.to_string(),
                            rep_id: rep.clone(),
                            reason: lead_decision(),
                        })
                    })
                    .collect();
                let suggestion = Suggestion {
                    assignments,
                    loads: std::collections::BTreeMap::new(),
                };
                apply_suggestion(doc, &suggestion, &lead.row.id, now)
            },
        )
        .await
        .expect("clients added and assigned");
        clients
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

    /// A lead, a programme with the rep "ivanov" («Иван Иванов»), and one client of
    /// `company` assigned to him: (lead, programme, client).
    pub async fn ivanov_with_client(&self, company: &str) -> (TestLead, DocId, DocId) {
        let lead = self.lead().await;
        let programme = self.programme(&lead).await;
        self.add_rep(&lead, programme, "ivanov", "Иван Иванов")
            .await;
        let client = self.add_client(&lead, programme, company, "ivanov").await;
        (lead, programme, client)
    }

    /// The usual start: [`Self::ivanov_with_client`], and his tablet synced with the
    /// view and the client.
    pub async fn rep_with_client(&self, company: &str) -> RepWorld {
        let (lead, programme, client) = self.ivanov_with_client(company).await;
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

    /// Revokes a device as the lead does for a lost tablet (its token stops working).
    pub async fn revoke_device(&self, lead: &TestLead, programme: DocId, device_id: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/programmes/{programme}/devices/{device_id}/revoke"),
                Some(&lead.token),
                None,
            )
            .await;
        assert_eq!(status, 204, "revoke device {device_id}: {body}");
    }

    /// The server's stored copy of `doc` (None when the store has none).
    pub async fn load_doc(&self, doc: DocId) -> Option<Automerge> {
        self.state().store.load(doc).await.expect("store load")
    }

    /// The visit `doc` as the server has stored it; panics when it is missing or not a visit.
    pub async fn visit_doc(&self, doc: DocId) -> Visit {
        let stored = self
            .load_doc(doc)
            .await
            .unwrap_or_else(|| panic!("the server has no document {doc}"));
        read_visit(&stored)
            .unwrap_or_else(|e| panic!("document {doc} is not a readable visit: {e}"))
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
