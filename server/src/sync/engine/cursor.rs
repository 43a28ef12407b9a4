//! The cursor a device keeps between syncs: this store's epoch, the place in its change
//! feed, and whether a first contact goes on; and the answer to a device whose cursor
//! this store does not know.

use rapport_protocol::{Limits, SyncResponse};
use rapport_store::FeedCursor;

use crate::error::{HttpError, HttpResult};

/// Where a device is in this store's feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Place {
    /// The feed position.
    pub(super) at: FeedCursor,
    /// The device's first contact (a fresh device, or one starting over after a
    /// reconcile) is still going on: it gets held-back documents at its last page.
    pub(super) first_contact: bool,
}

/// Marks a cursor handed out in the middle of a first contact.
const FIRST_CONTACT: u8 = 1;

/// The cursor a device keeps: the store's epoch, the feed position, and a marker while
/// a first contact goes on over several pages. A restore gives the store a new epoch,
/// so a device's cursor from before it is recognised.
pub(super) fn device_cursor(epoch: &[u8; 16], place: Place) -> Vec<u8> {
    let mut out = epoch.to_vec();
    out.extend_from_slice(&place.at.to_bytes());
    if place.first_contact {
        out.push(FIRST_CONTACT);
    }
    out
}

/// Where a device's cursor points in this store's feed: `None` when it is not a
/// position of this store (another epoch, an older format, garbage). An empty cursor
/// is the start of a first contact.
pub(super) fn place_cursor(epoch: &[u8; 16], bytes: &[u8]) -> Option<Place> {
    if bytes.is_empty() {
        return Some(Place {
            at: FeedCursor::start(),
            first_contact: true,
        });
    }
    let (theirs, rest) = bytes.split_at_checked(16)?;
    if theirs != epoch {
        return None;
    }
    let (at, first_contact) = match rest.split_at_checked(FeedCursor::BYTES) {
        Some((at, [FIRST_CONTACT])) => (at, true),
        _ => (rest, false),
    };
    Some(Place {
        at: FeedCursor::from_bytes(at).ok()?,
        first_contact,
    })
}

/// The cursor of the start of the feed, as a first contact begins it: where a device
/// that reconciles starts over.
pub fn start_cursor(epoch: &[u8; 16]) -> Vec<u8> {
    device_cursor(
        epoch,
        Place {
            at: FeedCursor::start(),
            first_contact: true,
        },
    )
}

/// The answer to a device whose cursor this store does not know: reconcile, then
/// start over from the beginning of the feed. Nothing of the request is applied: the
/// device's sync states may claim changes this store lost.
pub(super) fn reconcile_response(epoch: &[u8; 16], limits: &Limits) -> HttpResult<Vec<u8>> {
    SyncResponse {
        cursor: start_cursor(epoch),
        reconcile: true,
        ..SyncResponse::default()
    }
    .encode(limits)
    .map_err(|e| HttpError::internal("encoding the sync response", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_placed_only_in_the_epoch_that_handed_it_out() {
        let epoch = [7u8; 16];
        let start = place_cursor(&epoch, &[]).expect("empty is the start");
        assert!(start.first_contact && start.at == FeedCursor::start());
        for first_contact in [false, true] {
            let place = Place {
                at: FeedCursor::start(),
                first_contact,
            };
            let bytes = device_cursor(&epoch, place);
            assert_eq!(place_cursor(&epoch, &bytes), Some(place));
            assert_eq!(place_cursor(&[8; 16], &bytes), None, "another epoch");
        }
        let plain = device_cursor(
            &epoch,
            Place {
                at: FeedCursor::start(),
                first_contact: false,
            },
        );
        // The cursor of an older server (the feed position alone), garbage, a wrong marker.
        for bad in [
            plain[16..].to_vec(),
            b"\xd0\xba\xd1\x83\xd1\x80\xd1\x81\xd0\xbe\xd1\x80".to_vec(),
            [plain.as_slice(), &[9]].concat(),
            plain[..20].to_vec(),
        ] {
            assert_eq!(place_cursor(&epoch, &bad), None, "{bad:?}");
        }
    }
}
