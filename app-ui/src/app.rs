//! The two bundles' apps: translations, shared state, the top bar and the routes of
//! their pages. The rep's bundle ([`RepApp`]) holds the start page and the rep's pages,
//! the lead's ([`LeadApp`]) the lead's pages; a path of the other one (a link in the
//! app's top bar, the start page sending a browser to the lead's pages) loads that
//! bundle in full.

use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::components::{Loading, TopBar};
use crate::device;
use crate::pages::lead::Tab;
use crate::pages::{lead, rep};
use crate::state::Ctx;
use crate::translations::i18n::*;
use crate::transport::TransportKind;

/// Whether `path` is one of the lead's pages, which the lead's bundle shows; every other
/// path (the start page, the rep's pages, a page not found) is the rep's bundle's.
/// start.js decides which bundle to start by the same rule: keep the two alike.
pub fn lead_path(path: &str) -> bool {
    path == "/lead" || path.starts_with("/lead/")
}

/// The rep's bundle: the start page and the rep's pages, on the device node (the app's,
/// or the one in the page): no network needed.
#[component]
pub fn RepApp() -> impl IntoView {
    provide_context(Ctx::new(device::for_rep()));
    view! {
        <I18nContextProvider>
            <Router>
                <crate::pwa::UpdateBanner />
                <TopBar />
                <main class="page">
                    <Routes fallback=|| other_bundle_or_not_found(lead_path)>
                        <Route path=path!("/") view=Home />
                        <Route path=path!("/index.html") view=Home />
                        <Route path=path!("/rep") view=rep::Clients />
                        <Route path=path!("/rep/pair") view=rep::Pair />
                        <Route path=path!("/rep/meetings") view=rep::Meetings />
                        <Route path=path!("/rep/visit/:id") view=rep::Questionnaire />
                        <Route path=path!("/rep/visit/:id/print") view=rep::Print />
                    </Routes>
                </main>
            </Router>
        </I18nContextProvider>
    }
}

/// The lead's bundle: the lead's pages, on the server.
#[component]
pub fn LeadApp() -> impl IntoView {
    provide_context(Ctx::new(device::for_lead()));
    view! {
        <I18nContextProvider>
            <Router>
                <TopBar />
                <main class="page">
                    <Routes fallback=|| other_bundle_or_not_found(|path| !lead_path(path))>
                        <Route path=path!("/lead/sign-in") view=lead::SignIn />
                        <Route path=path!("/lead") view=lead::Programmes />
                        <Route path=path!("/lead/:pid") view=lead::page(Tab::Dashboard, lead::Dashboard) />
                        <Route path=path!("/lead/:pid/settings") view=lead::page(Tab::Settings, lead::Settings) />
                        <Route path=path!("/lead/:pid/template") view=lead::page(Tab::Template, lead::TemplateEditor) />
                        <Route path=path!("/lead/:pid/print") view=lead::BlankForm />
                        <Route path=path!("/lead/:pid/clients") view=lead::page(Tab::Clients, lead::Clients) />
                        <Route path=path!("/lead/:pid/visits/:vid") view=lead::page(Tab::Clients, lead::VisitReview) />
                        <Route path=path!("/lead/:pid/reps") view=lead::page(Tab::Reps, lead::Reps) />
                        <Route path=path!("/lead/:pid/assignments") view=lead::page(Tab::Assignments, lead::Assignments) />
                        <Route path=path!("/lead/:pid/devices") view=lead::page(Tab::Devices, lead::Devices) />
                        <Route path=path!("/lead/:pid/follow-ups") view=lead::page(Tab::FollowUps, lead::FollowUps) />
                        <Route path=path!("/lead/:pid/meetings") view=lead::page(Tab::Meetings, lead::Meetings) />
                        <Route path=path!("/lead/:pid/referrals") view=lead::page(Tab::Referrals, lead::Referrals) />
                        <Route path=path!("/lead/:pid/opportunities") view=lead::page(Tab::Opportunities, lead::Opportunities) />
                    </Routes>
                </main>
            </Router>
        </I18nContextProvider>
    }
}

/// A path no route of this bundle matches: when it belongs to the other bundle (a link
/// or redirect inside the app crossed over), the page loads it in full, so start.js
/// starts that bundle; otherwise "not found". The load waits for the router to finish
/// this navigation (it may write the address after rendering), then takes the place of
/// its history entry.
fn other_bundle_or_not_found(others: fn(&str) -> bool) -> AnyView {
    let location = use_location();
    let path = location.pathname.get_untracked();
    if others(&path) {
        let (search, hash) = (
            location.search.get_untracked(),
            location.hash.get_untracked(),
        );
        let mut href = path;
        if !search.is_empty() {
            href = format!("{href}?{search}");
        }
        if !hash.is_empty() {
            href = format!("{href}#{}", hash.trim_start_matches('#'));
        }
        set_timeout(
            move || {
                if let Some(window) = web_sys::window() {
                    let _ = window.location().replace(&href);
                }
            },
            std::time::Duration::ZERO,
        );
        return view! { <Loading /> }.into_any();
    }
    view! { <NotFound /> }.into_any()
}

/// The start page: the rep's client list in the app and in a browser that holds a
/// paired device; the lead's pages in any other browser.
#[component]
fn Home() -> impl IntoView {
    let ctx = crate::state::use_ctx();
    let target = match ctx.kind() {
        TransportKind::App => "/rep",
        TransportKind::Browser if device::paired_here() => "/rep",
        TransportKind::Browser => "/lead",
    };
    view! { <Redirect path=target /> }
}

#[component]
fn NotFound() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card">
            <h1>{t!(i18n, common.not_found.title)}</h1>
            <p>{t!(i18n, common.not_found.text)}</p>
            <a class="button" href="/">{t!(i18n, common.not_found.home)}</a>
        </section>
    }
}
