//! The frame of the lead's pages: only for a signed-in lead, the session bar, a
//! programme's name and tabs, and the success line pages show after a change.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Redirect;
use rapport_api::routes;

use super::{I18n, Loaded, enc, use_pid};
use crate::components::ErrorBox;
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// Shows its children only to a signed-in lead; sends anyone else to the sign-in page.
#[component]
pub fn RequireSession(children: ChildrenFn) -> impl IntoView {
    let ctx = use_ctx();
    let signed_in = Memo::new(move |_| ctx.session.with(Option::is_some));
    move || {
        if signed_in.get() {
            children().into_any()
        } else {
            view! { <Redirect path="/lead/sign-in" /> }.into_any()
        }
    }
}

/// Who is signed in, and the sign-out button.
#[component]
pub(crate) fn SessionBar() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let sign_out = move |_| {
        spawn_local(async move {
            // The session ends here whatever the server says: a lost network must not
            // keep someone signed in on a shared tablet.
            let _ = ctx.fetch(routes::sign_out()).await;
            ctx.set_session(None);
        });
    };
    let name = move || ctx.session.with(|s| s.as_ref().map(|s| s.name.clone()));
    view! {
        <div class="session-bar no-print">
            <span class="muted">{t!(i18n, lead.session.signed_in_as)} " " <strong>{name}</strong></span>
            <button class="button ghost" data-testid="signout" on:click=sign_out>
                {t!(i18n, lead.session.sign_out)}
            </button>
        </div>
    }
}

/// The tabs of a programme's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tab {
    Dashboard,
    Clients,
    Reps,
    Assignments,
    Devices,
    Template,
    Settings,
    FollowUps,
    Meetings,
    Referrals,
    Opportunities,
}

impl Tab {
    const ALL: [Tab; 11] = [
        Tab::Dashboard,
        Tab::Clients,
        Tab::Reps,
        Tab::Assignments,
        Tab::Devices,
        Tab::Template,
        Tab::Settings,
        Tab::FollowUps,
        Tab::Meetings,
        Tab::Referrals,
        Tab::Opportunities,
    ];

    /// The route suffix and the test id's name.
    fn slug(self) -> (&'static str, &'static str) {
        match self {
            Tab::Dashboard => ("", "dashboard"),
            Tab::Clients => ("/clients", "clients"),
            Tab::Reps => ("/reps", "reps"),
            Tab::Assignments => ("/assignments", "assignments"),
            Tab::Devices => ("/devices", "devices"),
            Tab::Template => ("/template", "template"),
            Tab::Settings => ("/settings", "settings"),
            Tab::FollowUps => ("/follow-ups", "follow-ups"),
            Tab::Meetings => ("/meetings", "meetings"),
            Tab::Referrals => ("/referrals", "referrals"),
            Tab::Opportunities => ("/opportunities", "opportunities"),
        }
    }

    fn label(self, i18n: I18n) -> String {
        match self {
            Tab::Dashboard => t_string!(i18n, lead.nav.dashboard).to_string(),
            Tab::Clients => t_string!(i18n, lead.nav.clients).to_string(),
            Tab::Reps => t_string!(i18n, lead.nav.reps).to_string(),
            Tab::Assignments => t_string!(i18n, lead.nav.assignments).to_string(),
            Tab::Devices => t_string!(i18n, lead.nav.devices).to_string(),
            Tab::Template => t_string!(i18n, lead.nav.template).to_string(),
            Tab::Settings => t_string!(i18n, lead.nav.settings).to_string(),
            Tab::FollowUps => t_string!(i18n, lead.nav.follow_ups).to_string(),
            Tab::Meetings => t_string!(i18n, lead.nav.meetings).to_string(),
            Tab::Referrals => t_string!(i18n, lead.nav.referrals).to_string(),
            Tab::Opportunities => t_string!(i18n, lead.nav.opportunities).to_string(),
        }
    }
}

/// The route view of a programme's page: `body` in [`LeadPage`] with `tab` current.
pub(crate) fn page<B, V>(tab: Tab, body: B) -> impl Fn() -> AnyView + Clone + Send + 'static
where
    B: Fn() -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    move || {
        let body = body.clone();
        view! { <LeadPage tab=tab>{body()}</LeadPage> }.into_any()
    }
}

/// A programme's page: signed in, with the programme's name and its tabs.
#[component]
pub(crate) fn LeadPage(tab: Tab, children: ChildrenFn) -> impl IntoView {
    view! {
        <RequireSession>
            <ProgrammeFrame tab=tab body=children.clone() />
        </RequireSession>
    }
}

#[component]
fn ProgrammeFrame(tab: Tab, body: ChildrenFn) -> impl IntoView {
    let i18n = use_i18n();
    let pid = use_pid();
    let programme = Loaded::new(routes::programme(&pid));
    let name = move || programme.data.with(|p| p.as_ref().map(|p| p.name.clone()));
    let tabs = Tab::ALL
        .iter()
        .map(|&t| {
            let (suffix, id) = t.slug();
            let href = format!("/lead/{}{suffix}", enc(&pid));
            view! {
                <a
                    href=href
                    data-testid=format!("nav-{id}")
                    aria-current=(t == tab).then_some("page")
                >
                    {move || t.label(i18n)}
                </a>
            }
        })
        .collect_view();
    view! {
        <div class="lead-head no-print">
            <div class="row">
                <a class="button ghost" href="/lead">{t!(i18n, lead.nav.programmes)}</a>
                <h1 class="programme-name" data-testid="programme-name">{name}</h1>
                <span class="spacer"></span>
                <SessionBar />
            </div>
            <nav class="tabs" aria-label=move || t_string!(i18n, lead.nav.label).to_string()>
                {tabs}
            </nav>
            <ErrorBox error=programme.error />
        </div>
        {body()}
    }
}

/// A success message that says what was done; nothing when there is none.
#[component]
pub(crate) fn Success(#[prop(into)] text: Signal<Option<String>>) -> impl IntoView {
    move || {
        text.get().map(|text| {
            view! { <div class="success" role="status" data-testid="success">{text}</div> }
        })
    }
}
