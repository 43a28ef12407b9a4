//! A device that pairs with the server under test and syncs with it over HTTP: the
//! shipped device core (`rapport-core`) over its in-memory store, its sync runs posted
//! with reqwest. Hand-made frames go through [`TestDevice::request_body`] and
//! [`TestDevice::post`].

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use rapport_api::PairRequest;
use rapport_core::{DeviceCore, IndexEntry, MemDeviceStore, NodeError, PairNext, Pairing};
use rapport_domain::visit::{new_visit, set_text_answer};
use rapport_domain::{DocId, DomainError, Template, VisitInit, default_template};
use rapport_protocol::{DeviceConfig, DeviceSession, Limits, MemDocSet};
use serde_json::Value;

use crate::now_or_never;
use crate::stored;
use crate::transport::{RunReport, SyncFail, Transport, json_of, outcome, post_frame};
use crate::util::{POLL, fill_and_complete};
use crate::wall_host::WallHost;

/// A device: the device core over an in-memory store, paired with the server under test.
pub struct TestDevice {
    /// Its registered actor (16 bytes): the server knows the device by it. The device
    /// writes under it followed by 8 bytes drawn at each opening of its store
    /// ([`Self::edit_actor`]).
    pub actor: ActorId,
    /// Its device token (sync runs and raw posts send this one).
    pub token: String,
    /// Its device id.
    pub device_id: String,
    /// The programme.
    pub programme: DocId,
    /// The rep (None: the lead's device).
    pub rep: Option<String>,
    /// Documents with changes the server may not have (the store's dirty set, as of the
    /// last call).
    pub dirty: BTreeSet<DocId>,
    /// The persisted feed cursor (as of the last call).
    pub cursor: Vec<u8>,
    /// Every change this device made (or was handed with [`Self::insert`]).
    pub made: Vec<(DocId, ChangeHash)>,
    /// Changes of `made` the server acknowledged: in the history of the heads it
    /// answered with (it answers after its commit).
    pub acked: HashSet<(DocId, ChangeHash)>,
    /// Totals over all runs.
    pub total: RunReport,
    /// The server URL (may be switched to another process; runs and raw posts go here).
    pub url: String,
    core: DeviceCore<MemDeviceStore>,
    /// The URL it was paired with: the core addresses its posts under it.
    paired_url: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for TestDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDevice")
            .field("device_id", &self.device_id)
            .field("rep", &self.rep)
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

/// A random 16-byte actor.
pub fn random_actor() -> ActorId {
    ActorId::from(rapport_server::auth::random_bytes::<16>().to_vec())
}

/// A store of the core in memory: its calls never wait.
fn ready<T>(what: &str, call: impl std::future::Future<Output = Result<T, NodeError>>) -> T {
    now_or_never(call).unwrap_or_else(|e| panic!("{what}: {e}"))
}

impl TestDevice {
    /// Pairs with `code` through the core's pairing flow (a fresh actor, the label the
    /// lead gave the code); the error is the HTTP status and body.
    pub async fn pair(
        http: &reqwest::Client,
        url: &str,
        code: &str,
        programme: DocId,
    ) -> Result<Self, (u16, Value)> {
        let host = Arc::new(WallHost);
        let core = ready(
            "open a device core",
            DeviceCore::open(MemDeviceStore::new(), host),
        );
        let request = PairRequest {
            server_url: url.to_owned(),
            code: code.to_owned(),
            label: String::new(),
        };
        let mut flow = ready("start pairing", core.begin_pairing(&request));
        let response = http
            .post(flow.url())
            .json(&flow.body())
            .send()
            .await
            .expect("the pairing request is answered");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("the pairing answer");
        if status != 200 {
            return Err((status, json_of(&body)));
        }
        let fresh = || rapport_server::auth::random_bytes::<16>();
        let pairing = match flow.answer(status, &body, fresh) {
            Ok(PairNext::Paired(pairing)) => pairing,
            other => panic!("a fresh device is paired at the first answer: {other:?}"),
        };
        ready("record the pairing", core.set_pairing(pairing.clone()));
        let mut device = Self::with_core(core, &pairing, programme, url, http);
        device.refresh();
        Ok(device)
    }

