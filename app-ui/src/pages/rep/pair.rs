//! Pairing this device with the server: the address and the lead's one-time code.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use rapport_api::{ApiError, PairRequest, Request, Response};

use super::localized;
use crate::components::ErrorBox;
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// Pairing this device with the server.
#[component]
pub fn Pair() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let navigate = use_navigate();
    let server = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    // A label the lead recognises in the device list; the rep may change it.
    let label = RwSignal::new(t_string!(i18n, rep.pair.label_default).to_string());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let start = move || {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let request = Request::Pair(PairRequest {
            server_url: server.get_untracked().trim().to_owned(),
            code: code.get_untracked().trim().to_owned(),
            label: label.get_untracked().trim().to_owned(),
        });
        let navigate = navigate.clone();
        spawn_local(async move {
            match ctx.node(request).await {
                Ok(Response::Device(_)) => {
                    ctx.docs_changed.update(|n| *n += 1);
                    navigate("/rep", Default::default());
                }
                Ok(_) => error.set(Some(ApiError::new(
                    "ui_unexpected",
                    t_string!(i18n, rep.errors.unexpected).to_string(),
                ))),
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    // Opened from the lead's QR code: the link brings the server and the code.
    if let Some((from_server, from_code)) = pairing_from_fragment() {
        let both = !from_server.is_empty() && !from_code.is_empty();
        server.set(from_server);
        code.set(from_code);
        if both {
            start();
        }
    }
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        start();
    };

    view! {
        <section class="card rep-narrow">
            <h1>{t!(i18n, rep.pair.title)}</h1>
            <p class="muted">{t!(i18n, rep.pair.intro)}</p>
            <form on:submit=submit>
                <label for="pair-server">
                    {t!(i18n, rep.pair.server)}
                    <span class="hint">{t!(i18n, rep.pair.server_hint)}</span>
                </label>
                <input
                    id="pair-server"
                    type="url"
                    data-testid="pair-server"
                    inputmode="url"
                    autocomplete="url"
                    autocapitalize="off"
                    spellcheck="false"
                    placeholder="https://rapport.example.ru"
                    required
                    bind:value=server
                />
                <label for="pair-code">
                    {t!(i18n, rep.pair.code)}
                    <span class="hint">{t!(i18n, rep.pair.code_hint)}</span>
                </label>
                <input
                    id="pair-code"
                    type="text"
                    data-testid="pair-code"
                    autocomplete="one-time-code"
                    autocapitalize="characters"
                    spellcheck="false"
                    required
                    bind:value=code
                />
                <label for="pair-label">
                    {t!(i18n, rep.pair.label)}
                    <span class="hint">{t!(i18n, rep.pair.label_hint)}</span>
                </label>
                <input id="pair-label" type="text" data-testid="pair-label" bind:value=label />
                <ErrorBox error=localized(error) />
                <div class="row rep-actions">
                    <button class="button" type="submit" data-testid="pair-submit" disabled=move || busy.get()>
                        {move || {
                            if busy.get() {
                                t_string!(i18n, rep.pair.pairing).to_string()
                            } else {
                                t_string!(i18n, rep.pair.submit).to_string()
                            }
                        }}
                    </button>
                </div>
            </form>
        </section>
    }
}

/// The server and code from the page address's fragment (`#server=<url>&code=<code>`,
/// the link in the lead's QR code), each empty when absent; `None` without either.
/// The fragment is then cleared from the address bar, so the code does not stay in the
/// history (fragments never reach a server).
fn pairing_from_fragment() -> Option<(String, String)> {
    let window = web_sys::window()?;
    let location = window.location();
    let hash = location.hash().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(hash.strip_prefix('#')?).ok()?;
    let server = params.get("server").unwrap_or_default().trim().to_owned();
    let code = params.get("code").unwrap_or_default().trim().to_owned();
    if server.is_empty() && code.is_empty() {
        return None;
    }
    let bare = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&bare));
    }
    Some((server, code))
}
