//! The status summaries of each programme's visits, kept by this process and read again
//! only where they changed: the first status after a rep's sync reads that visit's row,
//! not the programme's 10,000 (`results.rs` derives the status from them).
//!
//! Kept summaries are a cache, never the only copy of anything. A kept programme holds
//! the projector's count of transactions it was read at (`projector.seq`; every row a
//! transaction writes carries its count in `status_seq`), and the count and sum of its
//! rows' random stamps. After the rows written since that count are read, the kept
//! stamps must add up to the database's. They do not when rows left the programme, or
//! when the database was put back to an older copy under this process (its counts start
//! again below those read here, and rows written since may carry counts this process
//! has passed): the programme is then read whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rapport_domain::{DocId, VisitSummary};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::db::{Db, VisitRow};
use crate::error::{HttpError, HttpResult};

/// How many visits' summaries are kept over all programmes (about a kilobyte each): the
/// programmes read least recently are forgotten beyond it, never the one just read.
const KEPT_VISITS: usize = 50_000;

/// Reads after which the stamps may still disagree because a write came between the
/// rows and the sum, before the programme is read whole.
const ATTEMPTS: usize = 2;

/// The kept summaries of every programme whose status this process computed.
#[derive(Default)]
pub struct StatusRows {
    kept: Mutex<HashMap<DocId, Entry>>,
}

struct Entry {
    visits: Arc<AsyncMutex<Visits>>,
    used: u64,
    len: usize,
}

impl std::fmt::Debug for StatusRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusRows")
            .field("programmes", &self.lock().len())
            .finish()
    }
}

/// One programme's visits as this process last read them.
#[derive(Debug)]
pub struct Visits {
    /// The projector's count they were read at; `None` before the first read.
    seq: Option<i64>,
    rows: HashMap<DocId, Kept>,
    /// The sum of the rows' stamps.
    stamps: i64,
    /// Rows read since this process started (whole or since a count): tells a read of
    /// one row from a read of all.
    read: u64,
}

#[derive(Debug)]
struct Kept {
    seq: i64,
    stamp: i64,
    summary: VisitSummary,
}

impl Visits {
    /// Every visit's summary, in no particular order.
    pub fn summaries(&self) -> impl Iterator<Item = &VisitSummary> {
        self.rows.values().map(|k| &k.summary)
    }

    /// Rows read into this programme's summaries since the process started.
    pub fn rows_read(&self) -> u64 {
        self.read
    }

    fn apply(&mut self, rows: Vec<VisitRow>) -> HttpResult<()> {
        self.read += rows.len() as u64;
        for row in rows {
            if let Some(k) = self.rows.get(&row.doc_id)
                && (k.seq, k.stamp) == (row.seq, row.stamp)
            {
                continue;
            }
            let summary: VisitSummary = serde_json::from_str(&row.summary).map_err(|e| {
                HttpError::internal(
                    "projection summary",
                    format!("{e}; run `rapport-server rebuild-projections`"),
                )
            })?;
            let kept = Kept {
                seq: row.seq,
                stamp: row.stamp,
                summary,
            };
            if let Some(old) = self.rows.insert(row.doc_id, kept) {
                self.stamps -= old.stamp;
            }
            self.stamps += row.stamp;
        }
        Ok(())
    }

    /// Brings the kept rows to the database's, reading only what changed when it can.
    async fn update(&mut self, db: &Db, programme: DocId) -> HttpResult<()> {
        if let Some(since) = self.seq {
            for _ in 0..ATTEMPTS {
                let now = db.projection_seq().await?;
                if now < since {
                    break; // put back in time
                }
                self.apply(db.visit_rows_since(programme, since).await?)?;
                let stored = db.visit_stamps(programme).await?;
                if stored == (self.rows.len() as i64, self.stamps) {
                    self.seq = Some(now);
                    return Ok(());
                }
            }
        }
        let now = db.projection_seq().await?;
        let rows = db.visit_rows_since(programme, -1).await?;
        self.rows.clear();
        self.stamps = 0;
        self.apply(rows)?;
        self.seq = Some(now);
        Ok(())
    }
}

impl StatusRows {
    fn lock(&self) -> MutexGuard<'_, HashMap<DocId, Entry>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The summaries of `programme`'s visits as the database holds them now. Callers
    /// for the same programme take turns: the second finds the first one's reads.
    pub async fn visits(&self, db: &Db, programme: DocId) -> HttpResult<OwnedMutexGuard<Visits>> {
        let visits = self
            .lock()
            .entry(programme)
            .or_insert_with(|| Entry {
                visits: Arc::new(AsyncMutex::new(Visits {
                    seq: None,
                    rows: HashMap::new(),
                    stamps: 0,
                    read: 0,
                })),
                used: 0,
                len: 0,
            })
            .visits
            .clone();
        let mut guard = visits.lock_owned().await;
        if let Err(e) = guard.update(db, programme).await {
            // Half applied: read whole next time.
            guard.seq = None;
            return Err(e);
        }
        let len = guard.rows.len();
        let mut kept = self.lock();
        let used = kept.values().map(|e| e.used).max().unwrap_or(0) + 1;
        if let Some(e) = kept.get_mut(&programme) {
            e.used = used;
            e.len = len;
        }
        while kept.values().map(|e| e.len).sum::<usize>() > KEPT_VISITS {
            let Some(oldest) = kept
                .iter()
                .filter(|(id, _)| **id != programme)
                .min_by_key(|(_, e)| e.used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            kept.remove(&oldest);
        }
        Ok(guard)
    }
}
