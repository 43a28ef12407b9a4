//! The network's part of a step: it hands the server one request in flight, or a
//! tablet one response, not always the oldest; it loses, duplicates and confuses them.

use rapport_protocol::{HeadsRequest, HeadsResponse, Limits, SyncRequest, SyncResponse};

use crate::sim::net::{Path, Response};
use crate::sim::world::World;

impl World {
    /// The network hands the server one request (not always the oldest).
    pub(super) fn deliver_request(&mut self) {
        if self.net.requests.is_empty() {
            return;
        }
        let i = self.rng.index(self.net.requests.len());
        if i > 0 {
            self.stats.reordered += 1;
        }
        let request = self.net.requests.remove(i);
        // Lost on the way (3 %), delivered twice (a proxy retries it later: 5 %), or
        // delivered; then its answer may be lost after the server committed (4 %).
        match self.rng.weighted(&[30, 50, 920]) {
            0 => {
                self.stats.dropped_requests += 1;
                self.trace.record(format!("request #{} lost", request.id));
                return;
            }
            1 if !request.duplicate => {
                self.stats.duplicates += 1;
                let mut again = request.clone();
                again.duplicate = true;
                self.net.requests.push(again);
            }
            _ => {}
        }
        let (status, body) = self.transport.answer(
            &request.token,
            &request.instance,
            request.path,
            &request.body,
        );
        if status == 401 {
            self.stats.refused_401 += 1;
        }
        self.trace
            .record(format!("request #{} answered {status}", request.id));
        self.trace
            .note(|| describe(request.path, &request.body, &body));
        if self.rng.chance(40) {
            self.stats.dropped_responses += 1;
            self.trace.record(format!("response #{} lost", request.id));
            return;
        }
        self.net.responses.push(Response {
            request: request.id,
            slot: request.slot,
            opening: request.opening,
            token: request.token,
            path: request.path,
            status,
            body,
        });
    }

    /// The network hands a device one response (not always the oldest). A late one
    /// may answer a later post of the same endpoint (a confused proxy), or be dropped.
    pub(super) fn deliver_response(&mut self) {
        if self.net.responses.is_empty() {
            return;
        }
        let i = self.rng.index(self.net.responses.len());
        let response = self.net.responses.remove(i);
        let device = &self.devices[response.slot];
        let fits = device.opening == response.opening
            && device.waiting().is_some_and(|w| {
                w.request == response.request
                    || (w.path == response.path && w.token == response.token)
            });
        if !fits {
            self.stats.late_discarded += 1;
            self.trace
                .record(format!("response #{} discarded", response.request));
            return;
        }
        let own = device
            .waiting()
            .is_some_and(|w| w.request == response.request);
        if !own {
            if self.rng.chance(500) {
                self.stats.late_discarded += 1;
                self.trace
                    .record(format!("response #{} discarded", response.request));
                return;
            }
            self.stats.late_handed += 1;
            if let Some(marks) = self.devices[response.slot].marks() {
                marks.confused = true;
            }
        }
        self.trace.record(format!(
            "{} gets response #{}{}",
            response.slot,
            response.request,
            if own { "" } else { " (late)" }
        ));
        self.devices[response.slot].answer(Ok((response.status, response.body)));
    }
}

/// A request and its answer in words (verbose traces only).
fn describe(path: Path, request: &[u8], response: &[u8]) -> String {
    let limits = Limits::DEFAULT;
    let short = |id: &rapport_domain::DocId| id.to_string()[..8].to_owned();
    match path {
        Path::Sync => {
            let (Ok(q), Ok(a)) = (
                SyncRequest::decode(request, &limits),
                SyncResponse::decode(response, &limits),
            ) else {
                return "(not a sync frame)".into();
            };
            let sent: Vec<_> = q.docs.iter().map(|d| short(&d.doc)).collect();
            let got: Vec<_> = a.docs.iter().map(|d| short(&d.doc)).collect();
            let errors: Vec<_> = a
                .errors
                .iter()
                .map(|e| format!("{}:{}", short(&e.doc), e.code.as_str()))
                .collect();
            format!(
                "cursor of {} bytes, sent {sent:?}; got {got:?} errors {errors:?} more {} reconcile {}",
                q.cursor.len(),
                a.more,
                a.reconcile
            )
        }
        Path::Heads => {
            let (Ok(q), Ok(a)) = (
                HeadsRequest::decode(request, &limits),
                HeadsResponse::decode(response, &limits),
            ) else {
                return "(not a heads frame)".into();
            };
            let lacking: Vec<_> = a.lacking.iter().map(short).collect();
            let stale: Vec<_> = a.stale.iter().map(short).collect();
            format!(
                "{} docs listed; lacking {lacking:?} stale {stale:?}",
                q.docs.len()
            )
        }
    }
}
