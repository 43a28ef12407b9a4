//! State every page shares: the transport, the lead's session, the device's save and
//! sync state; and typed calls on top of the transport.

use std::rc::Rc;

use leptos::prelude::*;
use rapport_api::lead::{Session, SignIn};
use rapport_api::routes::{self, EventStream, FileBytes, Route, Upload};
use rapport_api::{ApiError, Event, Lang, Request, Response, SyncStatus};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::translations::i18n::{Locale, use_i18n};
use crate::transport::{DeviceNotice, LeadCall, LeadReply, Transport, TransportKind};

/// The lead's signed-in session, kept in the browser's local storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadSession {
    /// The server's base address; empty in a browser (the page's own origin).
    pub server: String,
    /// The session token.
    pub token: String,
    /// Who signed in.
    pub name: String,
}

/// What the rep sees in the always-visible bar: whether the last edit is on the device.
#[derive(Clone, Debug, PartialEq)]
pub enum SaveState {
    /// Nothing typed yet on this page.
    Idle,
    /// An edit is on its way to the device's store.
    Saving,
    /// The last edit is durable on the device (time in ms since the epoch).
    Saved(i64),
    /// The last edit could not be saved: the text on screen is not stored.
    Failed(ApiError),
}

/// The shared state, provided once by the app.
#[derive(Clone, Copy)]
pub struct Ctx {
    transport: StoredValue<Rc<dyn Transport>, LocalStorage>,
    /// The lead's session, if signed in.
    pub session: RwSignal<Option<LeadSession>>,
    /// The device's sync state, refreshed by events.
    pub sync: RwSignal<Option<SyncStatus>>,
    /// Whether a sync run is going on, with its progress (requests, sent, received).
    pub syncing: RwSignal<Option<(u32, usize, usize)>>,
    /// The last edit's save state.
    pub save: RwSignal<SaveState>,
    /// Bumped when the node says documents changed (pages reload what they show).
    pub docs_changed: RwSignal<u64>,
    /// What the device in the page says about itself (another tab, storage).
    pub device: RwSignal<DeviceNotice>,
}

const SESSION_KEY: &str = "rapport.lead.session";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

