//! Importing clients from a CSV or XLSX file, with a dry run that only checks it, and
//! what the import did row by row.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::lead::{ImportOutcome, ImportQuery};
use rapport_api::routes;
use rapport_api::{ApiError, Lang};
use wasm_bindgen_futures::JsFuture;

use super::super::use_pid;
use super::Data;
use crate::components::{Check, ErrorBox};
use crate::state::{use_ctx, use_lang};
use crate::translations::i18n::*;

/// The media type the server expects for a file name.
fn content_type(name: &str) -> &'static str {
    if name.to_lowercase().ends_with(".xlsx") {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else {
        "text/csv"
    }
}

#[component]
pub(super) fn ImportForm(data: Data) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let file_input = NodeRef::<html::Input>::new();
    let dry_run = RwSignal::new(false);
    let outcome = RwSignal::new(None::<ImportOutcome>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let file = file_input
            .get_untracked()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0));
        let Some(file) = file else {
            error.set(Some(ApiError::new(
                "ui_no_file",
                t_string!(i18n, lead.import.no_file).to_string(),
            )));
            return;
        };
        busy.set(true);
        error.set(None);
        outcome.set(None);
        let name = file.name();
        let query = ImportQuery {
            dry_run: dry_run.get_untracked(),
            filename: Some(name.clone()),
        };
        let route = routes::import_clients(&pid.get_value(), &query);
        spawn_local(async move {
            let bytes = match JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => js_sys::Uint8Array::new(&buffer).to_vec(),
                Err(_) => {
                    error.set(Some(ApiError::new(
                        "ui_file_unreadable",
                        t_string!(i18n, lead.import.unreadable).to_string(),
                    )));
                    busy.set(false);
                    return;
                }
            };
            match ctx.upload(route, content_type(&name), bytes).await {
                Ok(o) => {
                    if !o.dry_run {
                        data.reload();
                    }
                    outcome.set(Some(o));
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.import.title)}</h2>
            <p class="muted">{t!(i18n, lead.import.intro)}</p>
            <form on:submit=submit>
                <label for="import-file">{t!(i18n, lead.import.file)}</label>
                <input id="import-file" type="file" accept=".csv,.xlsx" data-testid="import-file" node_ref=file_input />
                <Check testid="import-dry-run" value=dry_run>{t!(i18n, lead.import.dry_run)}</Check>
                <div class="row form-actions">
                    <button class="button" type="submit" data-testid="import-submit" disabled=move || busy.get()>
                        {t!(i18n, lead.import.submit)}
                    </button>
                </div>
            </form>
            <ErrorBox error=error />
            {move || outcome.get().map(|o| view! { <ImportResult outcome=o /> })}
        </section>
    }
}

#[component]
fn ImportResult(outcome: ImportOutcome) -> impl IntoView {
    let i18n = use_i18n();
    let lang = use_lang();
    let o = outcome;
    let (imported, refused, dry) = (o.imported, o.errors.len(), o.dry_run);
    let summary = move || {
        if dry {
            t_string!(
                i18n,
                lead.import.result_dry,
                imported = imported,
                refused = refused
            )
            .to_string()
        } else {
            t_string!(
                i18n,
                lead.import.result,
                imported = imported,
                refused = refused
            )
            .to_string()
        }
    };
    let errors = o
        .errors
        .into_iter()
        .map(|e| {
            let column = e.column.clone();
            let (ru, en) = (e.message.clone(), e.message_en.clone());
            let text = move || match lang.get() {
                Lang::Ru => ru.clone(),
                Lang::En => en.clone(),
            };
            view! {
                <li data-testid="import-row-error" data-row=e.line.to_string() data-code=e.code.clone()>
                    <strong>{move || t_string!(i18n, lead.import.row, line = e.line).to_string()}</strong>
                    {column.map(|c| view! { " · " <span class="muted">{c}</span> })}
                    ": "
                    {text}
                </li>
            }
        })
        .collect_view();
    let warnings = o
        .warnings
        .into_iter()
        .map(|w| view! { <li data-testid="import-warning">{w}</li> })
        .collect_view();
    let class = if refused == 0 { "success" } else { "notice" };
    view! {
        <div class=class role="status" data-testid="import-result" data-imported=imported.to_string()
            data-refused=refused.to_string() data-dry-run=dry.to_string()>
            {summary}
        </div>
        <ul class="import-errors">{errors}</ul>
        <ul class="import-warnings muted">{warnings}</ul>
    }
}
