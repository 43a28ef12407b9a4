//! Export buttons: the programme's files (CSV, XLSX) downloaded with the lead's
//! session.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::routes;
use wasm_bindgen::{JsCast, JsValue};

use super::use_pid;
use crate::components::ErrorBox;
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// Export buttons: each downloads one file of `/api/v1/programmes/{id}/exports/{file}`.
#[component]
pub(crate) fn ExportLinks(files: &'static [&'static str]) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let buttons = files
        .iter()
        .map(|&file| {
            let get = move |_| {
                busy.set(true);
                error.set(None);
                let route = routes::export(&pid.get_value(), file);
                spawn_local(async move {
                    match ctx.download(route).await {
                        Ok(reply) => {
                            if let Err(err) = save_file(file, &reply.content_type, &reply.body) {
                                error.set(Some(err));
                            }
                        }
                        Err(err) => error.set(Some(err)),
                    }
                    busy.set(false);
                });
            };
            view! {
                <button
                    class="button ghost"
                    data-testid="export-link"
                    data-file=file
                    disabled=move || busy.get()
                    on:click=get
                >
                    {t!(i18n, lead.export.download)}
                    " "
                    {file}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="exports row no-print" role="group" aria-label=move || t_string!(i18n, lead.export.label).to_string()>
            <span class="muted">{t!(i18n, lead.export.label)}</span>
            {buttons}
        </div>
        <ErrorBox error=error />
    }
}

/// Hands `bytes` to the browser as a download named `name`: a Blob behind an object URL
/// and a temporary `<a download>` (the token is a header, so a plain link cannot work).
fn save_file(name: &str, content_type: &str, bytes: &[u8]) -> Result<(), ApiError> {
    let failed =
        |e: JsValue| ApiError::new("ui_download", format!("the file could not be saved: {e:?}"));
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(content_type);
    let blob =
        web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(failed)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(failed)?;
    let link: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(failed)?
        .dyn_into()
        .map_err(|_| ApiError::new("ui_download", "the file could not be saved"))?;
    link.set_href(&url);
    link.set_download(name);
    // `click()` lives on HtmlElement; calling it through JS keeps web-sys features as they are.
    let click = js_sys::Reflect::get(&link, &JsValue::from_str("click")).map_err(failed)?;
    if let Some(click) = click.dyn_ref::<js_sys::Function>() {
        click.call0(&link).map_err(failed)?;
    }
    // Some browsers read the URL after `click()` returns: free it a little later.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(())
}
