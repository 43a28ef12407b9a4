//! The sync run as a sans-IO step machine: [`SyncRun::step`] says what to do next
//! ([`Step`]: post this body, read or write this in the store, the run is done); the
//! caller does it and hands the result back ([`Answer`]). The run itself does no IO and
//! reads no clock: it runs anywhere (tokio, the browser's event loop, a simulation that
//! drops, delays or kills between any two steps).
//!
//! Inside, the run is ordinary sequential code (`run::run`): an `async` body whose only
//! awaits are the steps of an [`Io`]. [`SyncRun::step`] polls it once with a no-op waker;
//! when it waits, the step it waits on is in the slot. So the body reads like the
//! protocol it implements, and the machine cannot be anything but that body.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use rapport_api::{RunSummary, StoppedDoc};
use rapport_domain::DocId;
use rapport_store::{StoreError, WriteBatch};

use crate::error::NodeError;
use crate::store::{DeviceStore, IndexEntry, Loaded, ResponseWrite, RunRecord, SyncRow};

/// What the run needs done next.
#[derive(Debug)]
pub enum Step {
    /// POST `body` (`application/octet-stream`) to `url` with `token` as the bearer
    /// token; answer [`Answer::Reply`].
    Post(Post),
    /// Do this in the device's store; answer [`Answer::Store`] (or let
    /// [`StoreCall::run`] do it on a [`DeviceStore`]).
    Store(StoreCall),
    /// The run ended: a summary, or why it failed. Further calls keep returning it.
    Done(Result<RunSummary, NodeError>),
}

/// One HTTP round trip the run asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// The whole URL (the server's base URL and the path).
    pub url: String,
    /// The device's bearer token.
    pub token: String,
    /// The request body.
    pub body: Vec<u8>,
    /// This opening of the device's store (hex of the 8 bytes drawn at open): sent as
    /// the `rapport-instance` header, it tells the server when two copies of one
    /// device's folder take turns (see the protocol crate's *When storage goes back in
    /// time*).
    pub instance: String,
}

/// What came back of a [`Post`]: the HTTP status and body, or why no answer came.
pub type Reply = Result<(u16, Vec<u8>), NoAnswer>;

/// Why a [`Post`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAnswer {
    /// The network or the server did not answer (the network's words): the run reports
    /// the server as unreachable, and sync tries again later.
    Unreachable(String),
    /// The server answered with a certificate this device does not trust: trying again
    /// does not help. The message says what to do (give the device the company's CA).
    UntrustedCertificate(String),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) | Self::UntrustedCertificate(reason) => f.write_str(reason),
        }
    }
}

impl From<String> for NoAnswer {
    fn from(reason: String) -> Self {
        Self::Unreachable(reason)
    }
}

impl From<&str> for NoAnswer {
    fn from(reason: &str) -> Self {
        Self::Unreachable(reason.to_owned())
    }
}

/// A read or a write in the device's store, one [`DeviceStore`] method each.
#[derive(Debug)]
#[allow(missing_docs)] // Each variant is the `DeviceStore` method of the same name.
pub enum StoreCall {
    LoadMany(Vec<DocId>),
    ListDocs,
    Commit(WriteBatch),
    SyncStates(Vec<DocId>),
    RetainSyncStates(Vec<DocId>),
    Pairing,
    SyncRow,
    SetRemoteCursor(Vec<u8>),
    RecordRun(i64, RunRecord),
    MarkDirty(Vec<DocId>, i64),
    ClearDirty(Vec<DocId>),
    Stop(Vec<StoppedDoc>),
    Unstop(Vec<DocId>),
    Stopped,
    Index(Vec<IndexEntry>),
    WriteResponse(ResponseWrite),
}

/// The result of a [`StoreCall`].
#[derive(Debug)]
#[allow(missing_docs)] // Each variant is the result of the calls that return it.
pub enum StoreAnswer {
    Docs(Vec<(DocId, Loaded)>),
    Ids(Vec<DocId>),
    States(HashMap<DocId, Vec<u8>>),
    Pairing(Option<crate::store::Pairing>),
    SyncRow(SyncRow),
    Stopped(Vec<StoppedDoc>),
    Done,
}

/// What the caller hands back for the last [`Step`].
#[derive(Debug)]
pub enum Answer {
    /// The reply to a [`Step::Post`].
    Reply(Reply),
    /// The result of a [`Step::Store`].
    Store(Result<StoreAnswer, StoreError>),
}

