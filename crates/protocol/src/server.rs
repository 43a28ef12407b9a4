//! The server side of one sync request, as a sans-IO exchange.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use automerge::sync::{Message, SyncDoc};
use automerge::{ActorId, Automerge, Change, ChangeHash};
use rapport_domain::DocId;
use rapport_store::{WholeDoc, is_one_document};

use crate::state::{load_state, preseed};
use crate::wire::{
    DocError, DocMessage, ErrorCode, Limits, MAX_ERROR_MESSAGE_BYTES, SyncRequest, SyncResponse,
    doc_message_len, frame_overhead, varint_len,
};

/// Why the caller's validation refused a document's new changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Sent to the device (usually [`ErrorCode::Rejected`] or [`ErrorCode::TooLarge`]).
    pub code: ErrorCode,
    /// What is wrong, for the person holding the device.
    pub message: String,
}

/// The changes of a received document that the server did not hold, as the check sees
/// them.
#[derive(Debug, Clone, Copy)]
pub enum NewChanges<'a> {
    /// Decoded changes (an increment).
    Changes(&'a [Change]),
    /// The whole document, sent so because the server had none of it: every change of
    /// it is new; their hashes. Its changes are not decoded unless a check asks.
    Whole(&'a [ChangeHash]),
}

impl<'a> NewChanges<'a> {
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Changes(changes) => changes.is_empty(),
            Self::Whole(hashes) => hashes.is_empty(),
        }
    }

    /// The author (actor) of each new change, each once, read without decoding the
    /// changes; `doc` is the document they were applied to.
    pub fn actors(&self, doc: &Automerge) -> Vec<ActorId> {
        let mut actors: Vec<ActorId> = match self {
            Self::Changes(changes) => changes.iter().map(|c| c.actor_id().clone()).collect(),
            Self::Whole(_) => doc
                .get_changes_meta(&[])
                .into_iter()
                .map(|m| m.actor.into_owned())
                .collect(),
        };
        actors.sort_unstable();
        actors.dedup();
        actors
    }

    /// The new changes, decoded: those of a whole document are encoded again from
    /// `doc`, which is dear; a check asks only when it must.
    pub fn decoded(&self, doc: &Automerge) -> Cow<'a, [Change]> {
        match self {
            Self::Changes(changes) => Cow::Borrowed(changes),
            Self::Whole(_) => Cow::Owned(doc.get_changes(&[])),
        }
    }
}

/// What to commit for one document, in the same transaction as all the others.
#[derive(Debug, Clone)]
pub struct DocCommit {
    /// The document.
    pub doc: DocId,
    /// Changes the server did not have before this request (may be empty).
    pub changes: Vec<Change>,
    /// The document as the device sent it, when the server had none of it and the device
    /// sent it whole (its first upload): stored as the bytes it came in, with `changes`
    /// empty, so no change is encoded again.
    pub whole: Option<WholeDoc>,
    /// The encoded sync state for (device, document) to persist.
    pub state: Vec<u8>,
}

impl DocCommit {
    /// How many changes it brings.
    pub fn change_count(&self) -> usize {
        self.changes.len() + self.whole.as_ref().map_or(0, |w| w.hashes().len())
    }
}

/// What [`ServerExchange::feed_doc`] did with a feed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedResult {
    /// A message (or a size error) for it is in the response.
    Added,
    /// Nothing to send: the device already has it all, or the device's own message covers it.
    Skipped,
    /// The response is full: end the feed page before this document (`more = true`).
    Full,
}

/// The result of one request: commit `commits` durably, then send `response`.
#[derive(Debug, Clone)]
pub struct ServerOutcome {
    /// Per document: new changes and the sync state to persist, all in ONE transaction.
    pub commits: Vec<DocCommit>,
    /// The reply, to send only after the commit succeeded.
    pub response: SyncResponse,
}

/// A device's message for one document, taken out of the request
/// ([`ServerExchange::take`]) to be [`receive`]d.
#[derive(Debug)]
pub struct Incoming {
    doc: DocId,
    message: Vec<u8>,
}

impl Incoming {
    /// The document the message is for.
    pub fn doc(&self) -> DocId {
        self.doc
    }
}

/// What [`receive`] made of a document's message: what to commit and the reply.
#[derive(Debug)]
pub struct Received {
    commit: DocCommit,
    reply: Option<Vec<u8>>,
}

