//! Devices' rights kept between their syncs: a programme's clients (for a rep, or all
//! of them) and its authors, each with the [`RightsStamp`] part it was read under. A
//! sync reads the stamp with the device (one query) and the rights themselves only
//! when the stamp moved, so a reconnect costs two queries fewer. The stamp comes from
//! the database, so a change made by another server process is seen at the next sync.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rapport_domain::DocScope;
use rapport_store::DocId;

use super::{Authors, Db, RightsStamp};
use crate::error::HttpResult;

/// Entries kept per map before it is emptied and filled again (a programme of 1,000
/// reps holds 1,001 client entries; a server of many programmes refills in one round).
const MAX_ENTRIES: usize = 20_000;

/// Documents' scopes kept (about 100 bytes each).
const MAX_SCOPES: usize = 200_000;

/// A programme's clients (a rep's, or all for `None`) and their reps.
pub(crate) type Clients = Arc<HashMap<DocId, Option<String>>>;

type ClientsKey = (DocId, Option<String>);

/// The authors' part of a stamp ([`RightsStamp::authors`]).
type AuthorsAt = [i64; 2];

#[derive(Debug, Default)]
pub(super) struct RightsCache {
    clients: Mutex<HashMap<ClientsKey, (i64, Clients)>>,
    authors: Mutex<HashMap<DocId, (AuthorsAt, Arc<Authors>)>>,
    /// Documents' scopes as projected. A scope never changes (an upload may not change
    /// a document's kind, programme or client), so a kept one needs no stamp.
    scopes: Mutex<HashMap<DocId, DocScope>>,
    /// Rights read from the database (clients or authors), and served from the copy.
    reads: AtomicU64,
    kept: AtomicU64,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps `value` under `key` (emptying a full map first).
fn keep<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, V>>, key: K, value: V) {
    let mut map = locked(map);
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

impl Db {
    /// Devices' rights read from the database so far, and served from this process's
    /// copy: (read, kept). `/metrics` shows them.
    pub fn rights_counts(&self) -> (u64, u64) {
        (
            self.rights.reads.load(Ordering::Relaxed),
            self.rights.kept.load(Ordering::Relaxed),
        )
    }

    /// The clients of a programme whose devices may be `rep`'s (all for `None`): kept
    /// ones when `stamp` says they are current, read otherwise.
    pub(crate) async fn device_clients(
        &self,
        programme: DocId,
        rep: Option<&str>,
        stamp: Option<RightsStamp>,
    ) -> HttpResult<Clients> {
        self.kept_clients(programme, rep, stamp.map(|s| s.clients))
            .await
    }

    /// Every client of a programme and its rep, as the lead's status counts them:
    /// the copy kept for devices while the programme's `clients_version` is the one it
    /// was read under (read first: rows changed after it are read again next time).
    pub(crate) async fn roster_clients(&self, programme: DocId) -> HttpResult<Clients> {
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT clients_version FROM programme_versions WHERE programme_id = $1",
        )
        .bind(programme.to_string())
        .fetch_optional(&self.pool)
        .await?;
        self.kept_clients(programme, None, version).await
    }

    /// The clients of `programme` (`rep`'s, or all): the kept copy when it was read
    /// under `clients_version`, read (and kept under it) otherwise.
    async fn kept_clients(
        &self,
        programme: DocId,
        rep: Option<&str>,
        clients_version: Option<i64>,
    ) -> HttpResult<Clients> {
        let key = (programme, rep.map(str::to_owned));
        if let Some(version) = clients_version
            && let Some((at, clients)) = locked(&self.rights.clients).get(&key)
            && *at == version
        {
            self.rights.kept.fetch_add(1, Ordering::Relaxed);
            return Ok(clients.clone());
        }
        self.rights.reads.fetch_add(1, Ordering::Relaxed);
        let clients = Arc::new(self.programme_clients(programme, rep).await?);
        if let Some(version) = clients_version {
            keep(&self.rights.clients, key, (version, clients.clone()));
        }
        Ok(clients)
    }

    /// The authors of a programme ([`Db::programme_authors`]): kept ones when `stamp`
    /// says they are current, read otherwise.
    pub(crate) async fn device_authors(
        &self,
        programme: DocId,
        stamp: Option<RightsStamp>,
    ) -> HttpResult<Arc<Authors>> {
        let at = stamp.map(|s| s.authors);
        if let Some(at) = at
            && let Some((kept_at, authors)) = locked(&self.rights.authors).get(&programme)
            && *kept_at == at
        {
            self.rights.kept.fetch_add(1, Ordering::Relaxed);
            return Ok(authors.clone());
        }
        self.rights.reads.fetch_add(1, Ordering::Relaxed);
        let authors = Arc::new(self.programme_authors(programme).await?);
        if let Some(at) = at {
            keep(&self.rights.authors, programme, (at, authors.clone()));
        }
        Ok(authors)
    }

    /// The scopes of those of `docs` the projections know (`None`: projected as a kind
    /// this server does not know), from this process's copy or else read.
    pub(crate) async fn projected_scopes(
        &self,
        docs: &[DocId],
    ) -> HttpResult<HashMap<DocId, Option<DocScope>>> {
        let mut out = HashMap::with_capacity(docs.len());
        let mut missing = Vec::new();
        {
            let kept = locked(&self.rights.scopes);
            for id in docs {
                match kept.get(id) {
                    Some(scope) => {
                        out.insert(*id, Some(*scope));
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let metas = self.metas(&missing).await?;
        let mut kept = locked(&self.rights.scopes);
        if kept.len() + metas.len() > MAX_SCOPES {
            kept.clear();
        }
        for (id, meta) in &metas {
            let scope = meta.scope();
            if let Some(scope) = scope {
                kept.insert(*id, scope);
            }
            out.insert(*id, scope);
        }
        Ok(out)
    }
}
