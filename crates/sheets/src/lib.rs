//! Spreadsheets in and out of Rapport: the programme lead's client list is imported
//! from CSV or XLSX, and visits, follow-ups and referrals are exported as CSV and XLSX.
//!
//! Pure: bytes in → typed rows and per-row errors; typed table → bytes out. No IO, no
//! async. Every input is untrusted (this crate is a fuzz target): nothing panics, and
//! the work per call is bounded by [`Limits`].
//!
//! ```
//! use rapport_sheets::{Format, Limits, read_clients};
//! let csv = "Компания;Сегмент\nООО «Ромашка»;корпоративный\n";
//! let format = Format::detect(Some("клиенты.csv"), csv.as_bytes()).unwrap();
//! let report = read_clients(csv.as_bytes(), format, &Limits::default()).unwrap();
//! assert_eq!(report.rows[0].company, "ООО «Ромашка»");
//! assert_eq!(report.rows[0].line, 2);
//! ```

mod csv_in;
mod error;
mod export;
mod import;
mod raw;
mod xlsx_in;

pub use error::SheetError;
pub use export::{Cell, Table, write_csv, write_xlsx};
pub use import::{
    ClientField, ColumnMap, Format, ImportReport, ImportedClient, MAX_FIELD_CHARS, read_clients,
    read_clients_with, read_headers,
};
pub use raw::{Limits, RowError};
