//! A data table: column headings in the page's language, one row per item, and a
//! muted sentence instead of the table when there is nothing to show. [`table`] takes
//! rows built once; [`keyed_table`] keeps each row (and what is open or typed in it)
//! across changes of the list.

use std::hash::Hash;
use std::sync::Arc;

use leptos::prelude::*;

/// One column heading: its words (read again when the language changes) and whether
/// the column holds numbers (right-aligned).
pub struct Col {
    text: Option<Box<dyn Fn() -> String + Send + Sync>>,
    num: bool,
}

impl Col {
    /// A column headed `text`.
    pub fn new(text: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self {
            text: Some(Box::new(text)),
            num: false,
        }
    }

    /// A column of numbers headed `text`.
    pub fn num(text: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self {
            text: Some(Box::new(text)),
            num: true,
        }
    }

    /// A column without a heading (buttons).
    pub fn blank() -> Self {
        Self {
            text: None,
            num: false,
        }
    }
}

/// A column headed by a translation key: `col!(i18n, lead.reps.name)`, or with `num`
/// before the key for a column of numbers.
#[macro_export]
macro_rules! col {
    ($i18n:expr, num $($key:tt)+) => {
        $crate::components::Col::num(move || t_string!($i18n, $($key)+).to_string())
    };
    ($i18n:expr, $($key:tt)+) => {
        $crate::components::Col::new(move || t_string!($i18n, $($key)+).to_string())
    };
}

/// `rows` under the headings `cols`; `empty` (with `data-testid=empty_id`, if any)
/// as a muted sentence instead when there are no rows.
pub fn table<V: IntoView + 'static>(
    cols: Vec<Col>,
    rows: Vec<V>,
    empty: impl IntoView + 'static,
    empty_id: Option<&'static str>,
) -> AnyView {
    if rows.is_empty() {
        return view! { <p class="muted" data-testid=empty_id>{empty}</p> }.into_any();
    }
    let head = heading(Arc::new(cols));
    view! {
        <div class="table-wrap">
            <table>
                <thead>
                    <tr>{head}</tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The heading row's cells for `cols`.
fn heading(cols: Arc<Vec<Col>>) -> impl IntoView {
    (0..cols.len())
        .map(|i| {
            let num = cols[i].num;
            let cols = cols.clone();
            let text = move || cols[i].text.as_ref().map(|t| t());
            view! { <th class=num.then_some("num")>{text}</th> }
        })
        .collect_view()
}

/// Like [`table`], for rows with identity: the rows of `rows` under the headings
/// `cols`, one per `key` (a stable id), each drawn once by `row`.
///
/// A row is not rebuilt when the list changes: `row` gets the row as a signal that
/// follows the list, so an edit row open under it (and what is typed there) stays
/// open while the list reloads; rows come and go with their keys.
pub fn keyed_table<T, K, V>(
    cols: Vec<Col>,
    rows: Signal<Vec<T>>,
    key: impl Fn(&T) -> K + Clone + Send + Sync + 'static,
    row: impl Fn(Signal<T>) -> V + Clone + Send + Sync + 'static,
    empty: impl IntoView + Clone + Sync + 'static,
    empty_id: Option<&'static str>,
) -> impl IntoView
where
    T: Clone + PartialEq + Send + Sync + 'static,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let cols = Arc::new(cols);
    view! {
        <Show
            when=move || rows.with(|r| !r.is_empty())
            fallback=move || view! { <p class="muted" data-testid=empty_id>{empty.clone()}</p> }
        >
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>{heading(cols.clone())}</tr>
                    </thead>
                    <tbody>
                        <For each=move || rows.get() key=key.clone() children={
                            let key = key.clone();
                            let row = row.clone();
                            move |item| row(follow(rows, key.clone(), item))
                        } />
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

/// The row of `rows` with the key of `item`, as it changes; its last value once it
/// has left the list (until its view is dropped). For `<For>` children that must
/// show a row's new data without being built again.
pub fn follow<T, K>(
    rows: Signal<Vec<T>>,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
    item: T,
) -> Signal<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
    K: Eq + Send + Sync + 'static,
{
    let id = key(&item);
    Memo::new(move |last: Option<&T>| {
        rows.with(|list| list.iter().find(|r| key(r) == id).cloned())
            .or_else(|| last.cloned())
            .unwrap_or_else(|| item.clone())
    })
    .into()
}
