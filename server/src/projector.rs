//! Projections: tables derived from documents (scope, typed body, each programme's
//! clients and reps) that access control, status and exports read.
//!
//! The projector follows the store's change feed with a cursor kept in the database.
//! The feed moves a document to its head on every change, so every change is
//! projected at least once after it is committed; the cursor moves by
//! compare-and-swap in the projection's own transaction, so projectors in several
//! processes never write an older projection over a newer one. A crash loses
//! nothing: the next start continues from the stored cursor, and
//! `rapport-server rebuild-projections` rebuilds everything from the documents.

use std::sync::Arc;
use std::time::Duration;

use automerge::Automerge;
use rapport_domain::client::read_client;
use rapport_domain::visit::{Visit, read_visit};
use rapport_domain::{
    ClientSummary, DocKind, ProgrammeRoster, ProgrammeView, VisitSummary, doc_scope, publish_view,
    read_view,
};
use rapport_store::{DocId, DocStore, WriteBatch};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::access::feed_group;
use crate::checked_visits::CheckedVisits;
use crate::db::{Db, MetaRow, Projection, WrittenClients};
use crate::error::HttpResult;
use crate::programme_reads::ProgrammeReads;

/// Feed documents projected per transaction.
const PAGE: usize = 200;

/// The first wait before projecting again while the feed holds a commit back.
const HELD_BACK_FIRST: Duration = Duration::from_millis(20);
/// The longest wait between passes while the feed holds a commit back: what the live
/// dashboard may lag behind the end of the transaction that held it (three cheap
/// queries a pass; only while something is held back, e.g. during a long backup).
const HELD_BACK_MAX: Duration = Duration::from_millis(200);

/// Keeps the projections up to date.
pub struct Projector {
    store: Arc<dyn DocStore>,
    db: Db,
    wake: Notify,
    /// One pass at a time in this process (other processes are fenced by the CAS).
    running: tokio::sync::Mutex<()>,
    /// Counts the passes that wrote projections: what open lead pages wait on
    /// ([`Self::subscribe`]).
    projected: watch::Sender<u64>,
    /// The last read of each programme projected.
    programmes: ProgrammeReads,
    /// The clients this process last wrote for each programme, with the heads they were
    /// written at: the next projection writes only what changed.
    written: std::sync::Mutex<WrittenClients>,
    /// The visits the sync's check read, projected without reading them again.
    checked: CheckedVisits,
}

/// Programmes whose written clients are kept (as many as programme reads).
const WRITTEN_KEPT: usize = 32;

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector").finish_non_exhaustive()
    }
}

/// The projection of one document, or why it has none. Programmes are read through
/// `reads`: after an edit only what it touched is read again.
/// A visit is read from `doc` unless `read` holds its typed form already (the sync's
/// check read the same content: [`CheckedVisits`]).
pub fn project(
    reads: &ProgrammeReads,
    id: DocId,
    doc: &Automerge,
    read: Option<Arc<Visit>>,
) -> Result<Projection, String> {
    let scope = doc_scope(doc).map_err(|e| e.to_string())?;
    let mut view = None;
    let mut company_key = None;
    let (kind, body, summary, clients) = match scope.kind {
        DocKind::Programme => {
            let p = reads.read(id, doc).map_err(|e| e.to_string())?;
            // Written as the programme without its clients and a row per client: an
            // edit rewrites the rows it touched, not the whole programme.
            let (head, rows) = crate::db::split_programme(&p).map_err(|e| e.to_string())?;
            let summary = serde_json::to_string(&ProgrammeRoster::of(&head));
            view = Some(ProgrammeView::of(&head));
            (
                "programme",
                serde_json::to_string(&head),
                summary,
                Some(rows),
            )
        }
        DocKind::Client => {
            let c = read_client(doc).map_err(|e| e.to_string())?;
            company_key = Some(rapport_domain::client::company_key(&c.company));
            let summary = serde_json::to_string(&ClientSummary::of(&c));
            ("client", serde_json::to_string(&c), summary, None)
        }
        DocKind::Visit => {
            let v = match read {
                Some(v) => v,
                None => Arc::new(read_visit(doc).map_err(|e| e.to_string())?),
            };
            let summary = serde_json::to_string(&VisitSummary::of(&v));
            ("visit", serde_json::to_string(&*v), summary, None)
        }
        DocKind::ProgrammeView => (
            "programme_view",
            serde_json::to_string(&read_view(doc).map_err(|e| e.to_string())?),
            Ok(String::new()),
            None,
        ),
    };
    Ok(Projection {
        meta: MetaRow {
            doc_id: id,
            kind: kind.to_owned(),
            programme_id: scope.programme_id,
            client_id: scope.client_id,
            body: body.map_err(|e| e.to_string())?,
            summary: summary.map_err(|e| e.to_string())?,
            heads: crate::db::heads_key(doc),
        },
        clients,
        company_key,
        view,
    })
}

