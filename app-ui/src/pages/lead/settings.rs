//! stub
use leptos::prelude::*;
/// Settings.
#[component]
pub fn Settings() -> impl IntoView {
    view! { <p>"Settings"</p> }
}
