//! The Rapport sync server: devices sync their documents, the programme lead signs in
//! and runs the programme through a JSON API, access control keeps each rep to their
//! clients. Stateless: everything that matters is in the database (PostgreSQL, or the
//! embedded SQLite file), so several processes can serve one PostgreSQL.

pub mod access;
pub mod accounts;
pub mod app;
pub mod auth;
pub mod backup;
pub mod checked_visits;
pub mod clock;
pub mod compactor;
pub mod config;
pub mod db;
pub mod demo;
pub mod edit;
pub mod error;
pub mod exports;
pub mod import;
pub mod live;
pub mod meetings;
pub mod programme_reads;
pub mod programmes;
pub mod projector;
pub mod results;
pub mod routes;
pub mod serve;
pub mod state;
pub mod status_rows;
pub mod sync;
pub mod tls;

pub use app::Server;
pub use clock::{now_ms, today};
pub use config::{Config, Overrides, Secret};
pub use error::{HttpError, HttpResult};
pub use state::AppState;
