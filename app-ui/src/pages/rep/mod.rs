//! The rep's pages, on the device node: they work with no network at all.

use leptos::prelude::*;

/// Pairing this device with the server.
#[component]
pub fn Pair() -> impl IntoView {
    view! { <h1>"pair"</h1> }
}

/// The rep's clients.
#[component]
pub fn Clients() -> impl IntoView {
    view! { <h1>"clients"</h1> }
}

/// The visit questionnaire.
#[component]
pub fn Questionnaire() -> impl IntoView {
    view! { <h1>"visit"</h1> }
}

/// The print view of a visit (two sides of A4), blank or filled.
#[component]
pub fn Print() -> impl IntoView {
    view! { <h1>"print"</h1> }
}
