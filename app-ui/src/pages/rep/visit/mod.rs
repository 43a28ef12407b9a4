//! The visit questionnaire.
use leptos::prelude::*;

/// The visit questionnaire.
#[component]
pub fn Questionnaire() -> impl IntoView {
    view! { <h1>"visit"</h1> }
}