/// Receives the device's message into `doc` (the server's copy, or an empty document
/// if new) and prepares the reply. `state` is the persisted sync state for (device,
/// document). `validate` sees the document with the new changes applied and the new
/// changes; an `Err` refuses them. On any error the document must be discarded: it may
/// hold changes that must not be committed. Touches nothing but its arguments, so the
/// documents of one request may be received on several threads at once.
pub fn receive(
    incoming: Incoming,
    doc: &mut Automerge,
    state: Option<&[u8]>,
    validate: impl FnOnce(&Automerge, NewChanges<'_>) -> Result<(), Rejection>,
) -> Result<Received, DocError> {
    let id = incoming.doc;
    let message = Message::decode(&incoming.message).map_err(|e| {
        DocError::new(
            id,
            ErrorCode::Invalid,
            format!("the sync message could not be read ({e}); nothing was stored"),
        )
    })?;
    let mut state = load_state(state, Some(doc));
    let before = doc.get_heads();
    // A document new here sent whole (one saved document, as a first upload is): kept
    // as it came, to be stored so.
    let sent_whole = match message.changes.iter().next() {
        Some(bytes) if before.is_empty() && message.changes.len() == 1 => {
            is_one_document(bytes).then(|| bytes.to_vec())
        }
        _ => None,
    };
    doc.receive_sync_message(&mut state, message).map_err(|e| {
        DocError::new(
            id,
            ErrorCode::Invalid,
            format!("the changes could not be applied ({e}); nothing was stored"),
        )
    })?;
    let whole = sent_whole.and_then(|bytes| {
        let hashes = doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| m.hash)
            .collect();
        WholeDoc::new(id, bytes, hashes)
    });
    // The check reads the new changes; a document sent whole is checked whole (every
    // change of it is new), without encoding its changes again.
    let changes: Vec<Change> = match &whole {
        Some(_) => Vec::new(),
        None => doc.get_changes(&before),
    };
    let new = match &whole {
        Some(whole) => NewChanges::Whole(whole.hashes()),
        None => NewChanges::Changes(&changes),
    };
    validate(doc, new).map_err(|r| DocError::new(id, r.code, r.message))?;
    let encoded_state = state.encode();
    let reply = doc.generate_sync_message(&mut state).map(Message::encode);
    Ok(Received {
        commit: DocCommit {
            doc: id,
            changes,
            whole,
            state: encoded_state,
        },
        reply,
    })
}

/// One `POST /api/v1/sync` on a stateless server.
///
/// 1. [`ServerExchange::new`] with the decoded request; read [`Self::requested`].
/// 2. For each requested document: [`Self::refuse`] it, or load it and its
///    persisted state for this device and call [`Self::sync_doc`].
/// 3. For each feed document after [`Self::cursor`] the device may read, in feed
///    order: [`Self::feed_doc`], stopping at [`FeedResult::Full`].
/// 4. [`Self::finish`] with the new cursor, commit, reply.
#[derive(Debug)]
pub struct ServerExchange {
    limits: Limits,
    cursor: Vec<u8>,
    incoming: BTreeMap<DocId, Vec<u8>>,
    handled: BTreeSet<DocId>,
    replies: Vec<DocMessage>,
    errors: Vec<DocError>,
    commits: Vec<DocCommit>,
    size: usize,
    /// Messages taken ([`Self::take`]) and not accepted yet: room is kept for their errors.
    taken: usize,
}

impl ServerExchange {
    /// Start handling a decoded request.
    pub fn new(request: SyncRequest, limits: Limits) -> Self {
        Self {
            size: frame_overhead(limits.max_cursor_bytes),
            limits,
            cursor: request.cursor,
            incoming: request
                .docs
                .into_iter()
                .map(|d| (d.doc, d.message))
                .collect(),
            handled: BTreeSet::new(),
            replies: Vec::new(),
            errors: Vec::new(),
            commits: Vec::new(),
            taken: 0,
        }
    }

    /// The device's feed cursor (empty on first contact: the feed starts at the beginning).
    pub fn cursor(&self) -> &[u8] {
        &self.cursor
    }

    /// Documents the device sent messages for that are not handled yet.
    pub fn requested(&self) -> Vec<DocId> {
        self.incoming.keys().copied().collect()
    }

    /// Refuse a requested document (no access, not found…): it gets a [`DocError`], nothing is committed.
    pub fn refuse(&mut self, doc: DocId, code: ErrorCode, message: impl Into<String>) {
        self.incoming.remove(&doc);
        self.handled.insert(doc);
        let _ = self.push_error(DocError::new(doc, code, message));
    }

