//! stub
use leptos::prelude::*;
/// Assignments.
#[component]
pub fn Assignments() -> impl IntoView {
    view! { <p>"Assignments"</p> }
}