impl StoreCall {
    /// Does the call on `store`.
    pub async fn run<S: DeviceStore + ?Sized>(self, store: &S) -> Result<StoreAnswer, StoreError> {
        use StoreAnswer::{Docs, Done, Ids, States, Stopped};
        Ok(match self {
            Self::LoadMany(ids) => Docs(store.load_many(&ids).await?),
            Self::ListDocs => Ids(store.list_docs().await?),
            Self::Commit(batch) => store.commit(batch).await.map(|()| Done)?,
            Self::SyncStates(ids) => States(store.sync_states(&ids).await?),
            Self::RetainSyncStates(keep) => store.retain_sync_states(&keep).await.map(|()| Done)?,
            Self::Pairing => StoreAnswer::Pairing(store.pairing().await?),
            Self::SyncRow => StoreAnswer::SyncRow(store.sync_row().await?),
            Self::SetRemoteCursor(c) => store.set_remote_cursor(&c).await.map(|()| Done)?,
            Self::RecordRun(now, record) => store.record_run(now, &record).await.map(|()| Done)?,
            Self::MarkDirty(ids, now) => store.mark_dirty(&ids, now).await.map(|()| Done)?,
            Self::ClearDirty(ids) => store.clear_dirty(&ids).await.map(|()| Done)?,
            Self::Stop(s) => store.stop(&s).await.map(|()| Done)?,
            Self::Unstop(ids) => store.unstop(&ids).await.map(|()| Done)?,
            Self::Stopped => Stopped(store.stopped().await?),
            Self::Index(entries) => store.index(&entries).await.map(|()| Done)?,
            Self::WriteResponse(write) => store.write_response(write).await.map(|()| Done)?,
        })
    }

    /// Whether the call writes (a simulation kills a device between writes).
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Self::LoadMany(_)
                | Self::ListDocs
                | Self::SyncStates(_)
                | Self::Pairing
                | Self::SyncRow
                | Self::Stopped
        )
    }
}

/// The step being waited on, and the answer once given.
#[derive(Default)]
struct Slot {
    step: Option<Step>,
    answer: Option<Answer>,
}

/// The run body's side of the slot: each call yields one step and returns its answer.
#[derive(Clone)]
pub(crate) struct Io {
    slot: Arc<Mutex<Slot>>,
}

/// Resolves once the caller has put an answer in the slot.
struct Wait {
    slot: Arc<Mutex<Slot>>,
}

impl Future for Wait {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Answer> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        match slot.answer.take() {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        }
    }
}

/// An answer that does not fit the step (a caller's bug): the run stops with it.
fn mismatch(what: &str) -> NodeError {
    NodeError::Sync {
        code: "sync_step_mismatch",
        message: format!("the run was handed an answer that is not {what}"),
    }
}

impl Io {
    async fn yield_step(&self, step: Step) -> Answer {
        {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            slot.answer = None;
            slot.step = Some(step);
        }
        Wait {
            slot: self.slot.clone(),
        }
        .await
    }

    /// One HTTP round trip.
    pub(crate) async fn post(&self, post: Post) -> Result<Reply, NodeError> {
        match self.yield_step(Step::Post(post)).await {
            Answer::Reply(reply) => Ok(reply),
            Answer::Store(_) => Err(mismatch("an HTTP reply")),
        }
    }

    /// One store call.
    pub(crate) async fn store(&self, call: StoreCall) -> Result<StoreAnswer, NodeError> {
        match self.yield_step(Step::Store(call)).await {
            Answer::Store(result) => Ok(result?),
            Answer::Reply(_) => Err(mismatch("a store result")),
        }
    }

    /// A store write that returns nothing.
    pub(crate) async fn write(&self, call: StoreCall) -> Result<(), NodeError> {
        self.store(call).await.map(|_| ())
    }

    pub(crate) async fn load_many(
        &self,
        ids: Vec<DocId>,
    ) -> Result<Vec<(DocId, Loaded)>, NodeError> {
        match self.store(StoreCall::LoadMany(ids)).await? {
            StoreAnswer::Docs(docs) => Ok(docs),
            _ => Err(mismatch("documents")),
        }
    }

    pub(crate) async fn ids(&self, call: StoreCall) -> Result<Vec<DocId>, NodeError> {
        match self.store(call).await? {
            StoreAnswer::Ids(ids) => Ok(ids),
            _ => Err(mismatch("document ids")),
        }
    }

    pub(crate) async fn sync_states(
        &self,
        ids: Vec<DocId>,
    ) -> Result<HashMap<DocId, Vec<u8>>, NodeError> {
        match self.store(StoreCall::SyncStates(ids)).await? {
            StoreAnswer::States(states) => Ok(states),
            _ => Err(mismatch("sync states")),
        }
    }

