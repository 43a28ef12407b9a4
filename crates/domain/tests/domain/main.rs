//! Integration tests of rapport-domain: one test binary (one link on 2 cores).

mod assign;
mod client;
mod common;
mod conflicts;
mod fuzz;
mod meeting;
mod programme_since;
mod review;
mod sizes;
mod status;
mod template_change;
mod text;
mod validation;
mod view;