    fn with_core(
        core: DeviceCore<MemDeviceStore>,
        pairing: &Pairing,
        programme: DocId,
        url: &str,
        http: &reqwest::Client,
    ) -> Self {
        Self {
            actor: ActorId::try_from(pairing.actor.as_str()).expect("the pairing's actor is hex"),
            token: pairing.token.clone(),
            device_id: pairing.device_id.clone(),
            programme,
            rep: pairing.rep_id.clone(),
            dirty: BTreeSet::new(),
            cursor: Vec::new(),
            made: Vec::new(),
            acked: HashSet::new(),
            total: RunReport::default(),
            url: url.to_owned(),
            core,
            paired_url: pairing.server_url.clone(),
            http: http.clone(),
        }
    }

    /// The core (to call the rep's requests on it).
    pub fn core(&self) -> &DeviceCore<MemDeviceStore> {
        &self.core
    }

    /// Reads `dirty` and `cursor` back from the store.
    fn refresh(&mut self) {
        (self.dirty, self.cursor) = stored::dirty_and_cursor(&self.core);
    }

    /// The actor this opening of the store writes under.
    pub fn edit_actor(&self) -> ActorId {
        let pairing = ready("the pairing", self.core.paired());
        self.core.edit_actor(&pairing).expect("a valid actor")
    }

    /// The app opens the device's store again: what was only in memory is gone, the
    /// next run reconciles first (and gives refused documents another try), and the
    /// device writes under a fresh actor suffix.
    pub fn reopen(&mut self) {
        let durable = MemDeviceStore::from_snapshot(self.core.store().snapshot());
        self.core = ready(
            "open the device core again",
            DeviceCore::open(durable, Arc::new(WallHost)),
        );
        self.refresh();
    }

    /// The questionnaire as the device has it (the core's: from the programme view on a
    /// rep's device, the programme on the lead's); the default before the first sync.
    pub fn template(&self) -> Template {
        match now_or_never(self.core.template()) {
            Ok(template) => template,
            Err(NodeError::NoTemplate) => default_template(),
            Err(e) => panic!("the device's questionnaire: {e}"),
        }
    }

    /// Adds a document made on this device (or handed to it), all its changes counted
    /// as made here.
    pub fn insert(&mut self, id: DocId, doc: Automerge) {
        self.save_new(id, &doc, None);
    }

    fn save_new(&mut self, id: DocId, doc: &Automerge, entry: Option<IndexEntry>) {
        self.made
            .extend(doc.get_changes(&[]).iter().map(|c| (id, c.hash())));
        ready("save a new document", self.core.save_new(id, doc, entry));
        self.refresh();
    }

