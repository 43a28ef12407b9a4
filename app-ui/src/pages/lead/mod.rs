//! The lead's pages, against the server.

use leptos::prelude::*;

/// Sign-in.
#[component]
pub fn SignIn() -> impl IntoView {
    view! { <h1>"SignIn"</h1> }
}

/// The lead's programmes.
#[component]
pub fn Programmes() -> impl IntoView {
    view! { <h1>"Programmes"</h1> }
}

/// The programme status dashboard.
#[component]
pub fn Dashboard() -> impl IntoView {
    view! { <h1>"Dashboard"</h1> }
}

/// Programme settings.
#[component]
pub fn Settings() -> impl IntoView {
    view! { <h1>"Settings"</h1> }
}

/// The template editor.
#[component]
pub fn TemplateEditor() -> impl IntoView {
    view! { <h1>"TemplateEditor"</h1> }
}

/// The blank questionnaire for print.
#[component]
pub fn BlankForm() -> impl IntoView {
    view! { <h1>"BlankForm"</h1> }
}

/// Clients: import and editing.
#[component]
pub fn Clients() -> impl IntoView {
    view! { <h1>"Clients"</h1> }
}

/// Reps with capacity.
#[component]
pub fn Reps() -> impl IntoView {
    view! { <h1>"Reps"</h1> }
}

/// The assignment suggestion.
#[component]
pub fn Assignments() -> impl IntoView {
    view! { <h1>"Assignments"</h1> }
}

/// Pairing codes and devices.
#[component]
pub fn Devices() -> impl IntoView {
    view! { <h1>"Devices"</h1> }
}

/// Follow-ups.
#[component]
pub fn FollowUps() -> impl IntoView {
    view! { <h1>"FollowUps"</h1> }
}

/// Referrals.
#[component]
pub fn Referrals() -> impl IntoView {
    view! { <h1>"Referrals"</h1> }
}

/// Opportunities.
#[component]
pub fn Opportunities() -> impl IntoView {
    view! { <h1>"Opportunities"</h1> }
}
