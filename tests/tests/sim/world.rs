//! One seeded run: the tablets, the lead, the server, the clock and the scheduler that
//! interleaves their steps and the faults. Every decision comes from the run's one
//! generator, in an order fixed by the seed; collections are ordered (vectors, B-trees),
//! so a seed replays exactly.

use std::collections::{BTreeMap, BTreeSet};

use automerge::Automerge;
use rapport_core::{IndexEntry, NodeError};
use rapport_domain::{DocId, check_document};
use rapport_protocol::{DeviceConfig, ErrorCode, Limits, NewChanges, Rejection};
use rapport_testkit::{MemServer, MemServerSnapshot};

use crate::sim::device::{SimDevice, Stepped, Waiting, pairing};
use crate::sim::docs::Content;
use crate::sim::ledger::Ledger;
use crate::sim::net::{Network, Transport};
use crate::sim::rng::{Rng, Trace};
use crate::sim::stats::Stats;

/// 2026-11-02 08:00 UTC: the first working morning.
const START_MS: i64 = 1_793_606_400_000;
const HOUR_MS: i64 = 3_600_000;
/// A working day: the tablets are used from 08:00 to 20:00, then the clock jumps.
const WORKDAY_MS: i64 = 12 * HOUR_MS;
/// Mean simulated time between two scheduler steps, times the number of tablets (the
/// more tablets, the more happens in an hour).
const MEAN_STEP_MS: u64 = 32_000;
/// A post is given up after this long without an answer, at the earliest.
const TIMEOUT_MS: i64 = 30_000;
/// Most server backups and device images kept (the first stays, older others go).
pub(super) const KEPT_IMAGES: usize = 8;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Tablets (reps' devices); `None`: 3 to 5, drawn from the seed.
    pub devices: Option<usize>,
    /// Simulated working hours; with `days`, ignored.
    pub hours: u64,
    /// Simulated days of 12 working hours each (0: use `hours`).
    pub days: u64,
    /// A folder copied onto another tablet keeps syncing as the device it was copied
    /// from, on both tablets, for good. Without it the lead revokes that device a while
    /// after the copy and both tablets pair again (see `faults.rs` for why).
    pub shared_copies: bool,
}

/// What the scheduler may do at a step, with its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    StepRun,
    StartRun,
    DeliverRequest,
    DeliverResponse,
    Timeout,
    Edit,
    NewVisit,
    LeadEdit,
    Compact,
    Kill,
    ArmDeath,
    ServerBackup,
    ServerRestore,
    DeviceImage,
    DeviceRestore,
    Copy,
    Revoke,
    PairAgain,
    Forbid,
    Regrant,
}

/// Each action with its weight: `true`, done by or to a tablet, the weight counts per
/// tablet (with four tablets, four times); `false`, done by the lead or the server,
/// it counts four times whatever the number of tablets (with more tablets the steps
/// come faster, so such an action keeps its rate per simulated hour).
const ACTIONS: &[(Action, u64, bool)] = &[
    (Action::StepRun, 400, true),
    (Action::StartRun, 50, true),
    (Action::DeliverRequest, 250, true),
    (Action::DeliverResponse, 250, true),
    (Action::Timeout, 40, true),
    (Action::Edit, 160, true),
    (Action::NewVisit, 5, true),
    (Action::LeadEdit, 20, false),
    (Action::Compact, 5, true),
    (Action::Kill, 3, true),
    (Action::ArmDeath, 3, true),
    (Action::ServerBackup, 5, false),
    (Action::ServerRestore, 1, false),
    (Action::DeviceImage, 6, true),
    (Action::DeviceRestore, 2, true),
    (Action::Copy, 1, false),
    (Action::Revoke, 1, false),
    (Action::PairAgain, 8, true),
    (Action::Forbid, 3, true),
    (Action::Regrant, 6, true),
];

/// The server's check before committing a device's changes: the document must still
/// be a well-formed Rapport document (the real server does the same).
fn schema_check(doc: &Automerge, _new: NewChanges<'_>) -> Result<(), Rejection> {
    check_document(doc).map(|_| ()).map_err(|e| Rejection {
        code: ErrorCode::Rejected,
        message: e.to_string(),
    })
}

/// The whole simulated world of one seed.
pub struct World {
    pub(super) rng: Rng,
    pub(super) trace: Trace,
    pub(super) stats: Stats,
    pub(super) now_ms: i64,
    end_ms: i64,
    pub(super) transport: Transport,
    pub(super) net: Network,
    /// The reps' tablets.
    pub(super) devices: Vec<SimDevice>,
    /// The lead's writer: its edits go to the server at once.
    pub(super) lead: SimDevice,
    pub(super) ledger: Ledger,
    pub(super) content: Content,
    pub(super) backups: Vec<MemServerSnapshot>,
    pub(super) next_device_id: u64,
    /// Devices the lead will revoke, and when (ms): those copied onto a second tablet.
    pub(super) revoke_at: Vec<(u64, i64)>,
    pub(super) shared_copies: bool,
    /// Devices two tablets have synced as (a folder copied), not checked down.
    pub(super) shared_ids: BTreeSet<u64>,
    /// The tablet whose rep started each visit (the lead's first visits: the first rep).
    pub(super) owner: BTreeMap<DocId, usize>,
    /// The weights of [`ACTIONS`] for this many tablets.
    weights: Vec<u64>,
}

