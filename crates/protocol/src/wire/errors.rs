//! Why a frame cannot be decoded or encoded: each error with a stable code and a
//! message that says what to check.

use rapport_domain::DocId;

#[cfg(doc)]
use super::types::{DocError, Limits};
use super::types::{MAX_ERROR_MESSAGE_BYTES, MAX_HEADS_PER_DOC};

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
