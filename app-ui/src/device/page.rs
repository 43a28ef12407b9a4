//! [`PageTransport`]: the browser's transport. The rep's requests go to the device in
//! the page (started by the first of them), the lead's to the server.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use rapport_api::{ApiError, Event, Request, Response};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::browser;
use super::driver;
use super::schedule::Settings;
use super::shell::{InPage, Listeners};
use crate::transport::{
    DeviceNotice, HttpTransport, LeadCall, LeadReply, LocalFuture, Transport, TransportKind,
};

/// How far the device in the page is.
enum Start {
    /// No rep's page asked for it yet.
    NotYet,
    /// Starting (waiting for the lock, opening the store): resolves when it is over.
    Starting(Promise),
    /// Running in this tab.
    Running(Rc<InPage>),
    /// It could not start, and why.
    Failed(ApiError),
}

/// In a browser: the device in the page for the rep, the server for the lead.
pub struct PageTransport {
    lead: HttpTransport,
    listeners: Rc<Listeners>,
    start: Rc<RefCell<Start>>,
}

impl PageTransport {
    /// The transport; the device starts with the first rep's request.
    pub fn new() -> Self {
        Self {
            lead: HttpTransport,
            listeners: Rc::new(Listeners::default()),
            start: Rc::new(RefCell::new(Start::NotYet)),
        }
    }
}

/// The device, started if it was not: waits for the lock (another tab may hold it),
/// opens the store and the core, starts automatic sync.
async fn device(
    start: Rc<RefCell<Start>>,
    listeners: Rc<Listeners>,
) -> Result<Rc<InPage>, ApiError> {
    let waiting = {
        let mut state = start.borrow_mut();
        match &*state {
            Start::Running(device) => return Ok(device.clone()),
            Start::Failed(err) => return Err(err.clone()),
            Start::Starting(promise) => promise.clone(),
            Start::NotYet => {
                let mut resolver = None;
                let promise = Promise::new(&mut |resolve, _| resolver = Some(resolve));
                *state = Start::Starting(promise.clone());
                let (start, listeners) = (start.clone(), listeners.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let outcome = open(listeners.clone()).await;
                    if let Err(err) = &outcome {
                        listeners.notice(|n| n.failed = Some(err.clone()));
                    }
                    *start.borrow_mut() = match outcome {
                        Ok(device) => Start::Running(device),
                        Err(err) => Start::Failed(err),
                    };
                    if let Some(resolve) = &resolver {
                        let _ = resolve.call0(&JsValue::NULL);
                    }
                });
                promise
            }
        }
    };
    let _ = JsFuture::from(waiting).await;
    match &*start.borrow() {
        Start::Running(device) => Ok(device.clone()),
        Start::Failed(err) => Err(err.clone()),
        Start::NotYet | Start::Starting(_) => Err(ApiError::new(
            "device_not_started",
            "the device in this page did not start: reload the page",
        )),
    }
}

/// Takes the lock, opens the device, starts its driver.
async fn open(listeners: Rc<Listeners>) -> Result<Rc<InPage>, ApiError> {
    let on_wait = listeners.clone();
    browser::hold_device_lock(move || on_wait.notice(|n| n.other_tab = true)).await?;
    listeners.notice(|n| n.other_tab = false);
    let device = InPage::open(listeners, Settings::default()).await?;
    device.check_storage().await;
    let online = device.driving.clone();
    browser::on_online(move || online.online());
    wasm_bindgen_futures::spawn_local(driver::drive(device.clone()));
    Ok(device)
}

impl Transport for PageTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::Browser
    }

    fn node(&self, request: Request) -> LocalFuture<Result<Response, ApiError>> {
        let (start, listeners) = (self.start.clone(), self.listeners.clone());
        Box::pin(async move {
            let device = device(start, listeners).await?;
            device.handle(request).await
        })
    }

    fn lead(&self, call: LeadCall) -> LocalFuture<Result<LeadReply, ApiError>> {
        self.lead.lead(call)
    }

    fn follow<'a>(
        &self,
        call: LeadCall,
        signal: &'a web_sys::AbortSignal,
        on_open: &'a dyn Fn(),
        on_event: &'a dyn Fn(String),
    ) -> Option<crate::transport::Following<'a>> {
        self.lead.follow(call, signal, on_open, on_event)
    }

    fn listen(&self, on_event: Rc<dyn Fn(Event)>) {
        self.listeners.listen(on_event);
    }

    fn watch_device(&self, on_change: Rc<dyn Fn(DeviceNotice)>) {
        self.listeners.watch(on_change);
    }
}
