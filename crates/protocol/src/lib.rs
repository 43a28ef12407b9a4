//! Rapport's sync protocol: the binary wire format of `POST /api/v1/sync` and
//! the sans-IO sync sessions on top of `automerge::sync`.
//!
//! No IO, no async, no clock: the device core and the server feed bytes and
//! documents in and persist what comes out.
//!
//! An in-memory server and device that run these sessions with injected faults, for
//! tests and simulations, are in the test harness (`rapport-testkit`); the in-memory
//! server is the server's own request steps (`rapport-server`'s sync engine) over an
//! in-memory store (`rapport-store`'s `MemStore`) and the in-memory device is the device
//! core (`rapport-core`) over its in-memory store, so what the simulations show holds
//! for the server and the devices that ship.
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
//! SyncResponse body = cursor:bytes  flags:u8  docs:doc_list  errors:error_list
//! HeadsRequest  body = count:varint  count × (doc:docid  n:varint  n × hash)
//! HeadsResponse body = lacking:id_list  stale:id_list
//! id_list      = count:varint  count × doc:docid
//!
//! doc_list     = count:varint  count × (doc:docid  message:bytes)
//! error_list   = count:varint  count × (doc:docid  code:u16le  message:bytes)
//! hash         = 32 bytes (an Automerge change hash)
//! flags        = bit 0 (0x01) more: the feed has further pages, ask again
//!                bit 1 (0x02) reconcile: the server does not know the cursor (see
//!                *When storage goes back in time*); other bits must be 0
//! ```
//!
//! Kinds 3 and 4 (`POST /api/v1/sync/heads`) list at most 100,000 documents and
//! 256 heads per document ([`MAX_HEADS_DOCS`], [`MAX_HEADS_PER_DOC`]).
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
//!   document) acknowledges. (Measured in the test harness's `exchange` tests,
//!   `tests/testkit/tests/exchange.rs`.)
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
//!
//! # When storage goes back in time
//!
//! A server restored from a backup has lost what came after the backup; the devices
//! still hold it. A device restored from an old image (or a folder copied to a second
//! machine) holds less than the server believes it does. Both happen to real users, and
//! neither may lose a change or leave a document stuck. The repair:
//!
//! - **The store has an epoch**, a random id that a restore replaces (`rapport-server
//!   restore`; a PostgreSQL dump restored into another cluster is detected and
//!   renumbered at start). The server's cursor is `epoch ‖ feed position`.
//! - **An unknown cursor** (another epoch, or a position beyond the feed's newest: the
//!   store went back without a new epoch) gets a response with no documents, the
//!   `reconcile` flag and the start-of-feed cursor. The device then reconciles and runs
//!   again from the start of the feed (the server re-sends only what the device's
//!   persisted states do not cover).
//! - **Reconciling** ([`reconcile`]): the device sends the heads of every document it
//!   holds in one [`HeadsRequest`]. The server answers which of them it lacks a change
//!   of ([`HeadsResponse::lacking`], found by hash in its change table, no document is
//!   loaded), and forgets its sync state for every document whose state does not match
//!   the device's heads exactly ([`HeadsResponse::stale`]), and for every document the
//!   device did not list (a state claims what the device holds; after the device went
//!   back, such claims would make the feed skip what it lacks); the unlisted ones move
//!   to the head of the feed, since the device's cursor may be past them. The device
//!   forgets its own state for every lacking document and marks every lacking and
//!   stale document for sending: the next run uploads the lacking ones whole (the
//!   server stores only the changes new to it) and exchanges the stale ones, which
//!   brings the device what it lacks of them even when its cursor is past them.
//! - A device reconciles after the server asks, and in its first sync run after it
//!   opens its store: a restored or copied device folder is always opened before it is
//!   used. A server that went back without a new epoch gets back, at each device's
//!   next start, everything that device holds; but a device whose cursor the feed has
//!   passed again meanwhile would not see documents new to it that were written below
//!   its cursor: after a restore not made with `rapport-server restore`, run
//!   `rapport-server new-epoch`. Costs: one request of ~50 bytes per document held,
//!   once per start; normal runs do not change.
//! - **Who may upload**: every change's author must be an actor registered to the
//!   document's programme (its devices, any lead account), and the uploading device
//!   must itself be allowed to write the document; the uploader need not be the
//!   author. A device relays what it holds from its rep's other devices, which is what
//!   puts back what a restored server lost. (The author's *current* right to write is
//!   not required: after a restore it would refuse what a rep wrote before the client
//!   was reassigned. Automerge changes are not signed, so no rule can prove who wrote a
//!   change; the register keeps unknown and other programmes' actors out.)
//! - **Two copies of one folder used at once** (copied to a second tablet): both sync as
//!   the one device the folder names, and the server's sync states say what "the device"
//!   holds, so once one copy acknowledged a change the feed would skip it for the other.
//!   Each opening of a device's store draws a random instance, sent with every request
//!   ([`INSTANCE_HEADER`]); the server remembers the instance that reconciled last and
//!   answers a sync request from another instance with `reconcile`. The copies then pay
//!   a reconcile each time they take turns; one copy alone never does (it reconciles at
//!   each start anyway, which records its new instance).
//! - **Actors are never reused**: a device writes under its registered 16-byte actor
//!   plus 8 random bytes chosen each time it opens its store, so a restored or copied
//!   folder never mints a second change under a used (actor, sequence number).

/// The HTTP header of `POST /api/v1/sync` and `/api/v1/sync/heads` naming the opening of
/// the device's store that sends it (hex of random bytes drawn at each opening): see
/// *When storage goes back in time*, two copies of one folder.
pub const INSTANCE_HEADER: &str = "rapport-instance";

pub mod device;
pub mod doc_set;
pub mod reconcile;
pub mod server;
mod state;
pub mod wire;

pub use device::{DeviceConfig, DeviceSession, DocSet, Outcome, SessionError};
pub use doc_set::MemDocSet;
pub use server::{
    DocCommit, FeedResult, Incoming, NewChanges, Received, Rejection, ServerExchange,
    ServerOutcome, receive,
};
pub use wire::{
    DecodeError, DocError, DocMessage, EncodeError, ErrorCode, HeadsRequest, HeadsResponse, Limits,
    MAX_ERROR_MESSAGE_BYTES, MAX_HEADS_DOCS, MAX_HEADS_PER_DOC, SyncRequest, SyncResponse,
};
