//! Rapport's sync protocol: the binary wire format of `POST /api/v1/sync` and
//! the sans-IO sync sessions on top of `automerge::sync`.
//!
//! No IO, no async, no clock: the device node and the server feed bytes and
//! documents in and persist what comes out.
//!
//! # Wire format, version 1
//!
//! One HTTP request body is one `SyncRequest` frame; the response body is one
//! `SyncResponse` frame. Notation: `u8` one byte; `u16le` two bytes, little
//! endian; `varint` an unsigned LEB128 integer (7 bits per byte, low groups
//! first, high bit = more bytes follow, at most 10 bytes / 64 bits);
//! `bytes` = `varint` length followed by that many bytes; `docid` = the 16 raw
//! bytes of a UUID (RFC 9562 byte order).
//!
//! ```text
//! frame        = magic version kind body            ; nothing may follow body
//! magic        = "RPS"  (0x52 0x50 0x53)
//! version      = u8 = 1
//! kind         = u8: 1 = SyncRequest, 2 = SyncResponse
//!
//! SyncRequest  body = cursor:bytes  docs:doc_list
//! SyncResponse body = cursor:bytes  more:u8 (0 | 1)  docs:doc_list  errors:error_list
//!
//! doc_list     = count:varint  count × (doc:docid  message:bytes)
//! error_list   = count:varint  count × (doc:docid  code:u16le  message:bytes)
//! ```
//!
//! - `cursor`: opaque to the device, at most 64 bytes, empty = start of the feed.
//! - `message`: an encoded `automerge::sync::Message` (first byte 0x42 or
//!   0x43). The frame codec does not parse it; the sessions do, and a bad one
//!   fails only its document ([`ErrorCode::Invalid`]), never the frame.
//! - error `message`: UTF-8, at most 1,024 bytes. `code` numbers
//!   ([`ErrorCode`]): 1 Forbidden, 2 Rejected, 3 Invalid, 4 TooLarge,
//!   5 NotFound, 6 Internal, 7 Retry (answered in a later request of the same
//!   run); unknown numbers must be kept and shown as unknown.
//! - A document id appears at most once per frame, across `docs` and `errors`.
//! - Limits ([`Limits::DEFAULT`]): 8 MiB per message, 1,000 entries per list,
//!   32 MiB per frame, 64-byte cursor. A receiver checks every length against
//!   the limits and the remaining input before allocating and rejects the whole
//!   frame with a [`DecodeError`] on any violation, on truncation, on a wrong
//!   magic, version or kind, on trailing bytes, on a duplicate id and on
//!   invalid UTF-8. A sender never produces such a frame ([`EncodeError`]).
//! - A new, incompatible layout gets a new version byte; a server may accept
//!   several versions, a device sends the newest the server supports.
//!
//! # The exchange
//!
//! Per document the frames carry standard automerge sync messages; sync states
//! are persisted only in their encoded form (`State::encode`, shared heads).
//! Two deviations from textbook automerge sync save round trips, which on the
//! stateless server are database transactions:
//!
//! - **Push on first message.** Whoever starts an exchange from a persisted
//!   state assumes the peer holds exactly the shared heads, and sends every
//!   change after them at once (both ends run this crate, so this is safe:
//!   duplicates are ignored and the server stores only changes new to it).
//! - **Feed documents** (changed after the device's cursor, readable by it) get
//!   a server message without the device asking; one whose persisted shared
//!   heads already cover the document is skipped.
//!
//! Resulting costs:
//! - Reconnect, nothing changed anywhere: one request (cursor only, ~15 B)
//!   and one response (new cursor, no documents, ~17 B), however many
//!   documents the device holds.
//! - Device changed k documents, nobody else did: one round trip carrying the
//!   new changes plus ~150 B per document; the server's answer (~100 B per
//!   document) acknowledges. (Measured in `tests/exchange.rs`.)
//! - Others changed documents too: round trip 1 carries the changes both ways,
//!   round trip 2 is a small acknowledgement so the server's persisted state
//!   records what the device now holds (next time nothing is resent).
//! - **First contact** (fresh device, empty cursor): the server sends every
//!   readable document as one compressed whole-document message (automerge's
//!   v2 "send the document" path) in round trip 1, paged by the frame limit
//!   with `more`; round trip 2 carries the device's acknowledgements. Plain
//!   automerge would need three round trips (heads → need → changes).
//!
//! A request lost on the way, or a response lost on the way back, is repaired
//! by [`DeviceSession::fail`]: the states of the documents in flight go back to
//! their persisted forms and are sent again; the server deduplicates, so a
//! retried upload stores nothing twice.

pub mod device;
pub mod memory;
pub mod server;
mod state;
pub mod wire;

pub use device::{DeviceConfig, DeviceSession, DocSet, Outcome, SessionError};
pub use memory::{Fault, MemDevice, MemDocSet, MemServer, RunStats};
pub use server::{DocCommit, FeedResult, Rejection, ServerExchange, ServerOutcome};
pub use wire::{
    DecodeError, DocError, DocMessage, EncodeError, ErrorCode, Limits, MAX_ERROR_MESSAGE_BYTES,
    SyncRequest, SyncResponse,
};
