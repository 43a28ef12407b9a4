//! The lead's pages, against the server: sign-in, the programme list, and per
//! programme its dashboard, setup (settings, template, clients, reps, assignments,
//! devices) and results (follow-ups, referrals, opportunities).
//!
//! Every page but sign-in sits in [`RequireSession`]; the programme's pages also in
//! [`frame::LeadPage`] (programme name, tabs). Page bodies are built only once
//! signed in, so no request goes out without a token. This module keeps the helpers
//! the pages share.

mod assignments;
mod blank;
mod clients;
mod dashboard;
mod devices;
mod export;
mod frame;
mod meetings;
mod programmes;
mod reps;
mod results;
mod settings;
mod sign_in;
mod template;
mod visit;

pub use assignments::Assignments;
pub use blank::BlankForm;
pub use clients::Clients;
pub use dashboard::Dashboard;
pub use devices::Devices;
pub use meetings::Meetings;
pub use programmes::Programmes;
pub use reps::Reps;
pub use results::{FollowUps, Opportunities, Referrals};
pub use settings::Settings;
pub use sign_in::SignIn;
pub use template::TemplateEditor;
pub use visit::VisitReview;

pub(crate) use export::ExportLinks;
pub(crate) use frame::{RequireSession, SessionBar, Success, Tab, page};

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::de::DeserializeOwned;

pub(crate) use crate::components::Loaded;
use crate::translations::i18n::*;

/// The translations handle, for helpers that turn values into words.
pub(crate) type I18n = leptos_i18n::I18nContext<Locale>;

/// A value as a URL path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// The programme id of the current route (`/lead/:pid/...`).
pub(crate) fn use_pid() -> String {
    use_params_map()
        .get_untracked()
        .get("pid")
        .unwrap_or_default()
}

/// The `snake_case` name serde gives a unit enum value (`in_progress`), for select values.
pub(crate) fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The unit enum value whose wire name is `name`.
pub(crate) fn from_wire<T: DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}
