//! Arbitrary bytes through the client import (CSV, XLSX) and format detection: nothing
//! panics and an accepted file keeps the import's promises. The check is
//! `rapport_fuzz_checks::sheets_import` (stable; the tests replay this corpus through it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rapport_fuzz_checks::sheets_import::check(data));
