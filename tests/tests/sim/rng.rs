//! The simulation's one source of decisions (a seeded SplitMix64) and its trace (a
//! running hash of every event, with the last events kept for a failure report).

use std::collections::VecDeque;
use std::fmt::Display;

/// SplitMix64: small, fast, and the same sequence on every machine for a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        self.next_u64() % n
    }

    /// An index into a slice of `len` (> 0) items.
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).expect("an index fits")
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `per_mille` times in 1,000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1_000) < per_mille
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// An index chosen with the given weights (at least one above 0).
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut at = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if at < *w {
                return i;
            }
            at -= w;
        }
        unreachable!("the draw is below the total")
    }

    /// 16 random bytes as a version-4 UUID (document ids, actors).
    pub fn uuid_bytes(&mut self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        bytes
    }
}

/// Events kept for the report of a failing seed.
const RECENT: usize = 60;

/// What happened in a run: a hash of every event (FNV-1a over its text) and the last
/// ones in words. Two runs of one seed must give the same hash.
#[derive(Debug)]
pub struct Trace {
    /// Print every event as it happens (`RAPPORT_SIM_VERBOSE=1`).
    pub verbose: bool,
    hash: u64,
    /// Events recorded.
    pub events: u64,
    recent: VecDeque<String>,
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            verbose: std::env::var("RAPPORT_SIM_VERBOSE").is_ok_and(|v| v == "1"),
            hash: 0xcbf2_9ce4_8422_2325,
            events: 0,
            recent: VecDeque::with_capacity(RECENT),
        }
    }
}

impl Trace {
    /// Records one event.
    pub fn record(&mut self, event: impl Display) {
        let text = event.to_string();
        if self.verbose {
            eprintln!("{text}");
        }
        self.mix(text.as_bytes());
        self.events += 1;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(text);
    }

    /// Prints a detail when verbose (not an event: not hashed, not kept).
    pub fn note(&self, detail: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("    {}", detail());
        }
    }

    /// Mixes bytes into the hash without keeping them as an event (final heads).
    pub fn mix(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
        // An end marker, so ["ab", "c"] and ["a", "bc"] differ.
        self.hash ^= 0xff;
        self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
    }

    /// The hash so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The last events, oldest first, one a line.
    pub fn recent(&self) -> String {
        self.recent
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
