//! The faults the scheduler injects besides the network's: tablets killed or dying in
//! the middle of their writes, storage going back in time (the server restored from a
//! backup, a tablet from an old image, one tablet's folder copied onto another), the
//! lead revoking a tablet and the rep pairing it again, and a rep losing and getting
//! back the right to write a client's documents.

use rapport_domain::DocId;

use crate::sim::device::pairing;
use crate::sim::world::{Action, KEPT_IMAGES, World};

impl World {
    /// Does one fault action (a no-op when nothing fits it now).
    pub(super) fn fault(&mut self, action: Action) {
        match action {
            Action::Kill => {
                // Mostly a tablet in the middle of a run: between any two of its steps.
                let running = self.slots(|d| d.running());
                let all = self.slots(|_| true);
                let pool = if running.is_empty() || self.rng.chance(200) {
                    all
                } else {
                    running
                };
                if let Some(slot) = self.choose(&pool) {
                    self.die(slot);
                }
            }
            Action::ArmDeath => {
                let healthy = self.slots(|d| !d.dying);
                if let Some(slot) = self.choose(&healthy) {
                    let left = self.rng.range(0, 6);
                    self.trace
                        .record(format!("{slot} dies after {left} more writes"));
                    self.devices[slot].arm_death(left);
                }
            }
            Action::ServerBackup => {
                self.stats.server_backups += 1;
                keep_some(&mut self.backups);
                self.backups.push(self.transport.server.snapshot());
                self.trace.record("server backed up");
            }
            Action::ServerRestore => {
                if self.backups.is_empty() {
                    return;
                }
                let i = self.rng.index(self.backups.len());
                self.stats.server_restores += 1;
                self.transport.server.restore(self.backups[i].clone());
                self.trace
                    .record(format!("server restored from backup {i}"));
                self.went_back();
            }
            Action::DeviceImage => {
                let slot = self.rng.index(self.devices.len());
                self.stats.device_images += 1;
                let image = self.devices[slot].snapshot();
                keep_some(&mut self.devices[slot].images);
                self.devices[slot].images.push(image);
                self.trace.record(format!("{slot} imaged"));
            }
            Action::DeviceRestore => {
                let imaged = self.slots(|d| !d.images.is_empty());
                let Some(slot) = self.choose(&imaged) else {
                    return;
                };
                let i = self.rng.index(self.devices[slot].images.len());
                let image = self.devices[slot].images[i].clone();
                self.stats.device_restores += 1;
                self.devices[slot].restore(image);
                self.net.forget_responses_of(slot);
                self.note_shared(slot);
                self.trace.record(format!("{slot} restored from image {i}"));
                self.went_back();
            }
            Action::Copy => {
                if self.devices.len() < 2 {
                    return;
                }
                let from = self.rng.index(self.devices.len());
                let to = (from + 1 + self.rng.index(self.devices.len() - 1)) % self.devices.len();
                let image = self.devices[from].snapshot();
                self.stats.copies += 1;
                self.devices[to].restore(image);
                self.net.forget_responses_of(to);
                self.note_shared(to);
                let id = self.devices[to].server_id();
                self.trace.record(format!(
                    "{from}'s folder copied onto {to}: both are device {id}"
                ));
                if !self.shared_copies {
                    let at =
                        self.now_ms + i64::try_from(self.rng.below(2 * 3_600_000)).expect("fits");
                    self.revoke_at.push((id, at));
                }
                self.went_back();
            }
            Action::Revoke => {
                let slot = self.rng.index(self.devices.len());
                let id = self.devices[slot].server_id();
                self.revoke(id);
            }
            Action::PairAgain => {
                let revoked =
                    self.slots(|d| !d.running() && self.transport.is_revoked(d.server_id()));
                if let Some(slot) = self.choose(&revoked) {
                    self.pair_again(slot);
                }
            }
            Action::Forbid => {
                let slot = self.rng.index(self.devices.len());
                let docs: Vec<DocId> = self
                    .transport
                    .server
                    .doc_ids()
                    .into_iter()
                    .filter(|d| *d != self.content.programme)
                    .collect();
                if docs.is_empty() {
                    return;
                }
                let doc = *self.rng.pick(&docs);
                let id = self.devices[slot].server_id();
                self.stats.forbids += 1;
                self.transport.forbid(id, doc);
                for d in &mut self.devices {
                    if d.server_id() == id
                        && let Some(marks) = d.marks()
                    {
                        marks.refused.insert(doc);
                    }
                }
                self.trace
                    .record(format!("device {id} ({slot}) may not write {doc}"));
            }
            Action::Regrant => {
                let forbidden = self.transport.forbidden();
                if forbidden.is_empty() {
                    return;
                }
                let (id, doc) = *self.rng.pick(&forbidden);
                self.regrant(id, doc);
            }
            other => unreachable!("{other:?} is not a fault"),
        }
    }

