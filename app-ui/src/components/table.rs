//! A data table: column headings in the page's language, one row per item, and a
//! muted sentence instead of the table when there is nothing to show.

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
    let head = cols
        .into_iter()
        .map(|c| {
            let text = c.text.map(|t| move || t());
            view! { <th class=c.num.then_some("num")>{text}</th> }
        })
        .collect_view();
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
