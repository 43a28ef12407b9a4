//! The device side of a sync run, as a sans-IO state machine.

use std::collections::BTreeMap;

use automerge::Automerge;
use automerge::sync::{Message, State, SyncDoc};
use rapport_domain::DocId;
use rapport_store::is_one_document;

use crate::state::{load_state, preseed, same_heads};
use crate::wire::{
    DocError, DocMessage, ErrorCode, Limits, SyncRequest, SyncResponse, doc_message_len,
    frame_overhead,
};

/// The documents of the device, as the session needs them. The node implements
/// it over its store; tests over a map ([`crate::MemDocSet`]).
pub trait DocSet {
    /// The document, if the device has it.
    fn get(&self, id: &DocId) -> Option<&Automerge>;
    /// The document, created empty if the device does not have it yet.
    fn get_or_create(&mut self, id: &DocId) -> &mut Automerge;
    /// The persisted (encoded) sync state for this document, if any.
    fn load_state(&self, id: &DocId) -> Option<Vec<u8>>;
}

/// Settings of a device sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Frame limits (must match the server's).
    pub limits: Limits,
    /// Most requests in one run; a guard against a bug looping forever.
    pub max_round_trips: u32,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            limits: Limits::DEFAULT,
            max_round_trips: 64,
        }
    }
}

/// Why a run cannot continue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The run used its whole round-trip budget without becoming quiescent.
    #[error("sync stopped after {0} round trips without finishing; data is kept, sync again later")]
    RoundTripLimit(u32),
}

impl SessionError {
    /// A stable code for logs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RoundTripLimit(_) => "sync_round_trip_limit",
        }
    }
}

/// What one response did; persist it before the next call.
///
/// Order matters for crash safety: write the `changed` documents first (or in
/// the same transaction as) the `states`, because a state claims the document
/// holds certain changes; the `cursor` last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Documents whose content changed from server changes: save them.
    pub changed: Vec<DocId>,
    /// Of `changed`, those the device had nothing of and the server sent whole (one
    /// saved document): the bytes, to store as they came instead of their changes.
    pub wholes: Vec<(DocId, Vec<u8>)>,
    /// Encoded sync states to persist (only those that differ from the persisted ones).
    pub states: Vec<(DocId, Vec<u8>)>,
    /// Documents the server now has entirely, and we have the server's: take them out of the dirty set.
    pub synced: Vec<DocId>,
    /// Documents that failed this run: keep their data, keep (or put) them in the dirty set, show why.
    pub errors: Vec<DocError>,
    /// The feed cursor to persist; set only when the run is complete.
    pub cursor: Option<Vec<u8>>,
    /// Another round trip is needed: call [`DeviceSession::next_request`] again.
    pub more: bool,
}

/// What the session knows of one document during a run.
#[derive(Debug, Default)]
struct Entry {
    /// The persisted encoded state; `None` inside means "none persisted", outer `None` "not loaded yet".
    persisted: Option<Option<Vec<u8>>>,
    /// The live state; `None` = rebuild from `persisted` before use.
    state: Option<State>,
    /// A message generated but not yet sent.
    pending: Option<Vec<u8>>,
    /// In the outstanding request.
    in_flight: bool,
    /// Given up for this run.
    failed: bool,
}

/// One sync run of a device: request/response round trips until quiescent.
///
/// Drive it as
/// ```text
/// while let Some(req) = session.next_request(&mut docs)? {
///     match http_post(req.encode(&limits)?) {
///         Ok(body) => persist(session.handle_response(&mut docs, SyncResponse::decode(&body, &limits)?)),
///         Err(_) => session.fail(),   // or stop; the next run starts from the persisted state
///     }
/// }
/// ```
#[derive(Debug)]
pub struct DeviceSession {
    config: DeviceConfig,
    cursor: Vec<u8>,
    /// Ask the server for the feed even without messages (first request, further pages).
    pull_feed: bool,
    entries: BTreeMap<DocId, Entry>,
    round_trips: u32,
    outstanding: bool,
    errors: Vec<DocError>,
}

