//! A deterministic simulation of Rapport's sync (in the manner of FoundationDB's and
//! TigerBeetle's): tablets running the shipped device core, the lead, the in-memory
//! server and a network between them, all driven by one seeded scheduler. See the
//! test program's documentation (`simulation.rs`) for what it does and how to run it.

mod checks;
mod device;
mod docs;
mod faults;
mod findings;
mod heal;
mod ledger;
mod net;
mod rng;
mod stats;
mod typing;
mod wire;
mod world;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub use self::heal::Ending;
pub use self::stats::Stats;
pub use self::world::Config;
use self::world::World;

/// What one seed did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Its figures.
    pub stats: Stats,
    /// How it ended.
    pub ending: Ending,
}

/// Plays `seed`; on a failure prints the seed, how to replay it and the last events,
/// then fails with the failure's own message.
pub fn run_seed(seed: u64, config: &Config) -> Outcome {
    let mut world = None;
    let played = catch_unwind(AssertUnwindSafe(|| {
        let w = world.insert(World::new(seed, config));
        w.play();
        let ending = w.heal();
        Outcome {
            seed,
            stats: w.stats.clone(),
            ending,
        }
    }));
    match played {
        Ok(outcome) => outcome,
        Err(panic) => {
            let recent = world.as_ref().map(|w| w.trace.recent()).unwrap_or_default();
            eprintln!(
                "simulation seed {seed} FAILED; replay it (RAPPORT_SIM_VERBOSE=1 prints every event) with\n  RAPPORT_SIM_SEED={seed}{} cargo test -p rapport-tests --test simulation seeds -- --nocapture\nits last events:\n{recent}",
                config_env(config)
            );
            std::panic::resume_unwind(panic)
        }
    }
}

/// The environment that reproduces `config` (besides the seed).
fn config_env(config: &Config) -> String {
    let mut out = String::new();
    if let Some(n) = config.devices {
        out.push_str(&format!(" RAPPORT_SIM_DEVICES={n}"));
    }
    if config.days > 0 {
        out.push_str(&format!(" RAPPORT_SIM_DAYS={}", config.days));
    } else {
        out.push_str(&format!(" RAPPORT_SIM_HOURS={}", config.hours));
    }
    if !config.shared_copies {
        out.push_str(" RAPPORT_SIM_SHARED_COPIES=0");
    }
    out
}

/// What a set of seeds did: the outcomes of those that passed, and the seeds that
/// failed (each printed its replay command).
#[derive(Debug)]
pub struct Played {
    /// The seeds that passed, in the order given.
    pub passed: Vec<Outcome>,
    /// The seeds that failed, sorted.
    pub failed: Vec<u64>,
}

/// Plays `seeds` on `threads` threads (each seed is deterministic on its own); stops
/// handing out seeds after the first failure (with `keep_going`, plays them all).
pub fn run_seeds(seeds: &[u64], config: &Config, threads: usize, keep_going: bool) -> Played {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; seeds.len()]);
    let failures: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(seed) = seeds.get(i) else { break };
                    match catch_unwind(|| run_seed(*seed, config)) {
                        Ok(outcome) => {
                            results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                        }
                        Err(_) => {
                            failed.store(!keep_going, Ordering::SeqCst);
                            failures
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(*seed);
                        }
                    }
                }
            });
        }
    });
    let mut failed = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort_unstable();
    let passed = results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect();
    Played { passed, failed }
}