    /// Creates a visit of `client` by this device's rep, with a Cyrillic answer.
    pub fn new_visit(&mut self, client: DocId) -> DocId {
        let id = DocId::random();
        let template = self.template();
        let doc = new_visit(
            self.edit_actor(),
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
        let entry = IndexEntry {
            doc: id,
            kind: "visit".to_owned(),
            client: Some(client),
        };
        self.save_new(id, &doc, Some(entry));
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

    /// Edits a document through the core's durable edit (the device's actor, the dirty
    /// mark no later than the changes); records the new changes. On an error nothing is
    /// kept.
    pub fn edit<T>(
        &mut self,
        id: DocId,
        f: impl FnOnce(&mut Automerge, &Template) -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let template = self.template();
        let mut new: Vec<ChangeHash> = Vec::new();
        let result = now_or_never(self.core.edit(id, |doc| {
            let before = doc.get_heads();
            let out = f(doc, &template)?;
            new = doc.get_changes(&before).iter().map(|c| c.hash()).collect();
            Ok(out)
        }));
        self.refresh();
        match result {
            Ok(out) => {
                self.made.extend(new.into_iter().map(|h| (id, h)));
                Ok(out)
            }
            Err(NodeError::Domain(e)) => Err(e),
            Err(e) => panic!("edit of {id} on the device: {e}"),
        }
    }

    /// Answers every required question and completes the visit.
    pub fn complete(&mut self, id: DocId) {
        self.edit(id, fill_and_complete).expect("visit completes");
    }

    /// The next request body of a run from the device's state (for raw tests), built
    /// from a copy of its documents: nothing is persisted.
    pub fn request_body(&self) -> Vec<u8> {
        self.request_body_with(&[])
    }

    /// [`Self::request_body`] with `also` treated as dirty: a document the device does
    /// not hold is asked for by id (the core never does: it has nothing to send).
    pub fn request_body_with(&self, also: &[DocId]) -> Vec<u8> {
        let mut docs: MemDocSet = stored::doc_set(&self.core);
        let dirty: BTreeSet<DocId> = self.dirty.iter().chain(also).copied().collect();
        let mut session = DeviceSession::new(
            DeviceConfig::default(),
            self.cursor.clone(),
            dirty
                .into_iter()
                .map(|id| (id, docs.states.get(&id).cloned())),
        );
        let request = session
            .next_request(&mut docs)
            .expect("within the round-trip budget")
            .expect("a request");
        request.encode(&Limits::DEFAULT).expect("encodable")
    }

    /// POSTs a raw body to /api/v1/sync; the response body of a 200.
    pub async fn post(&self, body: Vec<u8>) -> Result<Vec<u8>, SyncFail> {
        let url = format!("{}/api/v1/sync", self.url);
        match post_frame(&self.http, &url, &self.token, None, body).await {
            Err(reason) => Err(SyncFail::Transport(reason.to_string())),
            Ok((200, bytes)) => Ok(bytes),
            Ok((status, bytes)) => Err(SyncFail::Status(status, json_of(&bytes))),
        }
    }

    /// One sync run of the core; panics if it fails.
    pub async fn sync(&mut self) -> RunReport {
        match self.try_sync().await {
            Ok(r) => r,
            Err(e) => panic!("sync failed: {e:?}"),
        }
    }

    /// One sync run of the core, its requests posted to [`Self::url`]. It ends at the
    /// first failed request, with what it persisted kept (the next run resumes from it),
    /// as on a real device.
    pub async fn try_sync(&mut self) -> Result<RunReport, SyncFail> {
        let transport = Transport::new(&self.http, &self.paired_url, &self.url, &self.token);
        let result = {
            let _one_run = self.core.sync_lock().await;
            let run = self.core.begin_run();
            run.drive(self.core.store(), |post| transport.post(post))
                .await
        };
        let seen = transport.finish();
        self.refresh();
        self.acknowledge(&seen.server_heads);
        self.total.add(&seen.report);
        outcome(result, seen)
    }

    /// Adds to `acked` the changes of `made` in the history of heads the server holds.
    fn acknowledge(&mut self, server_heads: &[(DocId, Vec<ChangeHash>)]) {
        if server_heads.is_empty() {
            return;
        }
        let made: HashSet<(DocId, ChangeHash)> = self.made.iter().copied().collect();
        for (id, heads) in server_heads {
            let Some(doc) = self.doc(id) else { continue };
            // Heads the device does not hold say nothing it can check.
            let known: Vec<ChangeHash> = heads
                .iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .copied()
                .collect();
            if known.is_empty() {
                continue;
            }
            let after: HashSet<ChangeHash> =
                doc.get_changes(&known).iter().map(|c| c.hash()).collect();
            for change in doc.get_changes(&[]) {
                let key = (*id, change.hash());
                if !after.contains(&key.1) && made.contains(&key) {
                    self.acked.insert(key);
                }
            }
        }
    }

    /// Syncs until the device holds every one of `ids` (bounded by count and
    /// [`POLL`]). On PostgreSQL the feed shows a commit only once older transactions of
    /// the cluster have ended, so a document may arrive one run later.
    pub async fn sync_until_has(&mut self, ids: &[DocId]) -> RunReport {
        let started = Instant::now();
        let mut all = RunReport::default();
        for attempt in 0..200 {
            let run = self.sync().await;
            all.add(&run);
            let held = self.ids();
            if ids.iter().all(|id| held.contains(id)) {
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
    pub fn doc(&self, id: &DocId) -> Option<Automerge> {
        stored::load(&self.core, *id)
    }

    /// Ids of documents the device holds.
    pub fn ids(&self) -> BTreeSet<DocId> {
        stored::ids(&self.core).into_iter().collect()
    }

    /// A copy of the device's documents and sync states (with the server).
    pub fn doc_set(&self) -> MemDocSet {
        stored::doc_set(&self.core)
    }
}
