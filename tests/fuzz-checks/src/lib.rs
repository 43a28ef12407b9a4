//! What Rapport's fuzz targets assert, on stable Rust: one module per target, each with a
//! `check` function that takes the raw input and panics when a promise is broken.
//!
//! The cargo-fuzz targets in `fuzz/` are one line each around these functions (libFuzzer
//! finds new inputs, `bash tools/fuzz.sh`), and `tests/corpus.rs` replays every committed
//! input of `fuzz/corpus/<target>/` through the same functions in the ordinary test run,
//! so a change that breaks a known input fails without nightly or a fuzz build.

pub mod protocol_decode;
pub mod server_sync;
pub mod sheets_import;
