//! The rep's pages, on the device node: they work with no network at all.
//!
//! - [`Pair`]: pairing this device with the server (once).
//! - [`Clients`]: the rep's clients with the state of each visit.
//! - [`Meetings`]: "Мои встречи", the meetings the rep plans with clients.
//! - [`Questionnaire`]: the VIP-анкета of one visit, saved on every keystroke.
//! - [`Print`]: the questionnaire on two sides of A4, filled or blank.

mod clients;
mod meetings;
mod pair;
mod print;
mod visit;

pub use clients::Clients;
pub use meetings::Meetings;
pub use pair::Pair;
pub use print::Print;
pub use visit::Questionnaire;

use leptos::prelude::*;
use rapport_api::{ApiError, DocSync};

use crate::translations::i18n::*;

/// The error with the rep's words for the codes the node gives on these pages; the
/// node's own message (already actionable) for the rest. `ErrorBox` then shows it.
fn localize(i18n: leptos_i18n::I18nContext<Locale>, err: ApiError) -> ApiError {
    let text = match err.code.as_str() {
        "bad_server_url" => Some(t_string!(i18n, rep.errors.bad_server_url).to_string()),
        "missing_code" => Some(t_string!(i18n, rep.errors.missing_code).to_string()),
        "invalid_pairing_code" => {
            Some(t_string!(i18n, rep.errors.invalid_pairing_code).to_string())
        }
        "offline" => Some(t_string!(i18n, rep.errors.offline).to_string()),
        "already_paired" => Some(t_string!(i18n, rep.errors.already_paired).to_string()),
        "not_found" => Some(t_string!(i18n, rep.errors.not_found).to_string()),
        "no_template" => Some(t_string!(i18n, rep.errors.no_template).to_string()),
        "visit_incomplete" => Some(t_string!(i18n, rep.errors.visit_incomplete).to_string()),
        "empty_required_field" => Some(t_string!(i18n, rep.errors.empty_field).to_string()),
        "invalid_date" => Some(t_string!(i18n, rep.errors.invalid_date).to_string()),
        "invalid_date_time" if err.message.contains("YYYY") => {
            Some(t_string!(i18n, rep.meetings.need_time).to_string())
        }
        "negative_value" | "not_finite" => Some(t_string!(i18n, rep.errors.bad_number).to_string()),
        "device_revoked" => Some(t_string!(i18n, rep.errors.revoked).to_string()),
        _ => None,
    };
    match text {
        Some(message) => ApiError { message, ..err },
        None => err,
    }
}

/// An error signal in the rep's words, for `ErrorBox`.
fn localized(error: impl Into<Signal<Option<ApiError>>>) -> Signal<Option<ApiError>> {
    let i18n = use_i18n();
    let error = error.into();
    Signal::derive(move || error.get().map(|e| localize(i18n, e)))
}

/// Whether a document still syncs, as a pill: synced, waiting, or stopped and why.
#[component]
fn DocSyncPill(sync: DocSync) -> impl IntoView {
    let i18n = use_i18n();
    let (state, class) = match &sync {
        DocSync::Synced => ("synced", "pill ok"),
        DocSync::Pending => ("pending", "pill warn"),
        DocSync::Stopped { .. } => ("stopped", "pill bad"),
    };
    // The server's own reason, for whoever helps the rep.
    let title = match &sync {
        DocSync::Stopped { message, .. } => Some(message.clone()),
        _ => None,
    };
    let text = move || match &sync {
        DocSync::Synced => t_string!(i18n, rep.doc_sync.synced).to_string(),
        DocSync::Pending => t_string!(i18n, rep.doc_sync.pending).to_string(),
        DocSync::Stopped { .. } => format!(
            "{}. {}",
            t_string!(i18n, rep.doc_sync.stopped),
            t_string!(i18n, rep.doc_sync.stopped_why)
        ),
    };
    view! {
        <span class=class data-testid="doc-sync" data-state=state title=title>
            {text}
        </span>
    }
}