    /// The lead revokes server device `id`.
    pub(super) fn revoke(&mut self, id: u64) {
        if !self.transport.is_revoked(id) {
            self.stats.revokes += 1;
            self.transport.revoke(id);
            self.trace.record(format!("device {id} revoked"));
        }
    }

    /// Revokes the copied devices whose time has come (all of them with `all`).
    ///
    /// Why the lead revokes a copied device: the server keeps one sync state per
    /// device and document, which says what that device holds. Two tablets syncing as
    /// one device make it say what the one that synced last holds, so the feed skips,
    /// for the other, the changes the first received: a document nobody edits again
    /// stays behind on it (until its app starts again and reconciles). Paired again,
    /// each tablet is a device of its own. `Config::shared_copies` keeps the copies
    /// sharing one device, which shows this.
    pub(super) fn revoke_due(&mut self, all: bool) {
        let now = self.now_ms;
        let (due, later): (Vec<_>, Vec<_>) =
            self.revoke_at.iter().partition(|(_, at)| all || *at <= now);
        self.revoke_at = later;
        for (id, _) in due {
            self.revoke(id);
        }
    }

    /// The rep pairs the revoked tablet in `slot` again: a new server device, the same
    /// registered actor (what it wrote meanwhile uploads under the actor it carries).
    pub(super) fn pair_again(&mut self, slot: usize) {
        let old = self.devices[slot].pairing();
        let id = self.next_device_id;
        self.next_device_id += 1;
        let actor: [u8; 16] = hex_bytes(&old.actor);
        let new = pairing(id, old.programme_id, old.rep_id.as_deref(), actor);
        match self.devices[slot].pair_again(new) {
            Ok(()) => {
                self.stats.pairings += 1;
                self.trace
                    .record(format!("{slot} paired again as device {id}"));
            }
            Err(e) if self.devices[slot].dying => {
                self.trace.record(format!("{slot} pairing failed: {e}"));
                self.die(slot);
            }
            Err(e) => panic!("pairing tablet {slot} again failed: {e}"),
        }
    }

    /// Server device `id` may write `doc` again. The real server then moves the
    /// documents of the reassigned client to the head of the feed, so the device
    /// receives them although its cursor is past them; the in-memory server has no
    /// such hook, so the lead's writer touches the document with an edit instead.
    pub(super) fn regrant(&mut self, id: u64, doc: DocId) {
        self.stats.regrants += 1;
        self.transport.regrant(id, doc);
        self.lead_sync();
        let touched = self.lead_edit(Some(doc));
        assert!(
            touched || !self.transport.server.doc_ids().contains(&doc),
            "the lead could not touch {doc}, which the server holds"
        );
        self.trace.record(format!(
            "device {id} may write {doc} again (touched: {touched})"
        ));
    }

    /// After a replica went back in time: the saved changes no replica holds any more
    /// are lost with it (counted, no longer required).
    pub(super) fn went_back(&mut self) {
        let Self {
            ledger,
            transport,
            devices,
            lead,
            ..
        } = self;
        let lost = ledger.went_back(
            |doc| transport.server.load(&doc),
            |doc| {
                devices
                    .iter()
                    .chain(std::iter::once(&*lead))
                    .filter_map(|d| d.doc(doc))
                    .collect()
            },
        );
        if lost > 0 {
            self.trace
                .record(format!("{lost} change(s) lost with every holder"));
        }
        self.stats.lost_changes += lost as u64;
    }
}

/// Keeps the first and the newest few of `items`, so one more fits.
fn keep_some<T>(items: &mut Vec<T>) {
    if items.len() >= KEPT_IMAGES {
        items.remove(1);
    }
}

/// The 16 bytes of a registered actor in hex.
fn hex_bytes(hex: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("a hex actor");
    }
    out
}
