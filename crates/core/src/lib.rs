//! The device core: everything a rep's device decides, with no IO of its own.
//!
//! - **Edits** ([`DeviceCore::edit`]): the edit cache, the durable edit (dirty mark no
//!   later than the changes, both before the call returns), compaction's policy.
//! - **The rep's requests** ([`DeviceCore::handle`]): clients, visits, conflicts and
//!   history, meetings, the sync status — the typed [`rapport_api::Request`]s the UI sends.
//! - **The sync run** ([`DeviceCore::begin_run`]): a sans-IO step machine
//!   ([`SyncRun`]) that says "post this", "read or write this in the store", "done"; the
//!   caller does the IO and hands back the answer. With it the refusal and repair rules:
//!   stopped documents, reconciling after storage went back in time.
//! - **Pairing** ([`DeviceCore::begin_pairing`], [`PairFlow`]) and the **backoff** of
//!   automatic sync ([`schedule::backoff`]), decided here, done by the shell.
//!
//! It reads no clock and draws no randomness of its own ([`Host`]), uses no runtime, no
//! database driver and no HTTP client, and builds for `wasm32-unknown-unknown`. What a
//! device keeps is behind [`DeviceStore`]: the native node's encrypted SQLite file, the
//! browser's storage, [`MemDeviceStore`] in tests and the simulation. Every
//! implementation runs the same conformance suite (feature `conformance`).

mod device;
mod edits;
pub mod error;
mod host;
mod meetings;
mod mem_store;
pub mod pairing;
mod requests;
pub mod run;
pub mod schedule;
mod shown;
pub mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use device::DeviceCore;
pub use edits::{COMPACT_AFTER, COMPACT_IDLE_MS, FOLD_AFTER, FOLD_WORTH};
pub use error::NodeError;
pub use host::Host;
pub use mem_store::{MemDeviceSnapshot, MemDeviceStore, WriteFaults};
pub use pairing::{PairFlow, PairNext};
pub use rapport_protocol::INSTANCE_HEADER;
pub use run::{Answer, NoAnswer, Post, Reply, Step, StoreAnswer, StoreCall, SyncRun};
pub use store::{DeviceStore, IndexEntry, Loaded, Pairing, ResponseWrite, RunRecord, SyncRow};
