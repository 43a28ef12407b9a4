//! The frames' types, constants and limits.

use rapport_domain::DocId;

/// The first three bytes of every frame.
pub const MAGIC: [u8; 3] = *b"RPS";
/// The only frame format version this crate reads and writes.
pub const VERSION: u8 = 1;
/// Frame kind byte of a [`SyncRequest`].
pub const KIND_REQUEST: u8 = 1;
/// Frame kind byte of a [`SyncResponse`].
pub const KIND_RESPONSE: u8 = 2;
/// Frame kind byte of a [`HeadsRequest`].
pub const KIND_HEADS_REQUEST: u8 = 3;
/// Frame kind byte of a [`HeadsResponse`].
pub const KIND_HEADS_RESPONSE: u8 = 4;
/// Most documents in a [`HeadsRequest`] or [`HeadsResponse`]: a device lists everything
/// it holds in one request. Part of the format, not configurable.
pub const MAX_HEADS_DOCS: usize = 100_000;
/// Most heads of one document in a [`HeadsRequest`] (a document has one head per
/// writer that wrote concurrently; hundreds mean something is wrong).
pub const MAX_HEADS_PER_DOC: usize = 256;
/// `flags` bit of a [`SyncResponse`]: the feed has further pages.
pub(super) const FLAG_MORE: u8 = 0b01;
/// `flags` bit of a [`SyncResponse`]: the device must reconcile.
pub(super) const FLAG_RECONCILE: u8 = 0b10;
/// Longest [`DocError::message`] in bytes; part of the format, not configurable.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Size of the fixed header: magic, version, kind.
pub(super) const HEADER_LEN: usize = 5;
/// Smallest possible encoded [`DocMessage`]: 16-byte id + 1-byte zero length.
pub(super) const MIN_DOC_MESSAGE_LEN: usize = 17;
/// Smallest possible encoded [`DocError`]: id + code + 1-byte zero length.
pub(super) const MIN_DOC_ERROR_LEN: usize = 19;

/// Hard limits on frames, enforced by both encoding and decoding.
///
/// Both ends must use limits at least as large as the other end's, or frames
/// the sender accepts are refused by the receiver; keep the defaults unless
/// both sides change together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded automerge sync message for one document.
    pub max_message_bytes: usize,
    /// Most documents (messages, and separately errors) in one frame.
    pub max_docs: usize,
    /// Largest whole frame in bytes.
    pub max_frame_bytes: usize,
    /// Longest cursor in bytes.
    pub max_cursor_bytes: usize,
}

impl Limits {
    /// The defaults: 8 MiB per document message, 1,000 documents, 32 MiB frame, 64-byte cursor.
    pub const DEFAULT: Limits = Limits {
        max_message_bytes: 8 * 1024 * 1024,
        max_docs: 1000,
        max_frame_bytes: 32 * 1024 * 1024,
        max_cursor_bytes: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One document's automerge sync message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMessage {
    /// The document the message is about.
    pub doc: DocId,
    /// An encoded `automerge::sync::Message` (not validated by the frame codec).
    pub message: Vec<u8>,
}

/// Device → server: one request of a sync run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRequest {
    /// Opaque position in the server's change feed (empty on first contact).
    pub cursor: Vec<u8>,
    /// Messages for the documents the device wants to exchange.
    pub docs: Vec<DocMessage>,
}

/// Server → device: the reply to one [`SyncRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    /// The feed cursor to send next time (persist once the run is done).
    pub cursor: Vec<u8>,
    /// The feed has further pages after `cursor`: ask again.
    pub more: bool,
    /// Server messages, for documents the device sent and for feed documents.
    pub docs: Vec<DocMessage>,
    /// Documents the server refused or could not process.
    pub errors: Vec<DocError>,
    /// The server does not know the cursor the device sent: it was restored from a
    /// backup (another epoch) or went back in time. The device must reconcile
    /// ([`HeadsRequest`]) and continue from `cursor` (the start of the feed).
    pub reconcile: bool,
}

/// Device → server: the heads of every document the device holds, so the server can
/// say which of them it lacks changes of (`POST /api/v1/sync/heads`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeadsRequest {
    /// Every document the device holds, with its heads.
    pub docs: Vec<(DocId, Vec<automerge::ChangeHash>)>,
}

/// Server → device: the reply to a [`HeadsRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeadsResponse {
    /// Documents of the request the server lacks changes of: the device forgets its
    /// sync state of them and sends them whole in its next sync run.
    pub lacking: Vec<DocId>,
    /// Documents the server holds whole but whose record of what this device holds it
    /// forgot (it did not match the device's heads): the device exchanges them in its
    /// next sync run, which brings it what it lacks of them.
    pub stale: Vec<DocId>,
}

/// Why one document was not synchronised; the rest of the frame is unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    /// The document concerned.
    pub doc: DocId,
    /// What kind of failure, stable across versions.
    pub code: ErrorCode,
    /// A sentence a person can act on (UTF-8, at most 1 KiB).
    pub message: String,
}

impl DocError {
    /// A document error; a message longer than 1 KiB is cut at a character boundary.
    pub fn new(doc: DocId, code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE_BYTES {
            let mut end = MAX_ERROR_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Self { doc, code, message }
    }
}

/// The kind of a [`DocError`]; a `u16` on the wire, numbers never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The device may not read or write this document.
    Forbidden,
    /// The changes are well-formed but break a rule (schema, size, authorship).
    Rejected,
    /// The sync message could not be decoded or applied.
    Invalid,
    /// The document or its message exceeds a size limit.
    TooLarge,
    /// The document does not exist (and the device may not create it).
    NotFound,
    /// The server failed; retry later.
    Internal,
    /// The server deferred this document (response full); send it again in this run.
    Retry,
    /// A code this version does not know; preserved so it can be shown and re-sent.
    Unknown(u16),
}

impl ErrorCode {
    /// The number on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Forbidden => 1,
            Self::Rejected => 2,
            Self::Invalid => 3,
            Self::TooLarge => 4,
            Self::NotFound => 5,
            Self::Internal => 6,
            Self::Retry => 7,
            Self::Unknown(n) => n,
        }
    }

    /// The code for a wire number; unknown numbers are kept as [`ErrorCode::Unknown`].
    pub fn from_u16(n: u16) -> Self {
        match n {
            1 => Self::Forbidden,
            2 => Self::Rejected,
            3 => Self::Invalid,
            4 => Self::TooLarge,
            5 => Self::NotFound,
            6 => Self::Internal,
            7 => Self::Retry,
            n => Self::Unknown(n),
        }
    }

    /// Whether the refusal stops the document on the device: sending it again in this
    /// run would be refused again (the device retries it at its next start, or when the
    /// server sends it back). The others are transient.
    pub fn stops(self) -> bool {
        matches!(
            self,
            Self::Forbidden | Self::Rejected | Self::Invalid | Self::TooLarge | Self::NotFound
        )
    }

    /// A stable name for logs and UIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forbidden => "forbidden",
            Self::Rejected => "rejected",
            Self::Invalid => "invalid",
            Self::TooLarge => "too_large",
            Self::NotFound => "not_found",
            Self::Internal => "internal",
            Self::Retry => "retry",
            Self::Unknown(_) => "unknown",
        }
    }
}
