//! The binary frames of `POST /api/v1/sync`: types, limits, encoding and decoding.
//!
//! The byte layout is specified in the crate documentation; this module is the
//! reference implementation of it.

use std::collections::BTreeSet;

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
const FLAG_MORE: u8 = 0b01;
/// `flags` bit of a [`SyncResponse`]: the device must reconcile.
const FLAG_RECONCILE: u8 = 0b10;
/// Longest [`DocError::message`] in bytes; part of the format, not configurable.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Size of the fixed header: magic, version, kind.
const HEADER_LEN: usize = 5;
/// Smallest possible encoded [`DocMessage`]: 16-byte id + 1-byte zero length.
const MIN_DOC_MESSAGE_LEN: usize = 17;
/// Smallest possible encoded [`DocError`]: id + code + 1-byte zero length.
const MIN_DOC_ERROR_LEN: usize = 19;

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

/// Why bytes are not a valid frame. Nothing of the frame may be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Input ended inside a field.
    #[error("the frame is truncated: it ends inside a field (check the body was sent whole)")]
    Truncated,
    /// The first bytes are not `RPS`.
    #[error("not a Rapport sync frame: it does not start with \"RPS\" (wrong endpoint or body?)")]
    BadMagic,
    /// A version this implementation cannot read.
    #[error(
        "sync frame version {0} is not supported (this build reads version 1); update the app or server"
    )]
    UnsupportedVersion(u8),
    /// A request where a response was expected, or the reverse, or an unknown kind.
    #[error("expected frame kind {expected}, found {found}")]
    WrongKind {
        /// The kind byte wanted.
        expected: u8,
        /// The kind byte found.
        found: u8,
    },
    /// The whole frame is larger than allowed.
    #[error(
        "the frame is {len} bytes, more than the limit of {max}; send fewer documents per request"
    )]
    FrameTooLarge {
        /// Frame length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("a length or count is not a valid LEB128 varint")]
    BadVarint,
    /// The cursor is longer than allowed.
    #[error("the cursor is {len} bytes, more than the limit of {max}")]
    CursorTooLong {
        /// Cursor length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// Too many documents or errors in one frame.
    #[error("the frame lists {count} documents, more than the limit of {max}")]
    TooManyDocs {
        /// Count declared in the frame.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// One document's message is larger than allowed.
    #[error("the message for document {doc} is {len} bytes, more than the limit of {max}")]
    MessageTooLarge {
        /// The document.
        doc: DocId,
        /// Declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// An error message longer than 1 KiB.
    #[error(
        "the error message for document {doc} is {len} bytes, more than {MAX_ERROR_MESSAGE_BYTES}"
    )]
    ErrorMessageTooLong {
        /// The document.
        doc: DocId,
        /// Declared length.
        len: u64,
    },
    /// The same document twice in one frame.
    #[error("document {0} appears more than once in the frame")]
    DuplicateDoc(DocId),
    /// An error message that is not UTF-8.
    #[error("the error message for document {0} is not valid UTF-8")]
    InvalidUtf8(DocId),
    /// The `flags` byte has a bit this version does not know.
    #[error(
        "the flags byte has unknown bits: {0:#04x} (only 0x01 'more' and 0x02 'reconcile' exist)"
    )]
    BadFlag(u8),
    /// A document lists more heads than allowed.
    #[error("document {doc} lists {count} heads, more than the limit of {MAX_HEADS_PER_DOC}")]
    TooManyHeads {
        /// The document.
        doc: DocId,
        /// Heads declared.
        count: u64,
    },
    /// Bytes after the end of the frame.
    #[error("{0} unexpected bytes after the end of the frame")]
    TrailingBytes(usize),
}

impl DecodeError {
    /// A stable code for logs and HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated => "frame_truncated",
            Self::BadMagic => "frame_bad_magic",
            Self::UnsupportedVersion(_) => "frame_unsupported_version",
            Self::WrongKind { .. } => "frame_wrong_kind",
            Self::FrameTooLarge { .. } => "frame_too_large",
            Self::BadVarint => "frame_bad_varint",
            Self::CursorTooLong { .. } => "frame_cursor_too_long",
            Self::TooManyDocs { .. } => "frame_too_many_docs",
            Self::MessageTooLarge { .. } => "frame_message_too_large",
            Self::ErrorMessageTooLong { .. } => "frame_error_message_too_long",
            Self::DuplicateDoc(_) => "frame_duplicate_doc",
            Self::InvalidUtf8(_) => "frame_invalid_utf8",
            Self::BadFlag(_) => "frame_bad_flag",
            Self::TooManyHeads { .. } => "frame_too_many_heads",
            Self::TrailingBytes(_) => "frame_trailing_bytes",
        }
    }
}

