//! The documents the server refuses from a device: a row under the device with what
//! each is, why it was refused and when.

use leptos::prelude::*;
use rapport_api::lead::RefusedDoc;

use crate::format::date_time;
use crate::translations::i18n::*;

/// The row under a device's row that lists what the server refused from it.
#[component]
pub(super) fn RefusedRow(device_id: String, docs: Vec<RefusedDoc>) -> impl IntoView {
    let i18n = use_i18n();
    let count = docs.len();
    view! {
        <tr class="refused-row" data-testid="device-refused" data-device-id=device_id data-count=count.to_string()>
            <td colspan="5">
                <div class="notice" role="alert">
                    <p class="refused-title">
                        {move || t_string!(i18n, lead.devices.refused_title, count = count).to_string()}
                    </p>
                    <p class="small">{t!(i18n, lead.devices.refused_intro)}</p>
                    <ul class="refused-list">
                        {docs.into_iter().map(|doc| view! { <RefusedItem doc=doc /> }).collect_view()}
                    </ul>
                </div>
            </td>
        </tr>
    }
}

/// One refused document: what it is, why (the code in the lead's language, the
/// server's own sentence) and when it was last refused.
#[component]
fn RefusedItem(doc: RefusedDoc) -> impl IntoView {
    let i18n = use_i18n();
    let kind = doc.kind.clone();
    let kind_text = move || {
        match kind.as_deref() {
            Some("visit") => t_string!(i18n, lead.devices.refused_kind_visit),
            Some("client") => t_string!(i18n, lead.devices.refused_kind_client),
            Some("programme") => t_string!(i18n, lead.devices.refused_kind_programme),
            Some("programme_view") => t_string!(i18n, lead.devices.refused_kind_programme_view),
            _ => t_string!(i18n, lead.devices.refused_kind_unknown),
        }
        .to_string()
    };
    let code = doc.code.clone();
    let code_text = move || match code.as_str() {
        "forbidden" => t_string!(i18n, lead.devices.refused_code_forbidden).to_string(),
        "rejected" => t_string!(i18n, lead.devices.refused_code_rejected).to_string(),
        "invalid" => t_string!(i18n, lead.devices.refused_code_invalid).to_string(),
        "too_large" => t_string!(i18n, lead.devices.refused_code_too_large).to_string(),
        "not_found" => t_string!(i18n, lead.devices.refused_code_not_found).to_string(),
        other => other.to_owned(),
    };
    let (id, shown_id) = (doc.doc_id.clone(), doc.doc_id);
    view! {
        <li data-testid="refused-doc" data-doc-id=id data-code=doc.code.clone() data-kind=doc.kind.clone().unwrap_or_default()>
            <strong>{kind_text}</strong>
            {doc.client.map(|c| view! { " · " <strong>{c}</strong> })}
            " " <span class="pill bad">{code_text}</span>
            " " <span class="muted">{t!(i18n, lead.devices.refused_when)} " " {date_time(doc.at_ms)}</span>
            <br />
            <span class="small">{t!(i18n, lead.devices.refused_why)} " " {doc.message}</span>
            " " <code class="small muted" title=move || t_string!(i18n, lead.devices.refused_doc).to_string()>{shown_id}</code>
        </li>
    }
}
