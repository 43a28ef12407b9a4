//! An editable list of entries (the visit's contacts, referrals, opportunities and
//! follow-ups): the entries, or a muted sentence when there are none; under them the
//! add button, or the form while one is open ([`entry_list`], [`EntryForm`]).

use std::collections::HashMap;
use std::sync::Arc;

use leptos::prelude::*;
use rapport_api::ApiError;
use serde::Serialize;

use super::ErrorBox;
use crate::translations::i18n::*;

/// What an entry list shows and how it opens its form.
pub struct EntryList<T: Send + Sync + 'static, E: Clone + Send + Sync + 'static> {
    /// The entries, in order.
    pub rows: Memo<Vec<T>>,
    /// The sentence when there are none.
    pub empty: TextProp,
    /// The open form's draft: `None` closed; `Some(draft)` open on it.
    pub form: RwSignal<Option<E>>,
    /// The draft a new entry starts from.
    pub blank: E,
    /// The add button's test id (`contact-add`).
    pub add_testid: &'static str,
    /// The add button's words.
    pub add_label: TextProp,
}

/// The list `list` with each entry drawn by `row`, then the add button or the form
/// drawn by `form` for the open draft.
///
/// Rows are keyed by their content (`<For>`): when the visit changes (an entry saved,
/// a sync) only the entries that changed are drawn again.
pub fn entry_list<T, E, R, F, RV, FV>(list: EntryList<T, E>, row: R, form: F) -> impl IntoView
where
    T: Clone + PartialEq + Serialize + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
    R: Fn(T) -> RV + Send + Sync + 'static,
    RV: IntoView + 'static,
    F: Fn(E) -> FV + Send + Sync + 'static,
    FV: IntoView + 'static,
{
    let EntryList {
        rows,
        empty,
        form: open,
        blank,
        add_testid,
        add_label,
    } = list;
    let row = Arc::new(row);
    let none = Memo::new(move |_| rows.with(Vec::is_empty));
    let entries = move || {
        if none.get() {
            let empty = empty.clone();
            return view! { <p class="muted">{move || empty.get()}</p> }.into_any();
        }
        let row = row.clone();
        view! {
            <ul class="rep-entry-list">
                <For each=move || keyed(&rows.get()) key=|(k, _)| k.clone()
                    children=move |(_, entry)| row(entry) />
            </ul>
        }
        .into_any()
    };
    let add_or_form = move || match open.get() {
        Some(draft) => form(draft).into_any(),
        None => {
            let blank = blank.clone();
            let label = add_label.clone();
            view! {
                <button class="button ghost" data-testid=add_testid on:click=move |_| open.set(Some(blank.clone()))>
                    {move || label.get()}
                </button>
            }
            .into_any()
        }
    };
    view! {
        {entries}
        {add_or_form}
    }
}

/// Each entry with its key: its content as JSON, and a count when equal entries
/// repeat (keys must differ).
fn keyed<T: Clone + Serialize>(list: &[T]) -> Vec<(String, T)> {
    let mut seen = HashMap::<String, usize>::new();
    list.iter()
        .map(|entry| {
            let json = serde_json::to_string(entry).unwrap_or_default();
            let n = seen.entry(json.clone()).or_default();
            *n += 1;
            (format!("{json}#{n}"), entry.clone())
        })
        .collect()
}

/// An entry's form: the fields (children), the error, "Save" (`save_label`, test id
/// `save_testid`) and "Cancel" (`on_cancel`).
#[component]
pub fn EntryForm(
    /// The form's test id (`contact-form`).
    testid: &'static str,
    /// The save button's test id.
    save_testid: &'static str,
    /// The save button's words.
    #[prop(into)]
    save_label: TextProp,
    /// Why the last save failed, in the page's words.
    #[prop(into)]
    error: Signal<Option<ApiError>>,
    /// Saves what is typed.
    #[prop(into)]
    on_save: Callback<()>,
    /// Closes the form.
    #[prop(into)]
    on_cancel: Callback<()>,
    /// The fields.
    children: Children,
) -> impl IntoView {
    let i18n = use_i18n();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        on_save.run(());
    };
    view! {
        <form class="rep-form" data-testid=testid on:submit=submit>
            {children()}
            <ErrorBox error=error />
            <div class="row rep-actions">
                <button class="button" type="submit" data-testid=save_testid>{move || save_label.get()}</button>
                <button class="button ghost" type="button" on:click=move |_| on_cancel.run(())>
                    {t!(i18n, rep.contacts.cancel)}
                </button>
            </div>
        </form>
    }
}
