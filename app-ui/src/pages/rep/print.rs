//! Print view.
use leptos::prelude::*;

/// The print view of a visit (two sides of A4), blank or filled.
#[component]
pub fn Print() -> impl IntoView {
    view! { <h1>"print"</h1> }
}