impl World {
    /// The world of `seed`: the lead has made the programme, clients and first visits
    /// and put them on the server; the tablets are paired and hold nothing yet.
    pub fn new(seed: u64, config: &Config) -> Self {
        let mut rng = Rng::new(seed);
        let n = config
            .devices
            .unwrap_or_else(|| usize::try_from(rng.range(3, 5)).expect("fits"));
        // Sometimes a few documents per frame, so the feed comes in pages.
        let limits = Limits {
            max_docs: *rng.pick(&[1_000, 1_000, 3]),
            ..Limits::DEFAULT
        };
        let sync = DeviceConfig {
            limits,
            ..DeviceConfig::default()
        };
        let mut server = MemServer::with_limits(limits);
        server.validate = Some(schema_check);
        let content = Content::new(DocId::from_bytes(rng.uuid_bytes()));
        let programme = content.programme;
        let lead_pairing = pairing(1, programme, None, rng.uuid_bytes());
        let lead = SimDevice::new(n, rng.next_u64(), START_MS, lead_pairing, sync);
        let devices = (0..n)
            .map(|slot| {
                let rep = format!("rep-{}", slot + 1);
                let p = pairing(slot as u64 + 2, programme, Some(&rep), rng.uuid_bytes());
                SimDevice::new(slot, rng.next_u64(), START_MS, p, sync)
            })
            .collect();
        let end_ms = if config.days > 0 {
            START_MS + i64::try_from(config.days).expect("fits") * 24 * HOUR_MS
        } else {
            START_MS + i64::try_from(config.hours).expect("fits") * HOUR_MS
        };
        let mut world = Self {
            rng,
            trace: Trace::default(),
            stats: Stats::default(),
            now_ms: START_MS,
            end_ms,
            transport: Transport::new(server),
            net: Network::default(),
            devices,
            lead,
            ledger: Ledger::default(),
            content,
            backups: Vec::new(),
            next_device_id: n as u64 + 2,
            revoke_at: Vec::new(),
            shared_copies: config.shared_copies,
            owner: BTreeMap::new(),
            shared_ids: BTreeSet::new(),
            weights: ACTIONS
                .iter()
                .map(|(_, w, per_tablet)| if *per_tablet { w * n as u64 } else { w * 4 })
                .collect(),
        };
        world.trace.record(format!(
            "seed {seed}: {n} tablets, {} docs a frame",
            limits.max_docs
        ));
        world.lead_creates();
        world
    }

    /// The lead makes the programme, clients and a visit of each of the first two.
    fn lead_creates(&mut self) {
        let actor = self.lead.edit_actor();
        let mut made = vec![(
            self.content.programme,
            self.content.programme_doc(actor.clone(), self.now_ms),
            "programme",
            None,
        )];
        let clients = 2 + self.rng.index(3);
        for c in 0..clients {
            let id = DocId::from_bytes(self.rng.uuid_bytes());
            made.push((
                id,
                self.content.client_doc(actor.clone(), id, c, self.now_ms),
                "client",
                Some(id),
            ));
            if c < 2 {
                let visit = DocId::from_bytes(self.rng.uuid_bytes());
                let doc = self
                    .content
                    .visit_doc(actor.clone(), visit, id, "rep-1", self.now_ms);
                self.owner.insert(visit, 0);
                made.push((visit, doc, "visit", Some(id)));
            }
        }
        for (id, doc, kind, client) in made {
            let entry = IndexEntry {
                doc: id,
                kind: kind.into(),
                client,
            };
            let hashes = self.lead.save_new(id, &doc, entry).expect("the lead saves");
            self.ledger.saved(id, &hashes, "lead");
        }
        self.lead_sync();
    }

    /// Plays the seed until the end of its simulated time.
    pub fn play(&mut self) {
        while self.now_ms < self.end_ms {
            self.advance_clock();
            self.revoke_due(false);
            self.stats.steps += 1;
            let action = ACTIONS[self.rng.weighted(&self.weights)].0;
            self.act(action);
        }
    }

    fn advance_clock(&mut self) {
        let step = self
            .rng
            .range(1, 2 * MEAN_STEP_MS / self.devices.len() as u64);
        self.now_ms += i64::try_from(step).expect("fits");
        let day = (self.now_ms - START_MS).div_euclid(24 * HOUR_MS);
        if self.now_ms - START_MS - day * 24 * HOUR_MS >= WORKDAY_MS {
            // Night: the tablets are off the network until the next morning.
            self.now_ms = START_MS + (day + 1) * 24 * HOUR_MS;
            self.trace.record(format!("morning of day {}", day + 1));
        }
        self.set_clocks();
    }

