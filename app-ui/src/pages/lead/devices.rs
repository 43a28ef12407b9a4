//! stub
use leptos::prelude::*;
/// Devices.
#[component]
pub fn Devices() -> impl IntoView {
    view! { <p>"Devices"</p> }
}
