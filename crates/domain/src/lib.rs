//! The VIP programme of DOMAIN.md as typed Rust, mapped to Automerge documents.
//!
//! Pure: no IO, no async. The server, the device node and the UI all build on it.

pub mod ids;

pub use ids::{DocId, ParseDocIdError};
