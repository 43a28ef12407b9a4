//! The app: translations, shared state, the top bar and the routes of every page.

use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::path;

use crate::components::TopBar;
use crate::device;
use crate::i18n::*;
use crate::pages::lead::Tab;
use crate::pages::{lead, rep};
use crate::state::Ctx;
use crate::transport::TransportKind;

/// The whole UI.
#[component]
pub fn App() -> impl IntoView {
    let ctx = Ctx::new(device::detect());
    provide_context(ctx);
    view! {
        <I18nContextProvider>
            <Router>
                <crate::pwa::UpdateBanner />
                <TopBar />
                <main class="page">
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=Home />
                        <Route path=path!("/index.html") view=Home />
                        // The rep's pages: the device node (the app's, or the one in the page), no
                        // network needed.
                        <Route path=path!("/rep") view=rep::Clients />
                        <Route path=path!("/rep/pair") view=rep::Pair />
                        <Route path=path!("/rep/visit/:id") view=rep::Questionnaire />
                        <Route path=path!("/rep/visit/:id/print") view=rep::Print />
                        // The lead's pages: the server.
                        <Route path=path!("/lead/sign-in") view=lead::SignIn />
                        <Route path=path!("/lead") view=lead::Programmes />
                        <Route path=path!("/lead/:pid") view=lead::page(Tab::Dashboard, lead::Dashboard) />
                        <Route path=path!("/lead/:pid/settings") view=lead::page(Tab::Settings, lead::Settings) />
                        <Route path=path!("/lead/:pid/template") view=lead::page(Tab::Template, lead::TemplateEditor) />
                        <Route path=path!("/lead/:pid/print") view=lead::BlankForm />
                        <Route path=path!("/lead/:pid/clients") view=lead::page(Tab::Clients, lead::Clients) />
                        <Route path=path!("/lead/:pid/reps") view=lead::page(Tab::Reps, lead::Reps) />
                        <Route path=path!("/lead/:pid/assignments") view=lead::page(Tab::Assignments, lead::Assignments) />
                        <Route path=path!("/lead/:pid/devices") view=lead::page(Tab::Devices, lead::Devices) />
                        <Route path=path!("/lead/:pid/follow-ups") view=lead::page(Tab::FollowUps, lead::FollowUps) />
                        <Route path=path!("/lead/:pid/referrals") view=lead::page(Tab::Referrals, lead::Referrals) />
                        <Route path=path!("/lead/:pid/opportunities") view=lead::page(Tab::Opportunities, lead::Opportunities) />
                    </Routes>
                </main>
            </Router>
        </I18nContextProvider>
    }
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