impl DeviceSession {
    /// Start a run from the persisted feed cursor (empty on first contact) and the
    /// dirty documents with their persisted sync states.
    pub fn new(
        config: DeviceConfig,
        cursor: Vec<u8>,
        dirty: impl IntoIterator<Item = (DocId, Option<Vec<u8>>)>,
    ) -> Self {
        let entries = dirty
            .into_iter()
            .map(|(id, persisted)| {
                let entry = Entry {
                    persisted: Some(persisted),
                    ..Entry::default()
                };
                (id, entry)
            })
            .collect();
        Self {
            config,
            cursor,
            pull_feed: true,
            entries,
            round_trips: 0,
            outstanding: false,
            errors: Vec::new(),
        }
    }

    /// Add a document edited during the run; its persisted state is loaded from `docs`.
    pub fn mark_dirty(&mut self, id: DocId) {
        let entry = self.entries.entry(id).or_default();
        // A later edit deserves another attempt even after a failure earlier in the run.
        entry.failed = false;
    }

    /// The next request to send, or `None` when the run is done.
    ///
    /// Calling it while a request is outstanding treats that request as lost ([`Self::fail`]).
    pub fn next_request(
        &mut self,
        docs: &mut impl DocSet,
    ) -> Result<Option<SyncRequest>, SessionError> {
        if self.outstanding {
            self.fail();
        }
        // Errors found here are kept in `errors()` (and reported by the next Outcome's caller via it).
        let _ = self.generate(docs);
        let any_pending = self.entries.values().any(|e| e.pending.is_some());
        if !any_pending && !self.pull_feed {
            return Ok(None);
        }
        if self.round_trips >= self.config.max_round_trips {
            return Err(SessionError::RoundTripLimit(self.round_trips));
        }
        let limits = self.config.limits;
        let mut size = frame_overhead(self.cursor.len());
        let mut request = SyncRequest {
            cursor: self.cursor.clone(),
            docs: Vec::new(),
        };
        for (id, entry) in &mut self.entries {
            if request.docs.len() >= limits.max_docs {
                break;
            }
            let Some(message) = &entry.pending else {
                continue;
            };
            let len = doc_message_len(message.len());
            if size + len > limits.max_frame_bytes {
                // Stays pending for the next request.
                continue;
            }
            size += len;
            entry.in_flight = true;
            if let Some(message) = entry.pending.take() {
                request.docs.push(DocMessage { doc: *id, message });
            }
        }
        if request.docs.is_empty() && !self.pull_feed {
            // Everything pending is larger than a frame; those docs failed in generate.
            return Ok(None);
        }
        self.pull_feed = false;
        self.round_trips += 1;
        self.outstanding = true;
        Ok(Some(request))
    }

    /// Apply the server's response; see [`Outcome`] for what to persist.
    pub fn handle_response(&mut self, docs: &mut impl DocSet, response: SyncResponse) -> Outcome {
        self.outstanding = false;
        let mut outcome = Outcome::default();
        let mut answered = std::collections::BTreeSet::new();

        for error in response.errors {
            answered.insert(error.doc);
            let entry = self.entries.entry(error.doc).or_default();
            // The server took nothing it did not commit: go back to the persisted state.
            entry.state = None;
            entry.pending = None;
            if error.code == ErrorCode::Retry {
                continue;
            }
            entry.failed = true;
            self.errors.push(error.clone());
            outcome.errors.push(error);
        }

        for DocMessage { doc: id, message } in response.docs {
            answered.insert(id);
            let entry = self.entries.entry(id).or_default();
            if entry.failed {
                continue;
            }
            let state = ensure_state(entry, &id, docs);
            let message = match Message::decode(&message) {
                Ok(m) => m,
                Err(e) => {
                    let error = DocError::new(
                        id,
                        ErrorCode::Invalid,
                        format!(
                            "the server sent a sync message this app cannot read ({e}); update the app"
                        ),
                    );
                    fail_entry(entry, error, &mut self.errors, &mut outcome.errors);
                    continue;
                }
            };
            let doc = docs.get_or_create(&id);
            let before = doc.get_heads();
            let sent_whole = match message.changes.iter().next() {
                Some(bytes) if before.is_empty() && message.changes.len() == 1 => {
                    is_one_document(bytes).then(|| bytes.to_vec())
                }
                _ => None,
            };
            let result = doc.receive_sync_message(state, message);
            let after = doc.get_heads();
            if !same_heads(&before, &after) {
                outcome.changed.push(id);
                if let (Ok(()), Some(bytes)) = (&result, sent_whole) {
                    outcome.wholes.push((id, bytes));
                }
            }
            if let Err(e) = result {
                let error = DocError::new(
                    id,
                    ErrorCode::Invalid,
                    format!("could not apply the server's changes ({e}); local data is kept"),
                );
                fail_entry(entry, error, &mut self.errors, &mut outcome.errors);
                continue;
            }
            if state
                .their_heads
                .as_deref()
                .is_some_and(|h| same_heads(h, &after))
            {
                outcome.synced.push(id);
            }
        }

        // A document in the request that the server neither answered nor refused.
        for (id, entry) in &mut self.entries {
            if entry.in_flight && !answered.contains(id) && !entry.failed {
                let error = DocError::new(
                    *id,
                    ErrorCode::Internal,
                    "the server did not answer for this document; it will be sent again next sync",
                );
                fail_entry(entry, error, &mut self.errors, &mut outcome.errors);
            }
            entry.in_flight = false;
        }

        // States to persist: what a decode would restore, so compare encoded forms.
        for (id, entry) in &mut self.entries {
            let Some(state) = &entry.state else { continue };
            if entry.failed {
                continue;
            }
            let encoded = state.encode();
            if entry.persisted.as_ref().and_then(|p| p.as_deref()) != Some(encoded.as_slice()) {
                entry.persisted = Some(Some(encoded.clone()));
                outcome.states.push((*id, encoded));
            }
        }

        self.cursor = response.cursor;
        self.pull_feed = response.more;
        // Generate now, so `more` is exact rather than a guess.
        outcome.errors.extend(self.generate(docs));
        outcome.more = self.pull_feed || self.entries.values().any(|e| e.pending.is_some());
        if !outcome.more {
            outcome.cursor = Some(self.cursor.clone());
        }
        outcome
    }

