//! stub
use leptos::prelude::*;
/// Reps.
#[component]
pub fn Reps() -> impl IntoView {
    view! { <p>"Reps"</p> }
}
