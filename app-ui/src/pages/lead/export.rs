//! Export buttons: the programme's files (CSV, XLSX) downloaded with the lead's
//! session.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::routes;

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
                            if let Err(err) =
                                crate::save::save_file(file, &reply.content_type, &reply.body).await
                            {
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
