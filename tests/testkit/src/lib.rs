//! The shared test harness of Rapport: the server in this process on SQLite or on a
//! fresh PostgreSQL database, a lead, a programme with reps and clients, and devices
//! ([`TestDevice`]: the shipped device core over an in-memory store) that pair and run
//! the core's sync over HTTP; and, for simulations of many devices with no sockets or
//! databases, a sync server and devices in memory ([`MemServer`], [`MemDevice`]) with
//! faults injected per request ([`Fault`]). The in-memory server is the server's own
//! sync algorithm over an in-memory store, the in-memory device the device core over
//! one, both driven without a runtime ([`now_or_never`]).
//!
//! Everything is re-exported here: `use rapport_testkit::*;` or named imports.
//! The helpers panic with a message on anything unexpected: they serve tests, where a
//! panic is the failure report.

mod device;
mod http;
mod mem_device;
mod mem_server;
mod pg;
mod poll;
mod server;
mod stored;
mod tls;
mod transport;
mod util;
mod wall_host;

pub use device::{TestDevice, random_actor};
pub use http::{call, error_code, sign_in};
pub use mem_device::{Fault, MemDevice, MemHost, RunStats};
pub use mem_server::{MemServer, MemServerSnapshot, Validator};
pub use pg::{Backend, PG_ENV, PgDb};
pub use poll::{drive_now, now_or_never};
pub use rapport_core::MemDeviceSnapshot;
pub use server::{PASSWORD, RepWorld, TestLead, TestServer, fresh_config};
pub use tls::{ChromiumTrust, TLS_NAMES, TestCa};
pub use transport::{RunReport, SyncFail};
pub use util::{
    POLL, decode_request, decode_response, eventually, fill_and_complete, heads_of, sorted_heads,
};
pub use wall_host::WallHost;
