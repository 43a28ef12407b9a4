//! The frame of every page: the top bar with the language switch and the device's
//! save and sync state, the error box that says what to fix, and "Loading…".

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_location;
use rapport_api::{ApiError, Request, Response};

use crate::format::{clock, since};
use crate::state::{SaveState, use_ctx};
use crate::translations::i18n::*;
use crate::transport::{DeviceNotice, TransportKind};

/// The bar on top of every page. The device's state shows in the app, and in a
/// browser on the rep's pages (where the device runs in the page).
#[component]
pub fn TopBar() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let in_app = ctx.kind() == TransportKind::App;
    let pathname = use_location().pathname;
    let rep_page = Memo::new(move |_| pathname.with(|p| p == "/rep" || p.starts_with("/rep/")));
    let home = move || {
        if in_app || rep_page.get() {
            "/rep"
        } else {
            "/lead"
        }
    };
    view! {
        <header class="topbar">
            <a class="brand" href=home>"Rapport"</a>
            {move || (in_app || rep_page.get()).then(|| view! { <SyncBar /> })}
            <nav class="topbar-links">
                {move || {
                    (!in_app && rep_page.get())
                        .then(|| {
                            view! {
                                <a class="button ghost" href="/rep">{t!(i18n, common.nav.my_clients)}</a>
                                <a class="button ghost" href="/rep/meetings" data-testid="nav-my-meetings">{t!(i18n, common.nav.my_meetings)}</a>
                            }
                        })
                }}
                {in_app
                    .then(|| {
                        view! {
                            <a class="button ghost" href="/rep">{t!(i18n, common.nav.my_clients)}</a>
                            <a class="button ghost" href="/rep/meetings" data-testid="nav-my-meetings">{t!(i18n, common.nav.my_meetings)}</a>
                            <a class="button ghost" href="/lead">{t!(i18n, common.nav.lead)}</a>
                        }
                    })}
                <LangSwitch />
            </nav>
        </header>
    }
}

const LANG_KEY: &str = "rapport.lang";

/// Russian / English, on every page. Russian unless the person chose English on this
/// device before (the choice is kept in local storage), whatever the browser says.
#[component]
pub fn LangSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let storage = || web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let chosen = storage()
        .and_then(|s| s.get_item(LANG_KEY).ok().flatten())
        .and_then(|l| match l.as_str() {
            "en" => Some(Locale::en),
            "ru" => Some(Locale::ru),
            _ => None,
        })
        .unwrap_or(Locale::ru);
    // leptos_i18n sets the browser's language in an effect of its own after mounting;
    // this one is created after it, so it runs after it and has the last word.
    Effect::new(move |_| {
        if i18n.get_locale_untracked() != chosen {
            i18n.set_locale(chosen);
        }
    });
    let pick = move |locale: Locale| {
        i18n.set_locale(locale);
        if let Some(s) = storage() {
            let _ = s.set_item(LANG_KEY, locale.as_str());
        }
    };
    view! {
        <div class="lang-switch" role="group" aria-label=move || t_string!(i18n, common.language).to_string()>
            <button
                class="lang"
                data-testid="lang-ru"
                aria-pressed=move || (i18n.get_locale() == Locale::ru).to_string()
                on:click=move |_| pick(Locale::ru)
            >
                "RU"
            </button>
            <button
                class="lang"
                data-testid="lang-en"
                aria-pressed=move || (i18n.get_locale() == Locale::en).to_string()
                on:click=move |_| pick(Locale::en)
            >
                "EN"
            </button>
        </div>
    }
}

/// How long saves and sync's changes pause before the bar reads the status again.
const STATUS_AFTER_PAUSE: std::time::Duration = std::time::Duration::from_millis(400);

