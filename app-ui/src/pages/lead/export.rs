//! Export buttons: the programme's files (CSV, XLSX) downloaded with the lead's
//! session and saved ([`crate::save::save_file`]); in the app, the page says where.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::routes;

use super::use_pid;
use crate::components::ErrorBox;
use crate::save::save_file;
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
    // Where the app saved the last file (a browser shows its downloads itself).
    let saved = RwSignal::new(None::<String>);
    let buttons = files
        .iter()
        .map(|&file| {
            let get = move |_| {
                busy.set(true);
                error.set(None);
                saved.set(None);
                let route = routes::export(&pid.get_value(), file);
                spawn_local(async move {
                    let result = match ctx.download(route).await {
                        Ok(reply) => save_file(file, &reply.content_type, &reply.body).await,
                        Err(err) => Err(err),
                    };
                    match result {
                        Ok(path) => saved.set(path),
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
        {move || {
            saved
                .get()
                .map(|path| {
                    let said = t_string!(i18n, lead.export.saved, path = path.clone()).to_string();
                    view! {
                        <p class="muted no-print" role="status" data-testid="export-saved" data-path=path>
                            {said}
                        </p>
                    }
                })
        }}
        <ErrorBox error=error />
    }
}
