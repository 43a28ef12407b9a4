//! The pages: the rep's (device node) and the lead's (server).

pub mod lead;
pub mod rep;
