//! One simulated tablet: the shipped device core over its in-memory store, its sync run
//! driven one step at a time, and what the scheduler does to it (the app killed, the
//! store put back from an image or copied from another tablet, the battery dying in the
//! middle of a sequence of writes).

use std::collections::BTreeSet;
use std::sync::Arc;

use automerge::{Automerge, ChangeHash};
use rapport_api::{RunSummary, StoppedDoc};
use rapport_core::{
    Answer, DeviceCore, DeviceStore, IndexEntry, MemDeviceSnapshot, MemDeviceStore, NodeError,
    Pairing, Post, Reply, Step, SyncRun, WriteFaults,
};
use rapport_domain::DocId;
use rapport_protocol::DeviceConfig;
use rapport_testkit::{MemHost, MemServerSnapshot, now_or_never};

use crate::sim::net::{Path, Transport, token_of};

/// The pairing of a tablet: server device `id`, registered actor `actor` (16 bytes).
pub fn pairing(id: u64, programme: DocId, rep: Option<&str>, actor: [u8; 16]) -> Pairing {
    Pairing {
        server_url: "mem://rapport".into(),
        device_id: id.to_string(),
        token: token_of(id),
        programme_id: programme,
        rep_id: rep.map(str::to_owned),
        label: format!("Планшет {id}"),
        actor: actor.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// A post the run waits on.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The request's number on the wire.
    pub request: u64,
    /// Its endpoint.
    pub path: Path,
    /// Its token.
    pub token: String,
    /// When it was sent (ms).
    pub since_ms: i64,
}

/// What the world notes about a run while it goes, to check it when it ends.
#[derive(Debug, Default)]
pub struct RunMarks {
    /// Server restores counted when it began.
    pub restores: u64,
    /// It was handed an answer to another of its tablet's requests.
    pub confused: bool,
    /// Documents the device was refused at some time while it went.
    pub refused: BTreeSet<DocId>,
    /// Changes its tablet saved while it went (it need not have sent them).
    pub edits: BTreeSet<ChangeHash>,
    /// The server as it was when the run began.
    pub server: Option<MemServerSnapshot>,
}

/// A run in progress.
struct Active {
    run: SyncRun,
    answer: Option<Answer>,
    waiting: Option<Waiting>,
    marks: RunMarks,
}

/// What one step of a run did.
pub enum Stepped {
    /// It posts this: put it on the wire, then [`SimDevice::posted`].
    Post(Post),
    /// It read or wrote the store; `failed`: the write failed (the device is dying).
    Store {
        /// The call writes.
        writes: bool,
        /// The call failed.
        failed: bool,
    },
    /// The run ended; what was noted about it.
    Done(Result<RunSummary, NodeError>, RunMarks),
}

/// One tablet.
pub struct SimDevice {
    /// Its place in the simulation (stays when it is paired again or copied over).
    pub slot: usize,
    core: DeviceCore<MemDeviceStore>,
    host: Arc<MemHost>,
    run: Option<Active>,
    /// How many times its store was opened (answers to an earlier opening are lost).
    pub opening: u64,
    /// Images of its store taken so far.
    pub images: Vec<MemDeviceSnapshot>,
    /// Its store fails every write after a few more: it dies at the first that fails.
    pub dying: bool,
    config: DeviceConfig,
}

impl SimDevice {
    /// A tablet with an empty store, paired with `pairing`; its randomness from `seed`.
    pub fn new(
        slot: usize,
        seed: u64,
        now_ms: i64,
        pairing: Pairing,
        config: DeviceConfig,
    ) -> Self {
        let host = Arc::new(MemHost::new(seed, now_ms));
        let core = now_or_never(DeviceCore::open(MemDeviceStore::new(), host.clone()))
            .expect("an empty in-memory store opens");
        core.set_sync_config(config);
        now_or_never(core.set_pairing(pairing)).expect("pairing an empty store");
        Self {
            slot,
            core,
            host,
            run: None,
            opening: 0,
            images: Vec::new(),
            dying: false,
            config,
        }
    }

    /// Sets the device's clock.
    pub fn set_now(&self, now_ms: i64) {
        self.host.set_now(now_ms);
    }

    /// Its pairing as stored.
    pub fn pairing(&self) -> Pairing {
        now_or_never(self.core.paired()).expect("a simulated device is paired")
    }

    /// The server device it syncs as.
    pub fn server_id(&self) -> u64 {
        self.pairing()
            .device_id
            .parse()
            .expect("simulated device ids are numbers")
    }

    /// A sync run is in progress.
    pub fn running(&self) -> bool {
        self.run.is_some()
    }

    /// The post its run waits on, if any.
    pub fn waiting(&self) -> Option<&Waiting> {
        self.run.as_ref().and_then(|a| a.waiting.as_ref())
    }

    /// Its run can take a step now (it does not wait on a post).
    pub fn steppable(&self) -> bool {
        self.run.as_ref().is_some_and(|a| a.waiting.is_none())
    }

    /// Starts a sync run (the shell's automatic sync).
    pub fn begin_run(&mut self, marks: RunMarks) {
        assert!(self.run.is_none(), "one run at a time");
        self.run = Some(Active {
            run: self.core.begin_run(),
            answer: None,
            waiting: None,
            marks,
        });
    }

    /// The notes about its run in progress, if any.
    pub fn marks(&mut self) -> Option<&mut RunMarks> {
        self.run.as_mut().map(|a| &mut a.marks)
    }

    /// One step of its run; `None` when it has none or waits on a post.
    pub fn step(&mut self) -> Option<Stepped> {
        let active = self.run.as_mut().filter(|a| a.waiting.is_none())?;
        Some(match active.run.step(active.answer.take()) {
            Step::Store(call) => {
                let writes = call.writes();
                let result = now_or_never(call.run(self.core.store()));
                let failed = result.is_err();
                active.answer = Some(Answer::Store(result));
                Stepped::Store { writes, failed }
            }
            Step::Post(post) => Stepped::Post(post),
            Step::Done(result) => {
                let marks = self.run.take().map(|a| a.marks).unwrap_or_default();
                Stepped::Done(result, marks)
            }
        })
    }

    /// The post of the last step went on the wire as `waiting`.
    pub fn posted(&mut self, waiting: Waiting) {
        if let Some(active) = &mut self.run {
            active.waiting = Some(waiting);
        }
    }

    /// Answers the post its run waits on.
    pub fn answer(&mut self, reply: Reply) {
        if let Some(active) = &mut self.run {
            assert!(
                active.waiting.take().is_some(),
                "a reply for a run waiting on none"
            );
            active.answer = Some(Answer::Reply(reply));
        }
    }

    /// Answers the post of the last step at once (it went on no wire).
    pub fn answer_now(&mut self, reply: Reply) {
        if let Some(active) = &mut self.run {
            active.waiting = None;
            active.answer = Some(Answer::Reply(reply));
        }
    }

    /// The app is killed and started again: the run and everything only in memory are
    /// gone; the store is what was written.
    pub fn reopen(&mut self) {
        let durable = self.core.store().snapshot();
        self.open(durable);
    }

    /// The store is replaced by `image` (an old image of this tablet, or another
    /// tablet's folder copied here), and the app started on it.
    pub fn restore(&mut self, image: MemDeviceSnapshot) {
        self.open(image);
    }

    fn open(&mut self, image: MemDeviceSnapshot) {
        self.run = None;
        self.dying = false;
        self.opening += 1;
        self.core = now_or_never(DeviceCore::open(
            MemDeviceStore::from_snapshot(image),
            self.host.clone(),
        ))
        .expect("a store image opens");
        self.core.set_sync_config(self.config);
    }

    /// What its store holds (an image of its folder).
    pub fn snapshot(&self) -> MemDeviceSnapshot {
        self.core.store().snapshot()
    }

    /// Every write after `writes_left` more fails: the battery is about to die.
    pub fn arm_death(&mut self, writes_left: u64) {
        self.core.store().set_faults(WriteFaults {
            writes_left: Some(writes_left),
            ..WriteFaults::default()
        });
        self.dying = true;
    }

    /// Pairs again (after being revoked), under the same registered actor.
    pub fn pair_again(&mut self, pairing: Pairing) -> Result<(), NodeError> {
        assert!(self.run.is_none(), "pairing waits for the run");
        now_or_never(self.core.set_pairing(pairing))
    }

    /// Applies `f` through the core's durable edit; the hashes of the changes saved.
    pub fn edit(
        &self,
        id: DocId,
        f: impl FnOnce(&mut Automerge) -> Result<(), NodeError>,
    ) -> Result<Vec<ChangeHash>, NodeError> {
        now_or_never(self.core.edit(id, |doc| {
            let before = doc.get_heads();
            f(doc)?;
            Ok(doc.get_changes(&before).iter().map(|c| c.hash()).collect())
        }))
    }

    /// Saves a document made on this tablet; the hashes of its changes.
    pub fn save_new(
        &self,
        id: DocId,
        doc: &Automerge,
        entry: IndexEntry,
    ) -> Result<Vec<ChangeHash>, NodeError> {
        now_or_never(self.core.save_new(id, doc, Some(entry)))?;
        Ok(doc.get_changes(&[]).iter().map(|c| c.hash()).collect())
    }

    /// The registered actor plus this opening's suffix.
    pub fn edit_actor(&self) -> automerge::ActorId {
        self.core
            .edit_actor(&self.pairing())
            .expect("a simulated actor is valid")
    }

    /// Folds loose changes into snapshots, as the app does when the rep pauses.
    pub fn compact(&self) {
        now_or_never(self.core.compact(None));
    }

    /// Its indexed documents.
    pub fn indexed(&self) -> Vec<IndexEntry> {
        now_or_never(self.core.store().indexed()).expect("the index reads")
    }

    /// Every stored document id, sorted.
    pub fn doc_ids(&self) -> Vec<DocId> {
        now_or_never(self.core.store().list_docs()).expect("the ids read")
    }

    /// Its copy of a document.
    pub fn doc(&self, id: DocId) -> Option<Automerge> {
        now_or_never(self.core.load(id)).expect("a stored document loads")
    }

    /// Its dirty documents.
    pub fn dirty(&self) -> Vec<DocId> {
        now_or_never(self.core.store().dirty()).expect("the dirty set reads")
    }

    /// Its stopped documents.
    pub fn stopped(&self) -> Vec<StoppedDoc> {
        now_or_never(self.core.store().stopped()).expect("the stopped documents read")
    }

    /// The store says the server revoked it.
    pub fn knows_revoked(&self) -> bool {
        now_or_never(self.core.store().sync_row())
            .expect("the sync row reads")
            .revoked
    }

    /// Clean runs ([`Self::sync_clean`]) until one completes, at most `runs` (a run that
    /// hit a transient error, such as the round-trip cap or a full response, ends and
    /// the next goes on from what it persisted); panics with every error otherwise.
    pub fn sync_complete(&mut self, transport: &mut Transport, runs: usize) -> RunSummary {
        let mut last = None;
        for _ in 0..runs {
            match self.sync_clean(transport) {
                Ok(summary) => return summary,
                Err(e) if e.is_transient() => last = Some(e),
                Err(e) => panic!("a clean sync of slot {} failed: {e}", self.slot),
            }
        }
        let last = last
            .map(|e| format!("{}: {e}", e.code()))
            .unwrap_or_default();
        panic!(
            "slot {} did not complete a clean run in {runs} (each failed; the last with {last})",
            self.slot
        );
    }

    /// One whole run with every request answered at once (the lead's writer, the
    /// healing rounds); no run may be in progress.
    pub fn sync_clean(&mut self, transport: &mut Transport) -> Result<RunSummary, NodeError> {
        assert!(self.run.is_none(), "a clean run needs the device idle");
        let mut run = self.core.begin_run();
        let mut answer = None;
        // A run's steps are bounded by its round-trip cap; this is a guard on top.
        for _ in 0..1_000_000 {
            match run.step(answer.take()) {
                Step::Store(call) => {
                    answer = Some(Answer::Store(now_or_never(call.run(self.core.store()))));
                }
                Step::Post(post) => {
                    let reply =
                        transport.answer(&post.token, &post.instance, Path::of(&post), &post.body);
                    answer = Some(Answer::Reply(Ok(reply)));
                }
                Step::Done(result) => return result,
            }
        }
        panic!("a clean sync run of slot {} did not end", self.slot)
    }
}