/// Why a frame could not be encoded: it would break a [`Limits`] bound or the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The cursor is longer than allowed.
    #[error("the cursor is {len} bytes, more than the limit of {max}")]
    CursorTooLong {
        /// Cursor length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Too many documents or errors.
    #[error("{count} documents, more than the limit of {max} per frame; split the request")]
    TooManyDocs {
        /// Count.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// One document's message is too large.
    #[error("the message for document {doc} is {len} bytes, more than the limit of {max}")]
    MessageTooLarge {
        /// The document.
        doc: DocId,
        /// Length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An error message longer than 1 KiB (build errors with [`DocError::new`]).
    #[error(
        "the error message for document {doc} is {len} bytes, more than {MAX_ERROR_MESSAGE_BYTES}"
    )]
    ErrorMessageTooLong {
        /// The document.
        doc: DocId,
        /// Length.
        len: usize,
    },
    /// The same document twice.
    #[error("document {0} appears more than once")]
    DuplicateDoc(DocId),
    /// A document with more heads than a frame may carry.
    #[error("document {doc} has {count} heads, more than the limit of {MAX_HEADS_PER_DOC}")]
    TooManyHeads {
        /// The document.
        doc: DocId,
        /// Its heads.
        count: usize,
    },
    /// The whole frame would be too large.
    #[error("the frame would be {len} bytes, more than the limit of {max}; split it")]
    FrameTooLarge {
        /// Length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl EncodeError {
    /// A stable code for logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CursorTooLong { .. } => "encode_cursor_too_long",
            Self::TooManyDocs { .. } => "encode_too_many_docs",
            Self::MessageTooLarge { .. } => "encode_message_too_large",
            Self::ErrorMessageTooLong { .. } => "encode_error_message_too_long",
            Self::DuplicateDoc(_) => "encode_duplicate_doc",
            Self::TooManyHeads { .. } => "encode_too_many_heads",
            Self::FrameTooLarge { .. } => "encode_frame_too_large",
        }
    }
}

/// Bytes a varint of `n` takes.
pub(crate) fn varint_len(n: u64) -> usize {
    let bits = 64 - n.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Bytes an encoded [`DocMessage`] takes in a frame.
pub(crate) fn doc_message_len(message_len: usize) -> usize {
    16 + varint_len(message_len as u64) + message_len
}

/// Bytes of a frame header plus cursor, before the document list.
pub(crate) fn frame_overhead(cursor_len: usize) -> usize {
    // header, cursor, `more`, doc count, error count (counts up to 1000 take 2 bytes)
    HEADER_LEN + varint_len(cursor_len as u64) + cursor_len + 1 + 2 + 2
}

fn put_varint(out: &mut Vec<u8>, n: u64) {
    // Writing into a Vec cannot fail.
    let _ = leb128::write::unsigned(out, n);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn check_docs<'a>(
    docs: impl ExactSizeIterator<Item = (&'a DocId, usize)>,
    seen: &mut BTreeSet<DocId>,
    limits: &Limits,
    message_limit: usize,
    is_error: bool,
) -> Result<(), EncodeError> {
    if docs.len() > limits.max_docs {
        return Err(EncodeError::TooManyDocs {
            count: docs.len(),
            max: limits.max_docs,
        });
    }
    for (doc, len) in docs {
        if len > message_limit {
            return Err(if is_error {
                EncodeError::ErrorMessageTooLong { doc: *doc, len }
            } else {
                EncodeError::MessageTooLarge {
                    doc: *doc,
                    len,
                    max: message_limit,
                }
            });
        }
        if !seen.insert(*doc) {
            return Err(EncodeError::DuplicateDoc(*doc));
        }
    }
    Ok(())
}

fn check_cursor(cursor: &[u8], limits: &Limits) -> Result<(), EncodeError> {
    if cursor.len() > limits.max_cursor_bytes {
        return Err(EncodeError::CursorTooLong {
            len: cursor.len(),
            max: limits.max_cursor_bytes,
        });
    }
    Ok(())
}

fn check_frame(out: Vec<u8>, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
    if out.len() > limits.max_frame_bytes {
        return Err(EncodeError::FrameTooLarge {
            len: out.len(),
            max: limits.max_frame_bytes,
        });
    }
    Ok(out)
}

fn put_doc_messages(out: &mut Vec<u8>, docs: &[DocMessage]) {
    put_varint(out, docs.len() as u64);
    for d in docs {
        out.extend_from_slice(d.doc.as_bytes());
        put_bytes(out, &d.message);
    }
}

impl SyncRequest {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_cursor(&self.cursor, limits)?;
        check_docs(
            self.docs.iter().map(|d| (&d.doc, d.message.len())),
            &mut BTreeSet::new(),
            limits,
            limits.max_message_bytes,
            false,
        )?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[VERSION, KIND_REQUEST]);
        put_bytes(&mut out, &self.cursor);
        put_doc_messages(&mut out, &self.docs);
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_REQUEST, limits)?;
        let cursor = r.cursor()?;
        let mut seen = BTreeSet::new();
        let docs = r.doc_messages(&mut seen)?;
        r.finish()?;
        Ok(Self { cursor, docs })
    }
}

