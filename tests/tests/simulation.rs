//! A deterministic simulation of Rapport's sync, in the manner of FoundationDB's and
//! TigerBeetle's: one seed drives everything, a failing seed replays exactly.
//!
//! One seeded run holds 3–5 reps' tablets (the shipped device core,
//! `DeviceCore<MemDeviceStore>`, each with a host whose clock is the simulation's and
//! whose randomness comes from the seed), the lead's writer (a core whose edits go to
//! the server at once), the in-memory server (`MemServer`, the real protocol sessions
//! and frames) and a network. A scheduler with one seeded generator interleaves, on a
//! simulated clock of working days:
//!
//! - **the reps and the lead typing** Russian text into visits' text answers and
//!   clients' notes (Automerge text), answering yes/no questions, starting visits, the
//!   lead rewording and adding questions of the questionnaire — concurrently, on the
//!   same documents;
//! - **sync runs step by step**: a run's posts wait on the wire; requests are lost,
//!   duplicated, delayed and reordered; responses are lost after the server committed,
//!   arrive late and then answer a later post of the same endpoint or are dropped;
//!   a tablet gives up a post after a while;
//! - **tablets dying** between any two steps (the run and everything only in memory
//!   are gone; the app starts again on its store), or in the middle of a sequence of
//!   writes (the store fails every write after a few more);
//! - **storage going back in time**: the server restored from an earlier backup (with a
//!   new epoch), a tablet restored from an earlier image of its folder, one tablet's
//!   folder copied onto another (both then sync as the one device in that folder, each
//!   opening of the store naming itself: see `sim/findings.rs`;
//!   `RAPPORT_SIM_SHARED_COPIES=0` has the lead revoke such a device instead, so both
//!   tablets pair again as devices of their own);
//! - **revocation**: the server answers a revoked device 401 `device_revoked`; the rep
//!   pairs the tablet again (a new device id, the same actor) and what it typed
//!   meanwhile must reach the server;
//! - **reassignment**: a device loses the right to write a document (the server refuses
//!   it) and later gets it back.
//!
//! Every sync run that says it finished is checked on the spot (`sim/checks.rs`): the
//! server holds what the tablet held, and the tablet what the server held when the run
//! began.
//!
//! At the end of its time the seed heals: no more faults, access given back, revoked
//! tablets paired again, every app started again, then at most a few rounds of clean
//! syncs. It must end with every replica holding the server's documents at the same
//! heads, nothing dirty, stopped or revoked; every change a replica reported saved (an
//! edit that returned `Ok`) on the server unless every replica holding it went back in
//! time; every change held anywhere when the faults stopped on the server; the server
//! having stored no change twice.
//!
//! Environment: `RAPPORT_SIM_SEEDS` (default 200) seeds from `RAPPORT_SIM_FIRST_SEED`
//! (default 1), or one seed `RAPPORT_SIM_SEED`; `RAPPORT_SIM_DEVICES` (default 3–5 from
//! the seed); `RAPPORT_SIM_HOURS` (default 2) or `RAPPORT_SIM_DAYS` of 12 working hours;
//! `RAPPORT_SIM_THREADS` (default: the machine's cores; each seed plays the same on
//! any number); `RAPPORT_SIM_VERBOSE=1` prints every event and what each request
//! carried; `RAPPORT_SIM_KEEP_GOING=1` plays every seed after a failure and names all
//! that failed. A failing seed prints the command that replays it and its last events. Add
//! `-- --nocapture` to see the one-line summary (its `traces` digest is the same on
//! every machine for the same seeds and settings). The long run:
//!
//! ```text
//! RAPPORT_SIM_SEEDS=1000 RAPPORT_SIM_DEVICES=10 RAPPORT_SIM_DAYS=7 cargo test --release -p rapport-tests --test simulation -- --nocapture
//! ```

mod sim;

use std::time::Instant;

use sim::{Config, Stats, run_seed, run_seeds};

/// A whole number from the environment variable `name`, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value.trim().parse().unwrap_or_else(|_| {
            panic!("{name} must be a whole number (e.g. {name}=10), not {value:?}")
        }),
        Err(_) => default,
    }
}

