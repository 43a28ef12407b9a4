//! The host of a device that syncs with the real server: the wall clock (the server
//! stamps what it stores with it too) and the OS's random source.

use rapport_api::Event;
use rapport_core::Host;
use rapport_domain::DocId;

/// A [`Host`] on the system clock and OS randomness; events and the edit and compaction
/// notices go nowhere (a test syncs when it says so and compacts nothing on the device).
#[derive(Debug, Default)]
pub struct WallHost;

impl Host for WallHost {
    fn now_ms(&self) -> i64 {
        rapport_server::now_ms()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(32) {
            let bytes = rapport_server::auth::random_bytes::<32>();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn emit(&self, _event: Event) {}

    fn edited(&self) {}

    fn compaction_due(&self, _docs: Vec<DocId>) {}
}
