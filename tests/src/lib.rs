//! Shared helpers for Rapport's cross-crate tests.
//!
//! [`sim`] runs devices against the in-memory stateless server of
//! `rapport-protocol`, with faults injected per request, so that property tests
//! and fault scenarios drive the real sync sessions without sockets.

pub mod sim;
