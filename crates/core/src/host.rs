//! What the core asks of the program it runs in: the time, random bytes, and where its
//! events go. The core reads no clock and draws no randomness of its own, so a
//! simulation that supplies both replays a run exactly.

use rapport_api::Event;
use rapport_domain::DocId;

use crate::store::MaybeSendSync;

/// The program around the core: the native node, the web app, a test, the simulation.
pub trait Host: MaybeSendSync {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> i64;

    /// Fills `buf` with random bytes (unpredictable in the shipped programs: actor
    /// suffixes and new document ids come from them).
    fn fill_random(&self, buf: &mut [u8]);

    /// Something the UI may show happened.
    fn emit(&self, event: Event);

    /// An edit was saved: a sync soon would send it.
    fn edited(&self);

    /// These documents hold enough loose changes to be worth compacting: call
    /// [`crate::DeviceCore::compact`] for them when the rep pauses typing
    /// ([`crate::DeviceCore::idle_for_compaction`]).
    fn compaction_due(&self, docs: Vec<DocId>);
}

/// A new random document id from the host's randomness.
pub(crate) fn random_id(host: &dyn Host) -> DocId {
    let mut bytes = [0u8; 16];
    host.fill_random(&mut bytes);
    // A version-4 UUID, as `DocId::random` makes.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    DocId::from_bytes(bytes)
}
