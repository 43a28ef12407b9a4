//! Between the devices and the server: the requests and responses in flight (lost,
//! duplicated, delayed and reordered by the scheduler), and the server's front door
//! ([`Transport`]): who is revoked (401 `device_revoked`) and which documents each
//! device may no longer write (the server refuses them).

use std::collections::{BTreeMap, BTreeSet};

use rapport_core::Post;
use rapport_domain::DocId;
use rapport_testkit::MemServer;

/// Which endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `POST /api/v1/sync`.
    Sync,
    /// `POST /api/v1/sync/heads` (reconciling).
    Heads,
}

impl Path {
    /// The endpoint of a [`Post`] of the core.
    pub fn of(post: &Post) -> Self {
        if post.url.ends_with("/api/v1/sync/heads") {
            Self::Heads
        } else if post.url.ends_with("/api/v1/sync") {
            Self::Sync
        } else {
            panic!("the core posted to an unknown endpoint {}", post.url)
        }
    }
}

/// A request on its way to the server.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its number (a response names the request it answers).
    pub id: u64,
    /// The device slot that sent it.
    pub slot: usize,
    /// The opening of the device's store that sent it (a reopened app has new
    /// connections: answers to the old ones never reach it).
    pub opening: u64,
    /// The bearer token (the server finds the device by it).
    pub token: String,
    /// The opening of the device's store that sent it, as the `rapport-instance` header
    /// says it.
    pub instance: String,
    /// The endpoint.
    pub path: Path,
    /// The body.
    pub body: Vec<u8>,
    /// Delivered once already (this is a duplicate a proxy sends again).
    pub duplicate: bool,
}

/// A response on its way back.
#[derive(Debug, Clone)]
pub struct Response {
    /// The request it answers.
    pub request: u64,
    /// The device slot it goes to.
    pub slot: usize,
    /// The opening of the device's store that sent the request.
    pub opening: u64,
    /// The token of the request.
    pub token: String,
    /// The endpoint of the request.
    pub path: Path,
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// What is in flight.
#[derive(Debug, Default)]
pub struct Network {
    /// Requests not delivered yet (any may go next: reordering).
    pub requests: Vec<Request>,
    /// Responses not delivered yet.
    pub responses: Vec<Response>,
    next: u64,
}

impl Network {
    /// Puts a device's post on the wire; returns the request's number.
    pub fn send(&mut self, slot: usize, opening: u64, post: Post) -> u64 {
        self.next += 1;
        self.requests.push(Request {
            id: self.next,
            slot,
            opening,
            token: post.token.clone(),
            instance: post.instance.clone(),
            path: Path::of(&post),
            body: post.body,
            duplicate: false,
        });
        self.next
    }

    /// Whether request `id` of `slot`, or an answer to it, is still on the wire.
    pub fn carries(&self, slot: usize, id: u64) -> bool {
        self.requests.iter().any(|r| r.id == id)
            || self
                .responses
                .iter()
                .any(|r| r.slot == slot && r.request == id)
    }

    /// The device's app closed: answers to its connections are gone (its requests may
    /// still reach the server).
    pub fn forget_responses_of(&mut self, slot: usize) -> usize {
        let before = self.responses.len();
        self.responses.retain(|r| r.slot != slot);
        before - self.responses.len()
    }
}

/// The token of server device `id`.
pub fn token_of(id: u64) -> String {
    format!("token-{id}")
}

/// The server device a token names.
fn device_of(token: &str) -> u64 {
    token
        .strip_prefix("token-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the core posted an unknown token {token:?}"))
}

/// The server as devices reach it: the in-memory server behind the checks the real
/// one makes before a sync (the device is not revoked; it may write the documents).
#[derive(Debug)]
pub struct Transport {
    /// The server.
    pub server: MemServer,
    revoked: BTreeSet<u64>,
    forbidden: BTreeMap<u64, BTreeSet<DocId>>,
}

impl Transport {
    /// The front door of `server`.
    pub fn new(server: MemServer) -> Self {
        Self {
            server,
            revoked: BTreeSet::new(),
            forbidden: BTreeMap::new(),
        }
    }

    /// Answers one request: status and body. The server commits before it answers.
    pub fn answer(
        &mut self,
        token: &str,
        instance: &str,
        path: Path,
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let device = device_of(token);
        if self.revoked.contains(&device) {
            let body = r#"{"error":{"code":"device_revoked","message":"устройство отозвано руководителем (the lead revoked this device)"}}"#;
            return (401, body.as_bytes().to_vec());
        }
        // MemServer refuses one global set; it handles one request at a time, so the
        // set is this device's for the length of the request.
        self.server.forbidden = self.forbidden.get(&device).cloned().unwrap_or_default();
        let answered = match path {
            Path::Sync => self.server.handle_from(device, Some(instance), body),
            Path::Heads => self.server.handle_heads_from(device, Some(instance), body),
        };
        self.server.forbidden.clear();
        match answered {
            Ok(body) => (200, body),
            Err(e) => panic!("device {device} sent a frame the server cannot read: {e}"),
        }
    }

    /// The lead revokes server device `id` (for good: paired again, it gets a new id).
    pub fn revoke(&mut self, id: u64) {
        self.revoked.insert(id);
    }

    /// Whether server device `id` is revoked.
    pub fn is_revoked(&self, id: u64) -> bool {
        self.revoked.contains(&id)
    }

    /// Server device `id` may no longer write `doc` (its client went to another rep).
    pub fn forbid(&mut self, id: u64, doc: DocId) {
        self.forbidden.entry(id).or_default().insert(doc);
    }

    /// The documents server device `id` may not write.
    pub fn forbidden_to(&self, id: u64) -> BTreeSet<DocId> {
        self.forbidden.get(&id).cloned().unwrap_or_default()
    }

    /// Documents some device may not write: (device, document), in order.
    pub fn forbidden(&self) -> Vec<(u64, DocId)> {
        self.forbidden
            .iter()
            .flat_map(|(id, docs)| docs.iter().map(move |d| (*id, *d)))
            .collect()
    }

    /// Server device `id` may write `doc` again.
    pub fn regrant(&mut self, id: u64, doc: DocId) {
        if let Some(docs) = self.forbidden.get_mut(&id) {
            docs.remove(&doc);
        }
    }
}