    pub(crate) async fn pairing(&self) -> Result<Option<crate::store::Pairing>, NodeError> {
        match self.store(StoreCall::Pairing).await? {
            StoreAnswer::Pairing(p) => Ok(p),
            _ => Err(mismatch("the pairing")),
        }
    }

    pub(crate) async fn sync_row(&self) -> Result<SyncRow, NodeError> {
        match self.store(StoreCall::SyncRow).await? {
            StoreAnswer::SyncRow(row) => Ok(row),
            _ => Err(mismatch("the sync row")),
        }
    }

    pub(crate) async fn stopped_ids(&self) -> Result<Vec<DocId>, NodeError> {
        match self.store(StoreCall::Stopped).await? {
            StoreAnswer::Stopped(s) => Ok(s.into_iter().map(|s| s.doc_id).collect()),
            _ => Err(mismatch("the stopped documents")),
        }
    }
}

/// The run's body: `Send` where threads exist (a tokio task drives it), not on the web,
/// where the host's handles are not `Send`.
#[cfg(not(target_arch = "wasm32"))]
type Body = Pin<Box<dyn Future<Output = Result<RunSummary, NodeError>> + Send>>;
#[cfg(target_arch = "wasm32")]
type Body = Pin<Box<dyn Future<Output = Result<RunSummary, NodeError>>>>;

/// `Send` where threads exist; nothing on the web.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send> MaybeSend for T {}
/// `Send` where threads exist; nothing on the web.
#[cfg(target_arch = "wasm32")]
pub(crate) trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSend for T {}

/// One sync run, as a step machine. Make it with [`crate::DeviceCore::begin_run`]; call
/// [`Self::step`] with `None` first, then with the answer to each step, until
/// [`Step::Done`]. Dropping it mid-run is safe: everything the run persisted is
/// consistent at every step (a killed app resumes from it).
pub struct SyncRun {
    body: Option<Body>,
    slot: Arc<Mutex<Slot>>,
    done: Option<Result<RunSummary, NodeError>>,
}

impl std::fmt::Debug for SyncRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRun")
            .field("done", &self.done.is_some())
            .finish_non_exhaustive()
    }
}

impl SyncRun {
    pub(crate) fn new<F>(make: impl FnOnce(Io) -> F) -> Self
    where
        F: Future<Output = Result<RunSummary, NodeError>> + MaybeSend + 'static,
    {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let io = Io { slot: slot.clone() };
        Self {
            body: Some(Box::pin(make(io))),
            slot,
            done: None,
        }
    }

    /// The next step, given the answer to the previous one (`None` for the first).
    pub fn step(&mut self, answer: Option<Answer>) -> Step {
        if let Some(result) = &self.done {
            return Step::Done(clone_result(result));
        }
        if let Some(answer) = answer {
            self.slot.lock().unwrap_or_else(|p| p.into_inner()).answer = Some(answer);
        }
        let Some(body) = self.body.as_mut() else {
            return Step::Done(Err(mismatch("possible: the run is over")));
        };
        match body.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => {
                self.body = None;
                self.done = Some(clone_result(&result));
                Step::Done(result)
            }
            Poll::Pending => {
                let step = self
                    .slot
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .step
                    .take();
                // The body awaits nothing but steps; an answer missing for a step it
                // yielded earlier means the caller answered `None` mid-run.
                step.unwrap_or_else(|| {
                    Step::Done(Err(mismatch("missing: answer every step before the next")))
                })
            }
        }
    }

    /// Runs the whole machine on `store`, posting with `post`: the loop every native or
    /// in-memory caller writes, once.
    pub async fn drive<S, P, F>(mut self, store: &S, mut post: P) -> Result<RunSummary, NodeError>
    where
        S: DeviceStore + ?Sized,
        P: FnMut(Post) -> F,
        F: Future<Output = Reply>,
    {
        let mut answer = None;
        loop {
            match self.step(answer.take()) {
                Step::Post(p) => answer = Some(Answer::Reply(post(p).await)),
                Step::Store(call) => answer = Some(Answer::Store(call.run(store).await)),
                Step::Done(result) => return result,
            }
        }
    }
}

/// `NodeError` is not `Clone` (it wraps the store's and the domain's errors): a finished
/// run repeats its error as its code and words.
fn clone_result(result: &Result<RunSummary, NodeError>) -> Result<RunSummary, NodeError> {
    match result {
        Ok(summary) => Ok(summary.clone()),
        Err(NodeError::Revoked) => Err(NodeError::Revoked),
        Err(NodeError::NotPaired) => Err(NodeError::NotPaired),
        Err(e) => Err(NodeError::Sync {
            code: e.code(),
            message: e.to_string(),
        }),
    }
}