    /// Receive the device's message for `doc` (the server's copy, or an empty
    /// document if new) and prepare the reply.
    ///
    /// `state` is the persisted sync state for (device, document). `validate`
    /// sees the document with the new changes applied and the new changes; an
    /// `Err` refuses them. On any error the document must be discarded: it may
    /// hold changes that must not be committed.
    pub fn sync_doc(
        &mut self,
        id: DocId,
        doc: &mut Automerge,
        state: Option<&[u8]>,
        validate: impl FnOnce(&Automerge, NewChanges<'_>) -> Result<(), Rejection>,
    ) -> Result<(), DocError> {
        let incoming = self.take(id)?;
        self.accept(receive(incoming, doc, state, validate))
    }

    /// Takes the device's message for `id` out of the request, to [`receive`] it
    /// elsewhere (another thread: the documents of one request are independent) and
    /// hand the result to [`Self::accept`]. [`Self::sync_doc`] is the three in a row.
    pub fn take(&mut self, id: DocId) -> Result<Incoming, DocError> {
        let Some(message) = self.incoming.remove(&id) else {
            return Err(self.push_error(DocError::new(
                id,
                ErrorCode::Internal,
                "the device sent no message for this document (or it was handled already)",
            )));
        };
        self.handled.insert(id);
        self.taken += 1;
        Ok(Incoming { doc: id, message })
    }

    /// Adds what [`receive`] made of a taken message to the exchange: the commit and
    /// the reply, or the error.
    pub fn accept(&mut self, received: Result<Received, DocError>) -> Result<(), DocError> {
        self.taken = self.taken.saturating_sub(1);
        let Received { commit, reply } = received.map_err(|e| self.push_error(e))?;
        let id = commit.doc;
        self.commits.push(commit);
        // The changes are committed whatever happens to the reply: the device
        // re-sends and the server deduplicates, so a missing reply costs bytes, not data.
        match reply {
            None => {}
            Some(message) if message.len() > self.limits.max_message_bytes => {
                let _ = self.push_error(DocError::new(
                    id,
                    ErrorCode::TooLarge,
                    format!(
                        "the server's changes for this document are {} bytes, more than the limit of {}",
                        message.len(),
                        self.limits.max_message_bytes
                    ),
                ));
            }
            Some(message) if !self.fits(message.len()) => {
                let _ = self.push_error(DocError::new(
                    id,
                    ErrorCode::Retry,
                    "the response is full; this document is answered in the next request",
                ));
            }
            Some(message) => self.push_reply(id, message),
        }
        Ok(())
    }

    /// Offer a feed document (changed after the cursor, readable by the device)
    /// with the persisted sync state for (device, document), if any.
    ///
    /// Sends every change after the state's shared heads in this response, and
    /// the whole compressed document when the device has never synced it, so a
    /// fresh device receives everything in its first round trip.
    pub fn feed_doc(&mut self, id: DocId, doc: &Automerge, state: Option<&[u8]>) -> FeedResult {
        if self.incoming.contains_key(&id) || self.handled.contains(&id) {
            return FeedResult::Skipped;
        }
        let mut state = load_state(state, Some(doc));
        let heads = doc.get_heads();
        if heads.iter().all(|h| state.shared_heads.contains(h)) {
            return FeedResult::Skipped;
        }
        if self.replies.len() >= self.limits.max_docs {
            return FeedResult::Full;
        }
        preseed(&mut state);
        let Some(message) = doc.generate_sync_message(&mut state).map(Message::encode) else {
            return FeedResult::Skipped;
        };
        if message.len() > self.limits.max_message_bytes {
            if self.errors.len() >= self.limits.max_docs || !self.fits_error() {
                return FeedResult::Full;
            }
            self.handled.insert(id);
            let _ = self.push_error(DocError::new(
                id,
                ErrorCode::TooLarge,
                format!(
                    "this document is {} bytes to send, more than the limit of {}",
                    message.len(),
                    self.limits.max_message_bytes
                ),
            ));
            return FeedResult::Added;
        }
        if !self.fits(message.len()) {
            return FeedResult::Full;
        }
        self.handled.insert(id);
        self.push_reply(id, message);
        FeedResult::Added
    }

    /// Finish with the new feed cursor and whether the feed has more pages.
    ///
    /// Any requested document not handled gets an [`ErrorCode::Internal`] error,
    /// so the device never waits for an answer that will not come.
    pub fn finish(mut self, cursor: Vec<u8>, more: bool) -> ServerOutcome {
        let unhandled: Vec<DocId> = self.incoming.keys().copied().collect();
        for id in unhandled {
            let _ = self.push_error(DocError::new(
                id,
                ErrorCode::Internal,
                "the server did not process this document; sync again later",
            ));
        }
        ServerOutcome {
            commits: self.commits,
            response: SyncResponse {
                cursor,
                more,
                docs: self.replies,
                errors: self.errors,
                reconcile: false,
            },
        }
    }

    fn fits(&self, message_len: usize) -> bool {
        self.size + doc_message_len(message_len) + self.error_reserve()
            <= self.limits.max_frame_bytes
    }

    fn fits_error(&self) -> bool {
        self.size + self.error_reserve() <= self.limits.max_frame_bytes
    }

    /// Room kept for errors of requested documents not handled yet.
    fn error_reserve(&self) -> usize {
        (self.incoming.len() + self.taken) * error_len(MAX_ERROR_MESSAGE_BYTES)
    }

    fn push_reply(&mut self, doc: DocId, message: Vec<u8>) {
        self.size += doc_message_len(message.len());
        self.replies.push(DocMessage { doc, message });
    }

    /// Add an error to the response; returns it for the caller's logs.
    fn push_error(&mut self, error: DocError) -> DocError {
        self.size += error_len(error.message.len());
        self.errors.push(error.clone());
        error
    }
}

fn error_len(message_len: usize) -> usize {
    16 + 2 + varint_len(message_len as u64) + message_len
}