/// The device's state, always in sight: the last edit saved on this device, changes
/// waiting, a sync going on with its progress, the last sync, and why sync fails.
#[component]
pub fn SyncBar() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let refresh = move || {
        spawn_local(async move {
            if let Ok(Response::Sync(status)) = ctx.node(Request::SyncStatus).await {
                ctx.show_sync(status);
            }
        });
    };
    refresh();
    // Edits change what is pending; re-read it once saves pause, and after each change
    // sync brings. Not on every keystroke: reading the status loads the documents
    // waiting to be sent, which in the browser shares the thread the rep types on (it
    // made one keystroke in six wait for it).
    let changes = StoredValue::new(0u64);
    Effect::new(move |first: Option<()>| {
        ctx.save.track();
        ctx.docs_changed.track();
        if first.is_none() {
            return;
        }
        changes.update_value(|n| *n += 1);
        let seen = changes.get_value();
        set_timeout(
            move || {
                // Nothing once the bar is gone (its values with it).
                if changes.try_get_value() == Some(seen) {
                    refresh();
                }
            },
            STATUS_AFTER_PAUSE,
        );
    });
    // "N minutes ago" moves on by itself.
    let now = RwSignal::new(js_sys::Date::now() as i64);
    crate::timer::every(std::time::Duration::from_secs(15), move || {
        now.set(js_sys::Date::now() as i64);
    });
    let sync_now = move |_| {
        spawn_local(async move {
            ctx.syncing.set(Some((0, 0, 0)));
            match ctx.node(Request::SyncNow).await {
                Ok(Response::Sync(status)) => ctx.show_sync(status),
                Ok(_) => {}
                Err(err) => ctx.sync.update(|s| {
                    if let Some(s) = s {
                        s.last_error = Some(err);
                    }
                }),
            }
            ctx.syncing.set(None);
        });
    };

    // Keystroke-to-saved, measured in the page: from the moment an edit starts saving
    // until the node says it is durable. Tests read it (data-latency-ms) for the
    // closing note's figure; data-save-seq counts saves so they know which is which.
    let save_started = StoredValue::new(None::<f64>);
    let latency = RwSignal::new(None::<f64>);
    let save_seq = RwSignal::new(0u64);
    Effect::new(move |_| match ctx.save.get() {
        SaveState::Saving => {
            if save_started.get_value().is_none() {
                save_started.set_value(Some(now_ms()));
            }
        }
        SaveState::Saved(_) => {
            if let Some(start) = save_started.get_value() {
                latency.set(Some(now_ms() - start));
            }
            save_started.set_value(None);
            save_seq.update(|n| *n += 1);
        }
        SaveState::Failed(_) | SaveState::Idle => save_started.set_value(None),
    });
    let save_text = move || match ctx.save.get() {
        SaveState::Idle => None,
        SaveState::Saving => Some(("saving", t_string!(i18n, common.sync.saving).to_string())),
        SaveState::Saved(at) => Some((
            "saved",
            format!("{} · {}", t_string!(i18n, common.sync.saved), clock(at)),
        )),
        SaveState::Failed(err) => Some((
            "failed",
            format!(
                "{}: {}",
                t_string!(i18n, common.sync.not_saved),
                err.message
            ),
        )),
    };
    let sync_text = move || {
        if let Some((requests, sent, received)) = ctx.syncing.get() {
            if requests == 0 {
                return (
                    "syncing",
                    t_string!(i18n, common.sync.syncing_start).to_string(),
                );
            }
            return (
                "syncing",
                t_string!(
                    i18n,
                    common.sync.syncing,
                    requests = requests,
                    sent = sent,
                    received = received
                )
                .to_string(),
            );
        }
        let Some(status) = ctx.sync.get() else {
            return ("unknown", String::new());
        };
        if !status.paired {
            return (
                "unpaired",
                t_string!(i18n, common.sync.unpaired).to_string(),
            );
        }
        if let Some(err) = status.last_error.as_ref() {
            // No network is the rep's normal day, not a fault: a calm colour for it.
            let state = if is_offline(err) { "offline" } else { "error" };
            return (state, sync_error_text(i18n, err));
        }
        if status.pending_docs > 0 {
            return (
                "pending",
                t_string!(i18n, common.sync.pending, count = status.pending_docs).to_string(),
            );
        }
        match status.last_success_ms {
            Some(at) => (
                "synced",
                format!(
                    "{} · {}",
                    t_string!(i18n, common.sync.synced),
                    since(i18n, now.get(), at)
                ),
            ),
            None => ("pending", t_string!(i18n, common.sync.never).to_string()),
        }
    };

    view! {
        <div class="syncbar" role="status" aria-live="polite">
            {move || {
                save_text()
                    .map(|(state, text)| {
                        let title = text.clone();
                        view! {
                            <span
                                class=format!("pill save-pill save-{state}")
                                title=title
                                data-testid="save-state"
                                data-state=state
                                data-save-seq=move || save_seq.get().to_string()
                                data-latency-ms=move || latency.get().map(|l| format!("{l:.1}"))
                            >
                                {text}
                            </span>
                        }
                    })
            }}
            {move || {
                let (state, text) = sync_text();
                // The technical reason, for whoever helps the rep on the phone.
                // All of it, where the bar cuts the text short; an error's own words too.
                let detail = ctx
                    .sync
                    .with(|s| s.as_ref().and_then(|s| s.last_error.as_ref().map(|e| e.to_string())));
                let title = match detail {
                    Some(detail) => format!("{text} — {detail}"),
                    None => text.clone(),
                };
                view! {
                    <span
                        class=format!("pill sync-pill sync-{state}")
                        data-testid="sync-state"
                        data-state=state
                        title=title
                    >
                        {text}
                    </span>
                }
            }}
            {move || {
                        notices(i18n, &ctx.device.get())
                            .into_iter()
                            .map(|(kind, class, text)| {
                                view! {
                                    <span class=class data-testid="device-notice" data-notice=kind>
                                        {text}
                                    </span>
                                }
                            })
                            .collect_view()
            }}
            <button
                class="button small"
                data-testid="sync-now"
                disabled=move || {
                    ctx.syncing.get().is_some() || ctx.device.with(|d| d.other_tab)
                        || ctx.sync.with(|s| s.as_ref().is_some_and(|s| !s.paired))
                }
                on:click=sync_now
            >
                {t!(i18n, common.sync.now)}
            </button>
        </div>
    }
}