    pub(super) fn set_clocks(&self) {
        for d in &self.devices {
            d.set_now(self.now_ms);
        }
        self.lead.set_now(self.now_ms);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::StepRun => {
                let ready: Vec<usize> = self.slots(|d| d.steppable());
                if let Some(slot) = self.choose(&ready) {
                    let steps = self.rng.range(1, 6);
                    for _ in 0..steps {
                        if !self.step_device(slot) {
                            break;
                        }
                    }
                }
            }
            Action::StartRun => {
                let idle: Vec<usize> = self.slots(|d| !d.running());
                if let Some(slot) = self.choose(&idle) {
                    self.stats.runs += 1;
                    self.trace.record(format!("{slot} starts a run"));
                    let marks = self.marks_for(slot);
                    self.devices[slot].begin_run(marks);
                    self.step_device(slot);
                }
            }
            Action::DeliverRequest => self.deliver_request(),
            Action::DeliverResponse => self.deliver_response(),
            Action::Timeout => {
                // A post whose request or answer was lost waits until the tablet gives
                // up; one still on the wire sometimes too (its answer comes late).
                let now = self.now_ms;
                let slow = self.rng.chance(50);
                let net = &self.net;
                let late = self.slots(|d| {
                    d.waiting().is_some_and(|w| {
                        now - w.since_ms >= TIMEOUT_MS && (slow || !net.carries(d.slot, w.request))
                    })
                });
                if let Some(slot) = self.choose(&late) {
                    self.stats.timeouts += 1;
                    self.trace.record(format!("{slot} gives up waiting"));
                    self.devices[slot].answer(Err("timed out: no answer".into()));
                }
            }
            Action::Edit => self.rep_edit(),
            Action::NewVisit => self.new_visit(),
            Action::LeadEdit => {
                self.lead_edit(None);
            }
            Action::Compact => {
                let healthy = self.slots(|d| !d.dying);
                if let Some(slot) = self.choose(&healthy) {
                    self.stats.compactions += 1;
                    self.devices[slot].compact();
                }
            }
            other => self.fault(other),
        }
    }

    /// Slots of the tablets for which `f` holds, in order.
    pub(super) fn slots(&self, f: impl Fn(&SimDevice) -> bool) -> Vec<usize> {
        self.devices
            .iter()
            .filter(|d| f(d))
            .map(|d| d.slot)
            .collect()
    }

    /// One of `slots`, if any.
    pub(super) fn choose(&mut self, slots: &[usize]) -> Option<usize> {
        (!slots.is_empty()).then(|| *self.rng.pick(slots))
    }

    /// One step of the run of `slot`; false when the run waits, ended or the device died.
    fn step_device(&mut self, slot: usize) -> bool {
        let Some(stepped) = self.devices[slot].step() else {
            return false;
        };
        self.stats.run_steps += 1;
        match stepped {
            Stepped::Store { writes, failed } => {
                if failed {
                    assert!(
                        self.devices[slot].dying,
                        "a store write of healthy tablet {slot} failed"
                    );
                    assert!(writes, "a read of tablet {slot} failed");
                    self.die(slot);
                    return false;
                }
                true
            }
            Stepped::Post(post) => {
                self.stats.requests += 1;
                let device = &mut self.devices[slot];
                let token = post.token.clone();
                let request = self.net.send(slot, device.opening, post);
                let path = self.net.requests.last().expect("just sent").path;
                self.trace
                    .record(format!("{slot} posts #{request} {path:?}"));
                device.posted(Waiting {
                    request,
                    path,
                    token,
                    since_ms: self.now_ms,
                });
                false
            }
            Stepped::Done(result, marks) => {
                match &result {
                    Ok(_) => {
                        self.stats.runs_ok += 1;
                        self.check_run(slot, marks);
                    }
                    Err(e) => match e.code() {
                        "offline" => self.stats.runs_offline += 1,
                        "device_revoked" => self.stats.runs_revoked += 1,
                        "sync_incomplete" => self.stats.runs_incomplete += 1,
                        "sync_step_mismatch" | "not_paired" => {
                            panic!("tablet {slot}'s run ended with {e}")
                        }
                        _ => self.stats.runs_failed_other += 1,
                    },
                }
                let code = result.as_ref().map_or_else(NodeError::code, |_| "ok");
                self.trace.record(format!("{slot} run done: {code}"));
                false
            }
        }
    }

    /// The lead's writer syncs with nothing in the way.
    pub(super) fn lead_sync(&mut self) {
        self.lead.sync_complete(&mut self.transport, 8);
    }

    /// The tablet in `slot` dies: the app is started again on what its store holds.
    pub(super) fn die(&mut self, slot: usize) {
        if self.devices[slot].dying {
            self.stats.write_deaths += 1;
        } else {
            self.stats.kills += 1;
        }
        self.devices[slot].reopen();
        let lost = self.net.forget_responses_of(slot);
        self.trace
            .record(format!("{slot} died ({lost} answers lost)"));
    }
}