impl Ctx {
    /// Makes the state around `transport` and starts listening to the node's events.
    pub fn new(transport: Rc<dyn Transport>) -> Self {
        let session = local_storage()
            .and_then(|s| s.get_item(SESSION_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str(&text).ok());
        let ctx = Self {
            transport: StoredValue::new_local(transport),
            session: RwSignal::new(session),
            sync: RwSignal::new(None),
            syncing: RwSignal::new(None),
            save: RwSignal::new(SaveState::Idle),
            docs_changed: RwSignal::new(0),
            device: RwSignal::new(DeviceNotice::default()),
        };
        // Like replies, the node's news is shown between taps (see crate::press).
        let on_event: Rc<dyn Fn(Event)> = Rc::new(move |event| {
            crate::press::after_press(move || match event {
                Event::SyncStarted => ctx.syncing.set(Some((0, 0, 0))),
                Event::SyncProgress {
                    requests,
                    docs_sent,
                    docs_received,
                } => ctx.syncing.set(Some((requests, docs_sent, docs_received))),
                Event::SyncFinished(status) => {
                    ctx.syncing.set(None);
                    ctx.show_sync(status);
                }
                Event::DocsChanged { .. } => ctx.docs_changed.update(|n| *n += 1),
            })
        });
        ctx.transport.with_value(|t| t.listen(on_event));
        let on_notice: Rc<dyn Fn(DeviceNotice)> = Rc::new(move |notice| ctx.device.set(notice));
        ctx.transport.with_value(|t| t.watch_device(on_notice));
        ctx
    }

    /// Shows `status` unless the one shown is newer. A status read before a run ended
    /// can arrive after that run's own news (an answer and an event race, on a busy
    /// tablet too): taken as it came, it would show "never synced" until the next run.
    pub fn show_sync(&self, status: SyncStatus) {
        self.sync.update(|shown| {
            if is_newer(shown.as_ref(), &status) {
                *shown = Some(status);
            }
        });
    }

    /// Where the UI runs.
    pub fn kind(&self) -> TransportKind {
        self.transport.with_value(|t| t.kind())
    }

    /// A request to the device node.
    pub async fn node(&self, request: Request) -> Result<Response, ApiError> {
        let future = self.transport.with_value(|t| t.node(request));
        let reply = future.await;
        // Shown between taps, never under one (see crate::press).
        crate::press::settled().await;
        reply
    }

    /// Signs the lead in (stores the session) or out (`None`).
    pub fn set_session(&self, session: Option<LeadSession>) {
        if let Some(storage) = local_storage() {
            match &session {
                Some(s) => {
                    if let Ok(text) = serde_json::to_string(s) {
                        let _ = storage.set_item(SESSION_KEY, &text);
                    }
                }
                None => {
                    let _ = storage.remove_item(SESSION_KEY);
                }
            }
        }
        self.session.set(session);
    }

    /// A call of the server's API with the lead's session.
    fn call<B, A>(
        &self,
        route: Route<B, A>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> LeadCall {
        let session = self.session.get_untracked();
        LeadCall {
            server: session
                .as_ref()
                .map(|s| s.server.clone())
                .unwrap_or_default(),
            method: route.method.as_str().into(),
            path: route.path,
            token: session.map(|s| s.token),
            content_type: content_type.map(str::to_owned),
            body,
        }
    }

    /// Follows a stream of the server's events with the lead's session until it ends
    /// (see [`crate::transport::follow_events`]); `None` at once where the transport
    /// cannot follow one.
    pub async fn follow(
        &self,
        route: Route<(), EventStream>,
        signal: &web_sys::AbortSignal,
        on_open: &dyn Fn(),
        on_event: &dyn Fn(String),
    ) -> Option<Result<(), ApiError>> {
        let call = self.call(route, None, Vec::new());
        let future = self
            .transport
            .with_value(|t| t.follow(call, signal, on_open, on_event))?;
        Some(future.await)
    }

    /// A raw call to the server's API with the lead's session.
    async fn lead_raw<B, A>(
        &self,
        route: Route<B, A>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<LeadReply, ApiError> {
        let call = self.call(route, content_type, body);
        let future = self.transport.with_value(|t| t.lead(call));
        let reply = future.await;
        crate::press::settled().await;
        if let Err(err) = &reply
            && matches!(
                err.code.as_str(),
                "session_expired" | "missing_token" | "malformed_token"
            )
        {
            // The session ended on the server: back to the sign-in page.
            self.set_session(None);
        }
        reply
    }

    /// Signs the lead in at `server` (empty: this page's origin) and keeps the session.
    pub async fn sign_in(&self, server: String, body: &SignIn) -> Result<(), ApiError> {
        let call = LeadCall {
            server: server.clone(),
            method: "POST".into(),
            path: routes::sign_in().path,
            token: None,
            content_type: Some("application/json".into()),
            body: encode(body)?,
        };
        let future = self.transport.with_value(|t| t.lead(call));
        let reply = future.await?;
        let session: Session = decode(&reply.body)?;
        self.set_session(Some(LeadSession {
            server,
            token: session.token,
            name: session.lead.name,
        }));
        Ok(())
    }

    /// A call with a JSON body and a JSON answer (POST, PUT, PATCH).
    pub async fn send<B: Serialize, A: DeserializeOwned>(
        &self,
        route: Route<B, A>,
        body: &B,
    ) -> Result<A, ApiError> {
        let reply = self
            .lead_raw(route, Some("application/json"), encode(body)?)
            .await?;
        decode(&reply.body)
    }

    /// A call without a body and with a JSON answer (GET, DELETE, a bare POST).
    pub async fn fetch<A: DeserializeOwned>(&self, route: Route<(), A>) -> Result<A, ApiError> {
        let reply = self.lead_raw(route, None, Vec::new()).await?;
        decode(&reply.body)
    }

    /// A file sent as it is (`content_type`), with a JSON answer.
    pub async fn upload<A: DeserializeOwned>(
        &self,
        route: Route<Upload, A>,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<A, ApiError> {
        let reply = self.lead_raw(route, Some(content_type), bytes).await?;
        decode(&reply.body)
    }

    /// A file fetched as it is (bytes and content type).
    pub async fn download(&self, route: Route<(), FileBytes>) -> Result<LeadReply, ApiError> {
        self.lead_raw(route, None, Vec::new()).await
    }
}

/// A request body as JSON.
fn encode(body: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body)
        .map_err(|e| ApiError::new("ui_encode", format!("could not encode the request: {e}")))
}

/// A JSON answer; an empty one (204) reads as `null`.
fn decode<A: DeserializeOwned>(body: &[u8]) -> Result<A, ApiError> {
    let body = if body.is_empty() {
        b"null".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            "ui_decode",
            format!("the server's answer could not be read ({e})"),
        )
    })
}

/// The shared state.
pub fn use_ctx() -> Ctx {
    expect_context::<Ctx>()
}

/// The language of the page, for texts that come with both languages (the template).
pub fn use_lang() -> Signal<Lang> {
    let i18n = use_i18n();
    Signal::derive(move || match i18n.get_locale() {
        Locale::ru => Lang::Ru,
        Locale::en => Lang::En,
    })
}

/// Whether `incoming` may replace `shown`: it does not come from before the last run
/// `shown` knows of (a read of the same run, e.g. after an edit, replaces it).
fn is_newer(shown: Option<&SyncStatus>, incoming: &SyncStatus) -> bool {
    shown.is_none_or(|s| incoming.last_attempt_ms >= s.last_attempt_ms)
}

#[cfg(test)]
mod sync_status_tests {
    use super::*;

    fn status(last_attempt_ms: Option<i64>, pending_docs: usize) -> SyncStatus {
        SyncStatus {
            paired: true,
            last_attempt_ms,
            last_success_ms: last_attempt_ms,
            pending_docs,
            ..SyncStatus::default()
        }
    }

    #[test]
    fn a_status_read_before_a_run_ended_does_not_take_the_run_back() {
        let after_run = status(Some(2_000), 0);
        let read_before = status(None, 1);
        assert!(!is_newer(Some(&after_run), &read_before));
        let read_older_run = status(Some(1_000), 1);
        assert!(!is_newer(Some(&after_run), &read_older_run));
    }

    #[test]
    fn a_later_read_or_run_replaces_what_is_shown() {
        let shown = status(Some(2_000), 0);
        // The same run, an edit since: what is pending changed.
        assert!(is_newer(Some(&shown), &status(Some(2_000), 1)));
        assert!(is_newer(Some(&shown), &status(Some(3_000), 0)));
        assert!(is_newer(None, &status(None, 0)));
    }
}
