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

/// Which opening of a device's store sent a sync request, and which one reconciled last
/// (each opening of a device's store draws its own instance; see the protocol crate's
/// *When storage goes back in time*).
///
/// The server keeps one sync state per device and document, saying what "the device"
/// holds. Two copies of one device's folder in use at once (copied to a second tablet)
/// share them: once one copy acknowledged a change, the feed would skip it for the
/// other. So a request from an instance other than the one that reconciled last is
/// answered `reconcile`: that copy lists what it holds, the states that do not match it
/// are forgotten, and it gets what it lacks. One copy alone (however often its app
/// restarts: it reconciles at every start) never pays for this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Instance<'a> {
    /// The instance the request came from (`None`: a client that does not say).
    pub presented: Option<&'a str>,
    /// The instance whose reconcile the sync states of the device follow.
    pub reconciled: Option<&'a str>,
}

impl Instance<'_> {
    /// Whether the request comes from another copy than the one the states follow.
    pub fn another_copy(&self) -> bool {
        matches!((self.presented, self.reconciled), (Some(p), Some(r)) if p != r)
    }
}

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
        instance: Instance<'_>,
    ) -> HttpResult<SyncReply> {
        if instance.another_copy() {
            return self.reconcile(
                "another copy of the device's folder reconciled since this one did: the sync states say what the other holds",
            );
        }
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
