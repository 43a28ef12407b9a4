//! Data a lead page shows, loaded from the server ([`Loaded`]), and the section that
//! shows it: the error box, "Loading…" until the first answer, then the content
//! ([`loaded`]); a card's heading with the button that opens its form ([`CardHead`]).

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::routes::Route;
use serde::de::DeserializeOwned;

use super::{ErrorBox, Loading};
use crate::order::Answers;
use crate::state::{Ctx, use_ctx};

/// Data a page shows: loaded from the server, reloaded after every change the page
/// makes and as the programme moves ([`follow_status`]).
///
/// Not a Leptos `Resource`: an answer equal to what is on screen is dropped here, so
/// a reload that finds nothing new re-renders nothing (a resource would hand every
/// answer to the view and rebuild the rows under the lead's finger).
pub struct Loaded<T: Send + Sync + 'static> {
    /// The last answer; `None` until the first one arrives.
    pub data: RwSignal<Option<T>>,
    /// Why the last load failed.
    pub error: RwSignal<Option<ApiError>>,
    route: StoredValue<Route<(), T>>,
    /// The loads in flight: answers can come back out of order.
    loads: StoredValue<Answers>,
    ctx: Ctx,
}

impl<T: Send + Sync + 'static> Clone for Loaded<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Loaded<T> {}

impl<T: DeserializeOwned + PartialEq + Send + Sync + 'static> Loaded<T> {
    /// Starts loading `route` (a GET with a JSON answer).
    pub fn new(route: Route<(), T>) -> Self {
        let this = Self {
            data: RwSignal::new(None),
            error: RwSignal::new(None),
            route: StoredValue::new(route),
            loads: StoredValue::new(Answers::default()),
            ctx: use_ctx(),
        };
        this.reload();
        this
    }

    /// Loads another route of the same data (other filters).
    pub fn load(&self, route: Route<(), T>) {
        self.route.set_value(route);
        self.reload();
    }

    /// Loads again; what is on screen stays until the new answer arrives. Of loads
    /// in flight together, an answer is taken only if no later load's answer was: an
    /// older answer arriving last (a poll overtaken by the reload after a change) would
    /// show what the change replaced.
    pub fn reload(&self) {
        let this = *self;
        let Some(route) = this.route.try_get_value() else {
            return;
        };
        let Some(load) = this.loads.try_update_value(Answers::start) else {
            return;
        };
        spawn_local(async move {
            let answer = this.ctx.fetch(route).await;
            // Overtaken, or the page is gone.
            if this.loads.try_update_value(|a| a.take(load)) != Some(true) {
                return;
            }
            match answer {
                Ok(value) => {
                    // An unchanged answer leaves the page alone (polling must not
                    // rebuild the view under the lead's finger).
                    if this.data.with_untracked(|d| d.as_ref() != Some(&value)) {
                        this.data.set(Some(value));
                    }
                    this.error.set(None);
                }
                Err(err) => this.error.set(Some(err)),
            }
        });
    }
}

/// The first wait before following the live status again after its stream ended;
/// it doubles on each failure up to [`FOLLOW_AGAIN_MAX_MS`].
const FOLLOW_AGAIN_MS: i64 = 1_000;
/// The longest wait between two tries to follow the live status.
const FOLLOW_AGAIN_MAX_MS: i64 = 30_000;

/// Keeps what a page shows of programme `pid` fresh: `reload` runs on every event of
/// the programme's live status (the server sends one as soon as a sync moved it, and
/// one on connecting, so a reconnect catches up), and every `every` only while there
/// is no stream: while the server cannot be reached (the page tries again after 1 s,
/// doubling up to 30 s), or for good where the transport has no streams. Returns
/// whether the stream is open; leaving the page closes it.
pub fn follow_status(
    pid: &str,
    every: std::time::Duration,
    reload: impl Fn() + Clone + 'static,
) -> ReadSignal<bool> {
    let ctx = use_ctx();
    let (live, set_live) = signal(false);
    let poll = reload.clone();
    crate::timer::every(every, move || {
        if !live.get_untracked() {
            poll();
        }
    });
    // One for the page's life: leaving the page aborts the stream open then, and the
    // loop ends instead of following again.
    let controller = web_sys::AbortController::new().ok();
    let route = rapport_api::routes::status_events(pid);
    let follow = controller.as_ref().map(web_sys::AbortController::signal);
    // Without an abort handle (no such browser API) the interval polls for good.
    spawn_local(async move {
        let Some(signal) = follow else { return };
        let mut wait = FOLLOW_AGAIN_MS;
        while !signal.aborted() {
            let on_open = || {
                set_live.try_set(true);
            };
            let on_event = |_name: String| reload();
            let Some(ended) = ctx
                .follow(route.clone(), &signal, &on_open, &on_event)
                .await
            else {
                // This transport has no streams: the interval polls for good.
                return;
            };
            let was_live = live.try_get_untracked().unwrap_or(false);
            if set_live.try_set(false).is_some() || signal.aborted() {
                // The page is gone.
                return;
            }
            if was_live {
                wait = FOLLOW_AGAIN_MS;
            }
            if let Err(e) = ended {
                leptos::logging::debug_warn!("live status: {e}");
            }
            crate::timer::sleep(wait).await;
            wait = (wait * 2).min(FOLLOW_AGAIN_MAX_MS);
        }
    });
    on_cleanup(move || {
        if let Some(controller) = controller {
            controller.abort();
        }
    });
    live
}

/// The error box of `data`, "Loading…" until its first answer, then `content` of
/// the answer (built again only when the answer changes).
pub fn loaded<T, V>(
    data: Loaded<T>,
    content: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let content = std::sync::Arc::new(content);
    view! {
        <ErrorBox error=data.error />
        <Show when=move || data.data.with(Option::is_some) fallback=|| view! { <Loading /> }>
            {
                let content = content.clone();
                move || data.data.get().map(|value| content(value))
            }
        </Show>
    }
}

/// Like [`loaded`], but `content` is built once, on the first answer, and gets the
/// answer as a signal: a changed answer updates what reads it instead of rebuilding
/// the content (for keyed rows, [`super::keyed_table`], whose open editors must
/// survive a reload).
pub fn loaded_live<T, V>(
    data: Loaded<T>,
    content: impl Fn(Signal<T>) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Default + PartialEq + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let content = std::sync::Arc::new(content);
    let live = Memo::new(move |_| data.data.get().unwrap_or_default()).into();
    view! {
        <ErrorBox error=data.error />
        <Show when=move || data.data.with(Option::is_some) fallback=|| view! { <Loading /> }>
            {
                let content = content.clone();
                content(live)
            }
        </Show>
    }
}

/// A card's heading with the button that opens and closes its form (`open`);
/// `on_toggle` runs on each click too.
#[component]
pub fn CardHead(
    /// The heading.
    #[prop(into)]
    title: TextProp,
    /// The button's test id.
    testid: &'static str,
    /// The button's words.
    #[prop(into)]
    label: TextProp,
    /// Whether the form is open.
    open: RwSignal<bool>,
    /// Also runs on each click (clears the last success line).
    #[prop(into, optional)]
    on_toggle: Option<Callback<()>>,
) -> impl IntoView {
    let toggle = move |_| {
        open.update(|o| *o = !*o);
        if let Some(f) = on_toggle {
            f.run(());
        }
    };
    view! {
        <div class="row">
            <h2>{move || title.get()}</h2>
            <span class="spacer"></span>
            <button class="button" data-testid=testid aria-expanded=move || open.get().to_string() on:click=toggle>
                {move || label.get()}
            </button>
        </div>
    }
}
