//! The figures of a run: what happened how often, summed over seeds into the one-line
//! summary the test prints.

use std::fmt;

/// Declares the counters once: the struct, its sum and its summary line.
macro_rules! counters {
    (
        sums { $($field:ident: $words:literal,)* }
        maxima { $($max:ident: $max_words:literal,)* }
    ) => {
        /// How often each thing happened (summed over seeds), and the largest of a few
        /// figures (the largest over seeds).
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct Stats {
            $(
                #[doc = $words]
                pub $field: u64,
            )*
            $(
                #[doc = $max_words]
                pub $max: u64,
            )*
        }

        impl Stats {
            /// Adds another seed's figures.
            pub fn add(&mut self, other: &Stats) {
                $(self.$field += other.$field;)*
                $(self.$max = self.$max.max(other.$max);)*
            }
        }

        impl fmt::Display for Stats {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let parts: Vec<String> = vec![
                    $(format!("{} {}", self.$field, $words),)*
                    $(format!("{} {}", $max_words, self.$max),)*
                ];
                write!(f, "{}", parts.join(", "))
            }
        }
    };
}

counters! {
    sums {
        steps: "scheduler steps",
        run_steps: "run steps",
        runs: "sync runs",
        runs_ok: "runs ok",
        runs_offline: "runs ended offline",
        runs_revoked: "runs ended revoked",
        runs_incomplete: "runs ended incomplete",
        runs_failed_other: "runs failed otherwise",
        runs_checked: "finished runs checked up",
        runs_checked_down: "and down",
        edits: "edits saved",
        edits_refused: "edits refused",
        lead_edits: "lead edits",
        new_visits: "visits started",
        requests: "requests",
        dropped_requests: "requests dropped",
        dropped_responses: "responses dropped after commit",
        duplicates: "requests duplicated",
        reordered: "requests reordered",
        timeouts: "posts timed out",
        late_handed: "late replies handed to a later post",
        late_discarded: "late replies discarded",
        refused_401: "posts refused as revoked",
        kills: "kills between steps",
        write_deaths: "deaths mid-write",
        compactions: "compactions",
        server_backups: "server backups",
        server_restores: "server restores (new epoch)",
        device_images: "device images",
        device_restores: "device restores",
        copies: "store copies",
        revokes: "revocations",
        pairings: "pairings again",
        forbids: "access removed",
        regrants: "access given back",
        saved_changes: "changes saved",
        lost_changes: "changes lost with every holder",
        heal_rounds: "healing rounds",
        reconciles: "reconciles asked",
    }
    maxima {
        max_heal_rounds: "at most healing rounds in a seed:",
    }
}
