//! Arbitrary bytes as a `SyncRequest` and as a `SyncResponse` frame: decoding never
//! panics and whatever decodes round-trips. The check is
//! `rapport_fuzz_checks::protocol_decode` (stable; the tests replay this corpus through it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rapport_fuzz_checks::protocol_decode::check(data));
