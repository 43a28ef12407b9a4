//! Sign-in: e-mail and password (and, in the app, the server's address).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use rapport_api::lead::SignIn as SignInBody;
use rapport_api::{ApiError, Request, Response};

use crate::components::ErrorBox;
use crate::state::use_ctx;
use crate::translations::i18n::*;
use crate::transport::TransportKind;

/// Sign-in.
#[component]
pub fn SignIn() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let navigate = use_navigate();
    let in_app = ctx.kind() == TransportKind::App;
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let server = RwSignal::new(
        ctx.session
            .with_untracked(|s| s.as_ref().map(|s| s.server.clone()))
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    if in_app && server.get_untracked().is_empty() {
        // A paired tablet already knows its server: save the lead typing it.
        spawn_local(async move {
            if let Ok(Response::Device(info)) = ctx.node(Request::Device).await
                && server.get_untracked().is_empty()
            {
                server.set(info.server_url);
            }
        });
    }

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let body = SignInBody {
            email: email.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        let base = if in_app {
            server
                .get_untracked()
                .trim()
                .trim_end_matches('/')
                .to_owned()
        } else {
            String::new()
        };
        if in_app && base.is_empty() {
            error.set(Some(ApiError::new(
                "ui_no_server",
                t_string!(i18n, lead.sign_in.server_missing).to_string(),
            )));
            return;
        }
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let reply = ctx.sign_in(base, &body).await;
            busy.set(false);
            match reply {
                Ok(()) => navigate("/lead", Default::default()),
                Err(err) => error.set(Some(err)),
            }
        });
    };

    view! {
        <section class="card sign-in">
            <h1>{t!(i18n, lead.sign_in.title)}</h1>
            <p class="muted">{t!(i18n, lead.sign_in.intro)}</p>
            <form on:submit=submit>
                {in_app
                    .then(|| {
                        view! {
                            <label for="signin-server">
                                {t!(i18n, lead.sign_in.server)}
                                <span class="hint">{t!(i18n, lead.sign_in.server_hint)}</span>
                            </label>
                            <input
                                id="signin-server"
                                type="url"
                                data-testid="signin-server"
                                autocomplete="url"
                                placeholder="https://rapport.example.ru"
                                prop:value=move || server.get()
                                on:input=move |ev| server.set(event_target_value(&ev))
                            />
                        }
                    })}
                <label for="signin-email">{t!(i18n, lead.sign_in.email)}</label>
                <input
                    id="signin-email"
                    type="email"
                    data-testid="signin-email"
                    autocomplete="username"
                    required
                    prop:value=move || email.get()
                    on:input=move |ev| email.set(event_target_value(&ev))
                />
                <label for="signin-password">{t!(i18n, lead.sign_in.password)}</label>
                <input
                    id="signin-password"
                    type="password"
                    data-testid="signin-password"
                    autocomplete="current-password"
                    required
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
                <ErrorBox error=error />
                <div class="row form-actions">
                    <button class="button" type="submit" data-testid="signin-submit" disabled=move || busy.get()>
                        {t!(i18n, lead.sign_in.submit)}
                    </button>
                </div>
            </form>
        </section>
    }
}
