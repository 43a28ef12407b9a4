//! `POST /api/v1/sync` on the real server app in this process: never a 5xx, a 200 is a
//! `SyncResponse`, an error the JSON body. The check, and the server it sets up once per
//! process, is `rapport_fuzz_checks::server_sync` (stable; the tests replay this corpus
//! through it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rapport_fuzz_checks::server_sync::check(data));
