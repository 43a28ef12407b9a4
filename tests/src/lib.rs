//! Shared helpers for Rapport's cross-crate tests.
