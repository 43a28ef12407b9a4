//! Document storage.