/// What the device in the page says about itself, each with what to do: (kind for
/// tests, pill class, words).
fn notices(
    i18n: leptos_i18n::I18nContext<Locale>,
    notice: &DeviceNotice,
) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    if notice.other_tab {
        out.push((
            "other-tab",
            "pill warn",
            t_string!(i18n, common.sync.other_tab).to_string(),
        ));
    }
    if let Some(err) = &notice.failed {
        out.push((
            "failed",
            "pill bad",
            format!(
                "{}: {}",
                t_string!(i18n, common.sync.device_failed),
                err.message
            ),
        ));
    }
    if notice.memory_only {
        out.push((
            "memory-only",
            "pill warn",
            t_string!(i18n, common.sync.memory_only).to_string(),
        ));
    }
    if notice.not_persisted {
        out.push((
            "not-persisted",
            "pill warn",
            t_string!(i18n, common.sync.not_persisted).to_string(),
        ));
    }
    if let Some((used, quota)) = notice.storage_low {
        const MB: u64 = 1024 * 1024;
        out.push((
            "storage-low",
            "pill bad",
            t_string!(
                i18n,
                common.sync.storage_low,
                used = used / MB,
                quota = quota / MB
            )
            .to_string(),
        ));
    }
    out
}

/// Milliseconds from the page's clock (sub-millisecond, monotonic).
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

fn is_offline(err: &ApiError) -> bool {
    matches!(
        err.code.as_str(),
        "network" | "offline" | "unreachable" | "timeout"
    )
}

/// Why sync fails, in the rep's words.
fn sync_error_text(i18n: leptos_i18n::I18nContext<Locale>, err: &ApiError) -> String {
    match err.code.as_str() {
        _ if is_offline(err) => t_string!(i18n, common.sync.offline).to_string(),
        "device_revoked" => t_string!(i18n, common.sync.revoked).to_string(),
        _ => format!("{}: {}", t_string!(i18n, common.sync.failed), err.message),
    }
}

/// An error that says what went wrong and what to do; nothing when there is none.
#[component]
pub fn ErrorBox(#[prop(into)] error: Signal<Option<ApiError>>) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        error.get().map(|err| {
            let text = error_text(i18n, &err);
            view! {
                <div class="error" role="alert" data-testid="error" data-code=err.code.clone()>
                    {text}
                </div>
            }
        })
    }
}

/// The words for an error: ours for the codes we know, the server's otherwise.
pub fn error_text(i18n: leptos_i18n::I18nContext<Locale>, err: &ApiError) -> String {
    let known = match err.code.as_str() {
        "network" => Some(t_string!(i18n, common.errors.network).to_string()),
        "needs_app" => Some(t_string!(i18n, common.errors.needs_app).to_string()),
        "session_expired" | "missing_token" | "malformed_token" => {
            Some(t_string!(i18n, common.errors.signed_out).to_string())
        }
        "forbidden" => Some(t_string!(i18n, common.errors.forbidden).to_string()),
        "already_reviewed" => Some(t_string!(i18n, common.errors.already_reviewed).to_string()),
        "visit_not_completed" => {
            Some(t_string!(i18n, common.errors.visit_not_completed).to_string())
        }
        _ => None,
    };
    known.unwrap_or_else(|| err.message.clone())
}

/// "Loading…" while a page waits for its data.
#[component]
pub fn Loading() -> impl IntoView {
    let i18n = use_i18n();
    view! { <p class="loading" aria-busy="true">{t!(i18n, common.loading)}</p> }
}
