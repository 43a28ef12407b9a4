//! stub
use leptos::prelude::*;
/// FollowUps.
#[component]
pub fn FollowUps() -> impl IntoView {
    view! { <p>"FollowUps"</p> }
}
/// Referrals.
#[component]
pub fn Referrals() -> impl IntoView {
    view! { <p>"Referrals"</p> }
}
/// Opportunities.
#[component]
pub fn Opportunities() -> impl IntoView {
    view! { <p>"Opportunities"</p> }
}