impl Projector {
    /// A projector over `store` writing into `db`.
    pub fn new(store: Arc<dyn DocStore>, db: Db) -> Self {
        Self {
            store,
            db,
            wake: Notify::new(),
            running: tokio::sync::Mutex::new(()),
            projected: watch::Sender::new(0),
            programmes: ProgrammeReads::default(),
            written: std::sync::Mutex::default(),
            checked: CheckedVisits::default(),
        }
    }

    /// Where sync requests keep the visits their check read, for this projector.
    pub fn checked_visits(&self) -> &CheckedVisits {
        &self.checked
    }

    /// Changes whenever this process has written projections (a programme's status may
    /// have moved). Projections written by other processes on the same database do not
    /// show here: who follows them reads the programme's version too.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.projected.subscribe()
    }

    fn projected(&self) {
        self.projected.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Asks the background task to run soon (after a commit).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Projects everything committed so far; returns how many documents it projected.
    pub async fn catch_up(&self) -> HttpResult<usize> {
        let _one = self.running.lock().await;
        let mut total = 0;
        // Bounded: a feed that keeps growing is finished by the next pass.
        for _ in 0..10_000 {
            let n = self.page().await?;
            total += n;
            if n == 0 {
                break;
            }
        }
        self.drain_touch_queue().await?;
        Ok(total)
    }

    /// Projects these documents from their stored state now, without waiting for the
    /// feed. On PostgreSQL the feed shows a commit only once every older transaction
    /// of the whole cluster has ended, so [`Self::catch_up`] right after a commit may
    /// not see it yet; a lead's edit must be readable at once (create a programme,
    /// then make a pairing code for it). Written at the current cursor (which it does
    /// not move), so projectors of other processes stay fenced; the feed projects the
    /// documents again later, which is harmless.
    pub async fn project_docs(&self, ids: &[DocId]) -> HttpResult<()> {
        let _one = self.running.lock().await;
        let projections = self.load_and_project(ids).await?;
        if projections.is_empty() {
            return Ok(());
        }
        self.file(projections.iter().map(|p| &p.meta)).await?;
        // A lead's edit of the programme reaches reps' devices through the view now,
        // not when the feed gets to it.
        self.publish_views(&projections).await?;
        // Bounded: the cursor moves only when another process projects a page.
        for _ in 0..20 {
            let at = self.db.projector_cursor().await?;
            if self.apply(at, at, &projections).await? {
                self.projected();
                return Ok(());
            }
        }
        tracing::warn!(
            "direct projection lost 20 races with other projectors; the feed projects it"
        );
        Ok(())
    }

    /// The projections of those of `ids` that are stored and readable and not projected
    /// at their current heads already (the feed brings back a document projected
    /// directly after a lead's edit; reading a large programme again costs a second).
    async fn load_and_project(&self, ids: &[DocId]) -> HttpResult<Vec<Projection>> {
        let projected = self.db.metas(ids).await?;
        let mut projections = Vec::with_capacity(ids.len());
        for (id, loaded) in self.store.load_many(ids).await? {
            // Taken (so dropped) in any case: a later copy has other heads.
            let read = loaded
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .and_then(|doc| self.checked.take(id, doc));
            match loaded {
                Ok(Some(doc))
                    if projected
                        .get(&id)
                        .is_some_and(|m| m.heads == crate::db::heads_key(&doc)) => {}
                Ok(Some(doc)) => match project(&self.programmes, id, &doc, read) {
                    Ok(p) => projections.push(p),
                    // The server validates every change, so this is a document written
                    // around it; it stays in the store, unprojected, and is logged.
                    Err(e) => tracing::warn!(doc = %id, error = %e, "document not projected"),
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "document cannot be loaded for projection")
                }
            }
        }
        Ok(projections)
    }

    /// One page of the feed; 0 when caught up.
    async fn page(&self) -> HttpResult<usize> {
        let from = self.db.projector_cursor().await?;
        let page = self.store.feed(&from, PAGE).await?;
        if page.docs.is_empty() {
            return Ok(0);
        }
        let projections = self.load_and_project(&page.docs).await?;
        self.file(projections.iter().map(|p| &p.meta)).await?;
        self.publish_views(&projections).await?;
        let n = page.docs.len();
        if !self.apply(from, page.cursor, &projections).await? {
            // Another process projected this page first: continue from where it is.
            tracing::debug!("projection page taken by another process");
        } else if !projections.is_empty() {
            self.projected();
        }
        Ok(n)
    }

    /// Writes `projections` and moves the projector from `from` to `to`
    /// ([`Db::apply_projections`]); `false` when another process moved it first. Keeps
    /// the clients written for each programme for the next time.
    async fn apply(
        &self,
        from: rapport_store::FeedCursor,
        to: rapport_store::FeedCursor,
        projections: &[Projection],
    ) -> HttpResult<bool> {
        let written = self
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if !self
            .db
            .apply_projections(from, to, projections, crate::clock::now_ms(), &written)
            .await?
        {
            return Ok(false);
        }
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let mut now = Vec::new();
        for p in projections {
            let Some(clients) = &p.clients else { continue };
            now.push(p.meta.doc_id);
            written.insert(
                p.meta.doc_id,
                (
                    p.meta.heads.clone(),
                    Arc::new(clients.iter().map(|r| (r.client, r.print())).collect()),
                ),
            );
        }
        while written.len() > WRITTEN_KEPT {
            let Some(older) = written.keys().find(|id| !now.contains(id)).copied() else {
                break;
            };
            written.remove(&older);
        }
        Ok(true)
    }

    /// Files the projected documents under their feed groups in the store
    /// ([`feed_group`]), so a rep's device reads them only if it may. A document is
    /// filed once: the store skips those filed already.
    /// Returns how many were filed.
    async fn file<'m>(&self, metas: impl Iterator<Item = &'m MetaRow>) -> HttpResult<u64> {
        let groups: Vec<(DocId, DocId)> = metas
            .filter_map(|m| Some((m.doc_id, feed_group(&m.scope()?)?)))
            .collect();
        if groups.is_empty() {
            return Ok(0);
        }
        Ok(self.store.set_feed_groups(&groups).await?)
    }

    /// Files the documents the store holds unfiled that are projected already: those
    /// committed before feed groups existed, or put back by a restore of an older
    /// copy. Until then every device's feed reads them, as it read every document
    /// before. Returns how many it filed.
    pub async fn file_unfiled(&self) -> HttpResult<u64> {
        let mut at = rapport_store::FeedCursor::start();
        let mut filed = 0;
        // Bounded: each page moves the cursor on; new documents are filed as projected.
        for _ in 0..100_000 {
            let page = self.store.feed_in(&at, PAGE, &[]).await?;
            if page.docs.is_empty() {
                break;
            }
            filed += self.file(self.db.metas(&page.docs).await?.values()).await?;
            at = page.cursor;
        }
        if filed > 0 {
            tracing::info!(filed, "filed documents under their feed groups");
        }
        Ok(filed)
    }

    /// Publishes the view of each projected programme (what reps' devices receive),
    /// writing only what changed. Its commit enters the feed and is projected next.
    async fn publish_views(&self, projections: &[Projection]) -> HttpResult<()> {
        let views: Vec<&ProgrammeView> =
            projections.iter().filter_map(|p| p.view.as_ref()).collect();
        if views.is_empty() {
            return Ok(());
        }
        let ids: Vec<DocId> = views.iter().map(|v| v.id).collect();
        let mut batch = WriteBatch::new();
        for (view, (id, loaded)) in views.iter().zip(self.store.load_many(&ids).await?) {
            let mut doc = match loaded {
                Ok(doc) => doc.unwrap_or_default(),
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "programme view cannot be loaded");
                    continue;
                }
            };
            // A fresh actor per publication: server processes publish concurrently.
            doc.set_actor(automerge::ActorId::random());
            let before = doc.get_heads();
            match publish_view(&mut doc, view, crate::clock::now_ms()) {
                Ok(true) => batch = batch.with_changes(id, doc.get_changes(&before)),
                Ok(false) => {}
                Err(e) => tracing::error!(doc = %id, error = %e, "programme view not published"),
            }
        }
        if !batch.changes.is_empty() {
            self.store.commit(batch).await?;
        }
        Ok(())
    }

    /// Moves the documents of clients whose rep changed to the head of the feed, so
    /// the new rep's devices receive them although their cursors are past them.
    async fn drain_touch_queue(&self) -> HttpResult<()> {
        let clients = self.db.touch_queue().await?;
        if clients.is_empty() {
            return Ok(());
        }
        let docs = self.db.docs_of_clients(&clients).await?;
        self.store.touch(&docs).await?;
        self.db.clear_touch_queue(&clients).await?;
        tracing::info!(
            clients = clients.len(),
            docs = docs.len(),
            "re-fed documents of reassigned clients"
        );
        Ok(())
    }

    /// Forgets all projections and projects every document again.
    pub async fn rebuild(&self) -> HttpResult<usize> {
        self.db.reset_projections().await?;
        self.catch_up().await
    }

    /// Runs until `shutdown` resolves: after each commit in this process, and every
    /// `poll` for commits made by other processes on the same database.
    ///
    /// On PostgreSQL the feed holds a commit back while any older transaction of the
    /// cluster is open, so the pass a commit wakes may not see it. Such a commit is not
    /// left for the next `poll` (a second on a busy cluster, where the lead's live
    /// dashboard would lag by it): while the feed holds documents back, the pass runs
    /// again after [`HELD_BACK_FIRST`], doubling up to [`HELD_BACK_MAX`] (or `poll`).
    pub async fn run(self: Arc<Self>, poll: Duration, shutdown: CancellationToken) {
        if let Err(e) = self.file_unfiled().await {
            // Unfiled documents are read by every device: slower, never wrong.
            tracing::warn!(error = %e, "cannot file the unfiled documents under feed groups");
        }
        let mut retry: Option<Duration> = None;
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(retry.unwrap_or(poll)) => {}
                () = shutdown.cancelled() => break,
            }
            retry = match self.catch_up().await {
                Ok(_) => match self.held_back().await {
                    Ok(true) => Some(
                        retry.map_or(HELD_BACK_FIRST, |r| (r * 2).min(HELD_BACK_MAX).min(poll)),
                    ),
                    Ok(false) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot ask the feed what it holds back");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "projection pass failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    None
                }
            };
        }
    }

    /// Whether the feed holds back a commit after the projector's cursor.
    async fn held_back(&self) -> HttpResult<bool> {
        let from = self.db.projector_cursor().await?;
        Ok(!self.store.feed_held_back(&from, 1).await?.is_empty())
    }
}