impl SyncResponse {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_cursor(&self.cursor, limits)?;
        let mut seen = BTreeSet::new();
        check_docs(
            self.docs.iter().map(|d| (&d.doc, d.message.len())),
            &mut seen,
            limits,
            limits.max_message_bytes,
            false,
        )?;
        check_docs(
            self.errors.iter().map(|e| (&e.doc, e.message.len())),
            &mut seen,
            limits,
            MAX_ERROR_MESSAGE_BYTES,
            true,
        )?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[VERSION, KIND_RESPONSE]);
        put_bytes(&mut out, &self.cursor);
        let mut flags = 0;
        if self.more {
            flags |= FLAG_MORE;
        }
        if self.reconcile {
            flags |= FLAG_RECONCILE;
        }
        out.push(flags);
        put_doc_messages(&mut out, &self.docs);
        put_varint(&mut out, self.errors.len() as u64);
        for e in &self.errors {
            out.extend_from_slice(e.doc.as_bytes());
            out.extend_from_slice(&e.code.to_u16().to_le_bytes());
            put_bytes(&mut out, e.message.as_bytes());
        }
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_RESPONSE, limits)?;
        let cursor = r.cursor()?;
        let flags = r.take(1)?[0];
        if flags & !(FLAG_MORE | FLAG_RECONCILE) != 0 {
            return Err(DecodeError::BadFlag(flags));
        }
        let mut seen = BTreeSet::new();
        let docs = r.doc_messages(&mut seen)?;
        let count = r.count(MIN_DOC_ERROR_LEN)?;
        let mut errors = Vec::with_capacity(count);
        for _ in 0..count {
            let doc = r.doc_id(&mut seen)?;
            let code = r.take(2)?;
            let code = ErrorCode::from_u16(u16::from_le_bytes([code[0], code[1]]));
            let len = r.varint()?;
            if len > MAX_ERROR_MESSAGE_BYTES as u64 {
                return Err(DecodeError::ErrorMessageTooLong { doc, len });
            }
            let bytes = r.take_len(len)?;
            let message = std::str::from_utf8(bytes)
                .map_err(|_| DecodeError::InvalidUtf8(doc))?
                .to_owned();
            errors.push(DocError { doc, code, message });
        }
        r.finish()?;
        Ok(Self {
            cursor,
            more: flags & FLAG_MORE != 0,
            docs,
            errors,
            reconcile: flags & FLAG_RECONCILE != 0,
        })
    }
}

fn header(kind: u8) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[VERSION, kind]);
    out
}

fn check_heads_count(count: usize) -> Result<(), EncodeError> {
    if count > MAX_HEADS_DOCS {
        return Err(EncodeError::TooManyDocs {
            count,
            max: MAX_HEADS_DOCS,
        });
    }
    Ok(())
}

impl HeadsRequest {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_heads_count(self.docs.len())?;
        let mut seen = BTreeSet::new();
        let mut out = header(KIND_HEADS_REQUEST);
        put_varint(&mut out, self.docs.len() as u64);
        for (doc, heads) in &self.docs {
            if !seen.insert(*doc) {
                return Err(EncodeError::DuplicateDoc(*doc));
            }
            if heads.len() > MAX_HEADS_PER_DOC {
                return Err(EncodeError::TooManyHeads {
                    doc: *doc,
                    count: heads.len(),
                });
            }
            out.extend_from_slice(doc.as_bytes());
            put_varint(&mut out, heads.len() as u64);
            for head in heads {
                out.extend_from_slice(head.as_ref());
            }
        }
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_HEADS_REQUEST, limits)?;
        // A document with no heads takes 17 bytes.
        let count = r.count_up_to(MAX_HEADS_DOCS, 17)?;
        let mut seen = BTreeSet::new();
        let mut docs = Vec::with_capacity(count);
        for _ in 0..count {
            let doc = r.doc_id(&mut seen)?;
            let n = r.varint()?;
            if n > MAX_HEADS_PER_DOC as u64 {
                return Err(DecodeError::TooManyHeads { doc, count: n });
            }
            let mut heads = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let bytes: [u8; 32] = r.take(32)?.try_into().map_err(|_| DecodeError::Truncated)?;
                heads.push(automerge::ChangeHash(bytes));
            }
            docs.push((doc, heads));
        }
        r.finish()?;
        Ok(Self { docs })
    }
}

