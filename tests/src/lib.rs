//! Shared helpers for Rapport's cross-crate tests.
//!
//! The in-memory devices and server live in the test harness (`rapport_testkit`),
//! beside the HTTP ones; this crate holds the scenarios that need several
//! crates at once (domain documents over the protocol, the store, the server and
//! device nodes) and [`fault_proxy`], the TCP proxy the network-fault suite puts
//! between devices and the server; and [`text`], what the tests type.

pub mod fault_proxy;
pub mod text;
