//! A device that holds its documents in memory and syncs over HTTP with the real
//! protocol session.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, ChangeHash};
use rapport_domain::programme::read_programme;
use rapport_domain::visit::{new_visit, set_text_answer};
use rapport_domain::{DocId, DomainError, Template, VisitInit, default_template};
use rapport_protocol::{DeviceConfig, DeviceSession, DocError, Limits, MemDocSet, SyncResponse};
use serde_json::{Value, json};

use crate::http::call;
use crate::util::{POLL, fill_and_complete};

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