impl HeadsResponse {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_heads_count(self.lacking.len() + self.stale.len())?;
        let mut seen = BTreeSet::new();
        let mut out = header(KIND_HEADS_RESPONSE);
        for list in [&self.lacking, &self.stale] {
            put_varint(&mut out, list.len() as u64);
            for doc in list {
                if !seen.insert(*doc) {
                    return Err(EncodeError::DuplicateDoc(*doc));
                }
                out.extend_from_slice(doc.as_bytes());
            }
        }
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_HEADS_RESPONSE, limits)?;
        let mut seen = BTreeSet::new();
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let count = r.count_up_to(MAX_HEADS_DOCS - seen.len(), 16)?;
            list.reserve(count);
            for _ in 0..count {
                list.push(r.doc_id(&mut seen)?);
            }
        }
        r.finish()?;
        let [lacking, stale] = lists;
        Ok(Self { lacking, stale })
    }
}

/// A bounds-checked cursor over a frame.
struct Reader<'a> {
    rest: &'a [u8],
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], kind: u8, limits: &'a Limits) -> Result<Self, DecodeError> {
        if input.len() > limits.max_frame_bytes {
            return Err(DecodeError::FrameTooLarge {
                len: input.len(),
                max: limits.max_frame_bytes,
            });
        }
        let mut r = Self {
            rest: input,
            limits,
        };
        let magic = r.take(MAGIC.len()).map_err(|_| DecodeError::BadMagic)?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let found = r.take(1)?[0];
        if found != kind {
            return Err(DecodeError::WrongKind {
                expected: kind,
                found,
            });
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Take `len` bytes, checking the declared length against the input first.
    fn take_len(&mut self, len: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        self.take(n)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut rest = self.rest;
        let n = leb128::read::unsigned(&mut rest).map_err(|e| match e {
            leb128::read::Error::IoError(_) => DecodeError::Truncated,
            leb128::read::Error::Overflow => DecodeError::BadVarint,
        })?;
        self.rest = rest;
        Ok(n)
    }

    fn cursor(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.varint()?;
        if len > self.limits.max_cursor_bytes as u64 {
            return Err(DecodeError::CursorTooLong {
                len,
                max: self.limits.max_cursor_bytes,
            });
        }
        Ok(self.take_len(len)?.to_vec())
    }

    /// A list count, checked against the limit and against what the input can hold.
    fn count(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        self.count_up_to(self.limits.max_docs, min_item_len)
    }

    /// A list count of at most `max` items.
    fn count_up_to(&mut self, max: usize, min_item_len: usize) -> Result<usize, DecodeError> {
        let count = self.varint()?;
        if count > max as u64 {
            return Err(DecodeError::TooManyDocs { count, max });
        }
        // Both bounds hold, so the cast is lossless and the capacity is small.
        let count = count as usize;
        if count.saturating_mul(min_item_len) > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(count)
    }

    fn doc_id(&mut self, seen: &mut BTreeSet<DocId>) -> Result<DocId, DecodeError> {
        let bytes: [u8; 16] = self
            .take(16)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        let doc = DocId::from_bytes(bytes);
        if !seen.insert(doc) {
            return Err(DecodeError::DuplicateDoc(doc));
        }
        Ok(doc)
    }

    fn doc_messages(&mut self, seen: &mut BTreeSet<DocId>) -> Result<Vec<DocMessage>, DecodeError> {
        let count = self.count(MIN_DOC_MESSAGE_LEN)?;
        let mut docs = Vec::with_capacity(count);
        for _ in 0..count {
            let doc = self.doc_id(seen)?;
            let len = self.varint()?;
            if len > self.limits.max_message_bytes as u64 {
                return Err(DecodeError::MessageTooLarge {
                    doc,
                    len,
                    max: self.limits.max_message_bytes,
                });
            }
            let message = self.take_len(len)?.to_vec();
            docs.push(DocMessage { doc, message });
        }
        Ok(docs)
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.rest.len()))
        }
    }
}
