//! The binary frames of `POST /api/v1/sync`: types, limits, encoding and decoding.
//!
//! The byte layout is specified in the crate documentation; this module is the
//! reference implementation of it.

mod codec;
mod errors;
mod types;

pub(crate) use codec::{doc_message_len, frame_overhead, varint_len};
pub use errors::{DecodeError, EncodeError};
pub use types::*;