    /// The last request was lost (no response, or an unreadable one): forget
    /// what was in flight so it is sent again, from the persisted states.
    pub fn fail(&mut self) {
        self.outstanding = false;
        self.pull_feed = true;
        for entry in self.entries.values_mut() {
            if entry.in_flight {
                entry.in_flight = false;
                entry.state = None;
                entry.pending = None;
            }
        }
    }

    /// Every document error of this run so far.
    pub fn errors(&self) -> &[DocError] {
        &self.errors
    }

    /// Requests sent so far in this run.
    pub fn round_trips(&self) -> u32 {
        self.round_trips
    }

    /// The latest cursor the server gave (persist only via [`Outcome::cursor`]).
    pub fn cursor(&self) -> &[u8] {
        &self.cursor
    }

    /// Generate the messages of every active document that has something to say.
    fn generate(&mut self, docs: &mut impl DocSet) -> Vec<DocError> {
        let mut failed = Vec::new();
        let max = self.config.limits.max_message_bytes;
        for (id, entry) in &mut self.entries {
            if entry.failed || entry.pending.is_some() || entry.in_flight {
                continue;
            }
            let state = ensure_state(entry, id, docs);
            let empty;
            let doc = match docs.get(id) {
                Some(doc) => doc,
                None => {
                    // A dirty id with no local copy: ask the server for it.
                    empty = Automerge::new();
                    &empty
                }
            };
            let Some(message) = doc.generate_sync_message(state) else {
                continue;
            };
            let encoded = message.encode();
            if encoded.len() > max {
                let error = DocError::new(
                    *id,
                    ErrorCode::TooLarge,
                    format!(
                        "the changes to send are {} bytes, more than the limit of {max}; the document is kept on this device",
                        encoded.len()
                    ),
                );
                fail_entry(entry, error, &mut self.errors, &mut failed);
                continue;
            }
            entry.pending = Some(encoded);
        }
        failed
    }
}

/// The live state of `entry`, rebuilt (and preseeded) from the persisted one if needed.
fn ensure_state<'a>(entry: &'a mut Entry, id: &DocId, docs: &impl DocSet) -> &'a mut State {
    let persisted = entry
        .persisted
        .get_or_insert_with(|| docs.load_state(id))
        .as_deref();
    entry.state.get_or_insert_with(|| {
        let mut state = load_state(persisted, docs.get(id));
        preseed(&mut state);
        state
    })
}

fn fail_entry(
    entry: &mut Entry,
    error: DocError,
    all: &mut Vec<DocError>,
    now: &mut Vec<DocError>,
) {
    entry.failed = true;
    entry.state = None;
    entry.pending = None;
    all.push(error.clone());
    now.push(error);
}
