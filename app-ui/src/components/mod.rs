//! Building blocks the pages are made of: the page frame ([`chrome`]), "are you
//! sure?" ([`confirm`]), data tables
//! ([`table`]), sections that load their data ([`section`]), labelled fields
//! ([`field`]), the visit's editable entry lists ([`entries`]) and the rounds of its
//! review ([`rounds`]).

pub mod chrome;
pub mod confirm;
pub mod entries;
pub mod field;
pub mod rounds;
mod section;
pub mod table;

pub use chrome::{ErrorBox, Loading, TopBar};
pub use confirm::Confirm;
pub use entries::{EntryForm, EntryList, entry_list};
pub use field::{Actions, Check, DateInput, Field, Select};
pub use rounds::ReviewRounds;
pub use section::{CardHead, Loaded, follow_status, loaded, loaded_live};
pub use table::{Col, follow, keyed_table, table};
