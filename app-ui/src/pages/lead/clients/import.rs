//! Importing clients from a CSV or XLSX file, with a dry run that only checks it, and
//! what the import did row by row.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::BTreeMap;

use rapport_api::lead::{ImportColumns, ImportOutcome, ImportQuery};
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

/// Where the lead's last column choice is kept (this browser), by header.
const SAVED_COLUMNS_KEY: &str = "rapport.import.columns";

fn saved_columns() -> BTreeMap<String, String> {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(SAVED_COLUMNS_KEY).ok().flatten())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Keeps `choice` for the next files (added to what was kept: other files' headers stay).
fn save_columns(choice: &BTreeMap<String, String>) {
    let mut kept = saved_columns();
    kept.extend(choice.iter().map(|(h, f)| (h.clone(), f.clone())));
    if let (Some(storage), Ok(text)) = (
        web_sys::window().and_then(|w| w.local_storage().ok().flatten()),
        serde_json::to_string(&kept),
    ) {
        let _ = storage.set_item(SAVED_COLUMNS_KEY, &text);
    }
}

/// A field's name in the page's language.
fn field_label(i18n: super::super::I18n, field: &str) -> String {
    match field {
        "company" => t_string!(i18n, lead.import.field_company),
        "segment" => t_string!(i18n, lead.import.field_segment),
        "original_rep" => t_string!(i18n, lead.import.field_original_rep),
        "relationship" => t_string!(i18n, lead.import.field_relationship),
        "monopolised" => t_string!(i18n, lead.import.field_monopolised),
        "contact_name" => t_string!(i18n, lead.import.field_contact_name),
        "contact_role" => t_string!(i18n, lead.import.field_contact_role),
        "contact_phone" => t_string!(i18n, lead.import.field_contact_phone),
        "contact_email" => t_string!(i18n, lead.import.field_contact_email),
        "notes" => t_string!(i18n, lead.import.field_notes),
        other => return other.to_owned(),
    }
    .to_string()
}

/// The chosen file: its name and bytes.
async fn read_file(file: &web_sys::File) -> Option<Vec<u8>> {
    JsFuture::from(file.array_buffer())
        .await
        .ok()
        .map(|buffer| js_sys::Uint8Array::new(&buffer).to_vec())
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
    // The chosen file's columns, and the field chosen for each ("" skips it).
    let columns = RwSignal::new(None::<ImportColumns>);
    let choice = RwSignal::new(BTreeMap::<String, String>::new());
    let remember = RwSignal::new(true);
    let chosen = move |_| {
        columns.set(None);
        outcome.set(None);
        error.set(None);
        let file = file_input
            .get_untracked()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0));
        let Some(file) = file else { return };
        let name = file.name();
        let route = routes::import_columns(&pid.get_value(), Some(&name));
        spawn_local(async move {
            let Some(bytes) = read_file(&file).await else {
                error.set(Some(ApiError::new(
                    "ui_file_unreadable",
                    t_string!(i18n, lead.import.unreadable).to_string(),
                )));
                return;
            };
            match ctx.upload(route, content_type(&name), bytes).await {
                Ok(found) => {
                    // What the lead chose for a header before wins over the guess.
                    let saved = saved_columns();
                    choice.set(
                        found
                            .columns
                            .iter()
                            .map(|c| {
                                let field = saved
                                    .get(&c.header)
                                    .cloned()
                                    .or_else(|| c.guess.clone())
                                    .unwrap_or_default();
                                (c.header.clone(), field)
                            })
                            .collect(),
                    );
                    columns.set(Some(found));
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
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
        // The lead's choice, once the file's columns are on the page.
        let mapping = columns
            .with_untracked(Option::is_some)
            .then(|| choice.get_untracked());
        if let Some(mapping) = &mapping
            && remember.get_untracked()
        {
            save_columns(mapping);
        }
        let query = ImportQuery {
            dry_run: dry_run.get_untracked(),
            filename: Some(name.clone()),
            columns: mapping.and_then(|m| serde_json::to_string(&m).ok()),
        };
        let route = routes::import_clients(&pid.get_value(), &query);
        spawn_local(async move {
            let Some(bytes) = read_file(&file).await else {
                error.set(Some(ApiError::new(
                    "ui_file_unreadable",
                    t_string!(i18n, lead.import.unreadable).to_string(),
                )));
                busy.set(false);
                return;
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
                <input id="import-file" type="file" accept=".csv,.xlsx" data-testid="import-file"
                    node_ref=file_input on:change=chosen />
                {move || columns.get().map(|found| view! { <ColumnChoice found choice remember /> })}
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

/// The file's columns beside Rapport's fields: the guess (or the lead's earlier choice)
/// picked, any other to pick.
#[component]
fn ColumnChoice(
    found: ImportColumns,
    choice: RwSignal<BTreeMap<String, String>>,
    remember: RwSignal<bool>,
) -> impl IntoView {
    let i18n = use_i18n();
    let fields = found.fields.clone();
    let rows = found
        .columns
        .into_iter()
        .enumerate()
        .map(|(n, column)| {
            let header = StoredValue::new(column.header.clone());
            let id = format!("import-column-{n}");
            let current =
                move || choice.with(|c| c.get(&header.get_value()).cloned().unwrap_or_default());
            let options = std::iter::once(String::new())
                .chain(fields.iter().cloned())
                .map(|field| {
                    let value = field.clone();
                    let selected = move || current() == value;
                    let label = field.clone();
                    view! {
                        <option value=field.clone() selected=selected>
                            {move || if label.is_empty() {
                                t_string!(i18n, lead.import.skip).to_string()
                            } else {
                                field_label(i18n, &label)
                            }}
                        </option>
                    }
                })
                .collect_view();
            view! {
                <tr>
                    <td><label for=id.clone()>{column.header.clone()}</label></td>
                    <td>
                        <select id=id data-testid="import-column" data-header=column.header.clone()
                            on:change=move |ev| {
                                let field = event_target_value(&ev);
                                choice.update(|c| {
                                    c.insert(header.get_value(), field);
                                });
                            }>
                            {options}
                        </select>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div data-testid="import-columns">
            <h3>{t!(i18n, lead.import.columns_title)}</h3>
            <p class="muted">{t!(i18n, lead.import.columns_hint)}</p>
            <table>
                <thead>
                    <tr>
                        <th>{t!(i18n, lead.import.column_header)}</th>
                        <th>{t!(i18n, lead.import.column_field)}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <Check testid="import-remember" value=remember>{t!(i18n, lead.import.remember)}</Check>
        </div>
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
