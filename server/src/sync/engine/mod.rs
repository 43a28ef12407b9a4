//! The server's side of `POST /api/v1/sync` and `POST /api/v1/sync/heads`, written
//! once: the request steps over any [`DocStore`], with what is particular to one
//! server and device behind a [`SyncPolicy`].
//!
//! The HTTP handler ([`crate::sync`]) runs it over the real store with the device's
//! rights from the projections; the in-memory test server of `rapport-testkit`
//! (`MemServer`) runs the same steps over a `MemStore`, so the convergence property
//! tests and the benchmark's in-memory floor exercise this code.
//!
//! One request ([`Engine::sync`]): place the device's cursor in this store's feed (an
//! unknown one gets `reconcile` and nothing is applied); for each document the device
//! sent, check its rights, apply its changes to the stored copy and check the result;
//! push the document the device must have first; page the change feed after the
//! device's cursor for documents it may read; for a first contact that read the feed
//! to its end, offer what the feed still holds back; commit every accepted change and
//! sync state in ONE transaction; only then reply. A document whose changes are
//! refused stores nothing and gets an error with a stable code; the others of the
//! request proceed (one bad document must not stop a rep's whole upload).
//!
//! Here: [`Engine`] and the order of the steps; the steps in `round`, the device's
//! cursor in `cursor`, the reconcile in `heads`.

mod cursor;
mod heads;
mod policy;
mod reply;
mod round;

use rapport_protocol::{HeadsRequest, Limits, SyncRequest};
use rapport_store::{DocStore, PeerId};

pub use self::cursor::start_cursor;
use self::cursor::{Place, device_cursor, place_cursor, reconcile_response};
use self::heads::reconcile_heads;
pub use self::policy::SyncPolicy;
pub use self::reply::{HeadsReply, SyncReply};
use self::round::Round;
use crate::error::HttpResult;

/// The server's sync algorithm over one store: its epoch (the first part of every
/// cursor it hands out) and the frame limits. Cheap: make one per request.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    store: &'a dyn DocStore,
    epoch: [u8; 16],
    limits: Limits,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<'a> Engine<'a> {
    /// The algorithm over `store`, whose epoch is `epoch` (the server reads it once at
    /// start: a restore, which gives a new one, happens with the servers stopped).
    pub fn new(store: &'a dyn DocStore, epoch: [u8; 16], limits: Limits) -> Self {
        Self {
            store,
            epoch,
            limits,
        }
    }

    /// Handles one decoded sync request of the device `peer`: the steps below, in
    /// order; the reply's body is sent once this returns (the commit is done).
    pub async fn sync<P: SyncPolicy>(
        &self,
        policy: &P,
        peer: &PeerId,
        request: SyncRequest,
    ) -> HttpResult<SyncReply> {
        let Some(place) = place_cursor(&self.epoch, &request.cursor) else {
            return self.reconcile("a cursor of another epoch: the store was restored");
        };
        let mut round = Round::start(self.store, policy, peer, request, self.limits);
        let pushed_missing = round.apply_uploads().await?;
        if pushed_missing {
            round.push_view().await?;
        }
        let Some((next, more)) = round.page_feed(place).await? else {
            return self.reconcile("a cursor beyond the feed: the store went back in time");
        };
        if place.first_contact && !more {
            round.offer_held_back(next).await?;
        }
        let place = Place {
            at: next,
            first_contact: place.first_contact && more,
        };
        round
            .commit_and_reply(device_cursor(&self.epoch, place), more)
            .await
    }

    /// Handles one decoded heads request of the device `peer` (it reconciles): the
    /// documents this store lacks changes of; the device's sync states that may no
    /// longer say the truth are forgotten first.
    pub async fn heads(&self, peer: &PeerId, request: &HeadsRequest) -> HttpResult<HeadsReply> {
        reconcile_heads(self.store, peer, request, &self.limits).await
    }

    /// The answer to a device whose cursor this store does not know.
    fn reconcile(&self, why: &'static str) -> HttpResult<SyncReply> {
        Ok(SyncReply {
            body: reconcile_response(&self.epoch, &self.limits)?,
            reconcile: Some(why),
            ..SyncReply::default()
        })
    }
}