fn config() -> Config {
    let devices = env_number("RAPPORT_SIM_DEVICES", 0);
    assert!(
        devices == 0 || (2..=64).contains(&devices),
        "RAPPORT_SIM_DEVICES must be 2 to 64 (or unset for 3-5), not {devices}"
    );
    let hours = env_number("RAPPORT_SIM_HOURS", 2);
    let days = env_number("RAPPORT_SIM_DAYS", 0);
    assert!(
        hours > 0 || days > 0,
        "RAPPORT_SIM_HOURS=0 simulates nothing: give at least one hour (or RAPPORT_SIM_DAYS)"
    );
    Config {
        devices: (devices > 0).then(|| usize::try_from(devices).expect("fits")),
        hours,
        days,
        shared_copies: env_number("RAPPORT_SIM_SHARED_COPIES", 1) == 1,
    }
}

fn seeds() -> Vec<u64> {
    if std::env::var("RAPPORT_SIM_SEED").is_ok() {
        return vec![env_number("RAPPORT_SIM_SEED", 0)];
    }
    let first = env_number("RAPPORT_SIM_FIRST_SEED", 1);
    let count = env_number("RAPPORT_SIM_SEEDS", 200);
    assert!(
        count > 0,
        "RAPPORT_SIM_SEEDS=0 plays nothing: give at least 1"
    );
    (first..first + count).collect()
}

fn threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    usize::try_from(env_number("RAPPORT_SIM_THREADS", cores as u64)).expect("fits")
}

#[test]
fn seeds_heal_with_nothing_lost_and_nothing_stuck() {
    let config = config();
    let seeds = seeds();
    let started = Instant::now();
    let keep_going = env_number("RAPPORT_SIM_KEEP_GOING", 0) == 1;
    let played = run_seeds(&seeds, &config, threads(), keep_going);
    let outcomes = &played.passed;
    let mut total = Stats::default();
    for o in outcomes {
        total.add(&o.stats);
    }
    let docs: usize = outcomes.iter().map(|o| o.ending.docs).sum();
    // One number for the whole set of traces: equal on every machine for the same seeds.
    let digest = outcomes
        .iter()
        .fold(0u64, |d, o| d.rotate_left(5) ^ o.ending.trace);
    println!(
        "simulation: {} seed(s) passed of {}, {} tablets, {}, {:.1} s, traces {digest:016x}: {docs} documents at the end, {total}",
        outcomes.len(),
        seeds.len(),
        config
            .devices
            .map_or_else(|| "3-5".to_owned(), |n| n.to_string()),
        if config.days > 0 {
            format!("{} day(s)", config.days)
        } else {
            format!("{} hour(s)", config.hours)
        },
        started.elapsed().as_secs_f64()
    );
    assert!(
        played.failed.is_empty(),
        "simulation seed(s) {:?} failed (their replay commands are printed above)",
        played.failed
    );
    // Not a vacuous pass: over enough seeds every kind of fault happened.
    if seeds.len() >= 50 {
        let kinds = [
            ("requests dropped", total.dropped_requests),
            ("responses dropped", total.dropped_responses),
            ("duplicates", total.duplicates),
            ("reorders", total.reordered),
            ("late replies handed on", total.late_handed),
            ("timeouts", total.timeouts),
            ("kills", total.kills),
            ("deaths mid-write", total.write_deaths),
            ("server restores", total.server_restores),
            ("device restores", total.device_restores),
            ("copies", total.copies),
            ("revocations", total.revokes),
            ("refusals as revoked", total.refused_401),
            ("pairings again", total.pairings),
            ("access removed", total.forbids),
            ("access given back", total.regrants),
            ("lead edits", total.lead_edits),
        ];
        for (what, count) in kinds {
            assert!(
                count > 0,
                "no {what} in {} seeds: the scheduler is broken",
                seeds.len()
            );
        }
    }
}

#[test]
fn a_seed_replays_exactly() {
    let config = Config {
        devices: Some(3),
        hours: 1,
        days: 0,
        shared_copies: false,
    };
    let first = run_seed(7, &config);
    let again = run_seed(7, &config);
    assert_eq!(first, again, "seed 7 played twice differently");
    let other = run_seed(8, &config);
    assert_ne!(
        first.ending.trace, other.ending.trace,
        "two seeds gave the same trace: the seed drives nothing"
    );
}
