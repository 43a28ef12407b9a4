//! stub
use leptos::prelude::*;
/// TemplateEditor.
#[component]
pub fn TemplateEditor() -> impl IntoView {
    view! { <p>"TemplateEditor"</p> }
}
/// BlankForm.
#[component]
pub fn BlankForm() -> impl IntoView {
    view! { <p>"BlankForm"</p> }
}
