//! stub
use leptos::prelude::*;
/// Clients.
#[component]
pub fn Clients() -> impl IntoView {
    view! { <p>"Clients"</p> }
}
