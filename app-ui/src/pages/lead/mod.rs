//! The lead's pages, against the server: sign-in, the programme list, and per
//! programme its dashboard, setup (settings, template, clients, reps, assignments,
//! devices) and results (follow-ups, referrals, opportunities).
//!
//! Every page but sign-in sits in [`RequireSession`]; the programme's pages also in
//! [`LeadPage`] (programme name, tabs). Page bodies are built only once signed in, so
//! no request goes out without a token.

mod assignments;
mod blank;
mod clients;
mod dashboard;
mod devices;
mod programmes;
mod reps;
mod results;
mod settings;
mod sign_in;
mod template;

pub use assignments::Assignments;
pub use blank::BlankForm;
pub use clients::Clients;
pub use dashboard::Dashboard;
pub use devices::Devices;
pub use programmes::Programmes;
pub use reps::Reps;
pub use results::{FollowUps, Opportunities, Referrals};
pub use settings::Settings;
pub use sign_in::SignIn;
pub use template::TemplateEditor;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;
use rapport_api::ApiError;
use rapport_api::routes;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};

use crate::components::ErrorBox;
pub(crate) use crate::components::Loaded;
use crate::i18n::*;
use crate::state::use_ctx;

/// The translations handle, for helpers that turn values into words.
pub(crate) type I18n = leptos_i18n::I18nContext<Locale>;

/// A value as a URL path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// The programme id of the current route (`/lead/:pid/...`).
pub(crate) fn use_pid() -> String {
    use_params_map()
        .get_untracked()
        .get("pid")
        .unwrap_or_default()
}

/// The `snake_case` name serde gives a unit enum value (`in_progress`), for select values.
pub(crate) fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The unit enum value whose wire name is `name`.
pub(crate) fn from_wire<T: DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

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
fn SessionBar() -> impl IntoView {
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
    Referrals,
    Opportunities,
}

impl Tab {
    const ALL: [Tab; 10] = [
        Tab::Dashboard,
        Tab::Clients,
        Tab::Reps,
        Tab::Assignments,
        Tab::Devices,
        Tab::Template,
        Tab::Settings,
        Tab::FollowUps,
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
            Tab::Referrals => t_string!(i18n, lead.nav.referrals).to_string(),
            Tab::Opportunities => t_string!(i18n, lead.nav.opportunities).to_string(),
        }
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

/// Export buttons: each downloads one file of `/api/v1/programmes/{id}/exports/{file}`.
#[component]
pub(crate) fn ExportLinks(files: &'static [&'static str]) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let buttons = files
        .iter()
        .map(|&file| {
            let get = move |_| {
                busy.set(true);
                error.set(None);
                let route = routes::export(&pid.get_value(), file);
                spawn_local(async move {
                    match ctx.download(route).await {
                        Ok(reply) => {
                            if let Err(err) = save_file(file, &reply.content_type, &reply.body) {
                                error.set(Some(err));
                            }
                        }
                        Err(err) => error.set(Some(err)),
                    }
                    busy.set(false);
                });
            };
            view! {
                <button
                    class="button ghost"
                    data-testid="export-link"
                    data-file=file
                    disabled=move || busy.get()
                    on:click=get
                >
                    {t!(i18n, lead.export.download)}
                    " "
                    {file}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="exports row no-print" role="group" aria-label=move || t_string!(i18n, lead.export.label).to_string()>
            <span class="muted">{t!(i18n, lead.export.label)}</span>
            {buttons}
        </div>
        <ErrorBox error=error />
    }
}

/// Hands `bytes` to the browser as a download named `name`: a Blob behind an object URL
/// and a temporary `<a download>` (the token is a header, so a plain link cannot work).
fn save_file(name: &str, content_type: &str, bytes: &[u8]) -> Result<(), ApiError> {
    let failed =
        |e: JsValue| ApiError::new("ui_download", format!("the file could not be saved: {e:?}"));
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(content_type);
    let blob =
        web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(failed)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(failed)?;
    let link: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(failed)?
        .dyn_into()
        .map_err(|_| ApiError::new("ui_download", "the file could not be saved"))?;
    link.set_href(&url);
    link.set_download(name);
    // `click()` lives on HtmlElement; calling it through JS keeps web-sys features as they are.
    let click = js_sys::Reflect::get(&link, &JsValue::from_str("click")).map_err(failed)?;
    if let Some(click) = click.dyn_ref::<js_sys::Function>() {
        click.call0(&link).map_err(failed)?;
    }
    // Some browsers read the URL after `click()` returns: free it a little later.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(())
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
