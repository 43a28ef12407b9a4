//! Edits made on the server for a lead: Automerge changes with the lead's own actor
//! (a per-edit actor under the lead's prefix), committed like a device's, so they merge
//! with the reps' edits like any other. Projections are caught up before returning,
//! so the lead reads what they just wrote.

use automerge::Automerge;
use rapport_domain::DomainError;
use rapport_store::{DocId, WriteBatch};

use crate::auth::edit_actor;
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

/// Loads `id`, applies `edit` as the writer with actor prefix `actor_prefix`, commits
/// the new changes, and projects them. Nothing is stored when `edit` fails.
pub async fn edit_doc<T>(
    state: &AppState,
    actor_prefix: &str,
    id: DocId,
    what: &str,
    edit: impl FnOnce(&mut Automerge) -> Result<T, DomainError>,
) -> HttpResult<T> {
    let mut doc = state
        .store
        .load(id)
        .await?
        .ok_or_else(|| HttpError::not_found(what))?;
    doc.set_actor(edit_actor(actor_prefix));
    let before = doc.get_heads();
    let out = edit(&mut doc)?;
    let changes: Vec<_> = doc.get_changes(&before);
    if !changes.is_empty() {
        state
            .store
            .commit(WriteBatch::new().with_changes(id, changes))
            .await?;
        project_now(state, &[id]).await;
    }
    Ok(out)
}

/// Stores new documents (all their changes) in one transaction and projects them.
pub async fn create_docs(state: &AppState, docs: Vec<(DocId, Automerge)>) -> HttpResult<()> {
    let mut batch = WriteBatch::new();
    let ids: Vec<DocId> = docs.iter().map(|(id, _)| *id).collect();
    for (id, doc) in docs {
        let changes = doc.get_changes(&[]);
        batch = batch.with_changes(id, changes);
    }
    state.store.commit(batch).await?;
    project_now(state, &ids).await;
    Ok(())
}

async fn project_now(state: &AppState, ids: &[DocId]) {
    // The commit is durable already; a failed projection is retried by the background task.
    // The edited documents directly (the feed may not show them yet on PostgreSQL), then
    // the feed, which also moves the documents of reassigned clients.
    let projected = match state.projector.project_docs(ids).await {
        Ok(()) => state.projector.catch_up().await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = projected {
        tracing::warn!(error = %e, "projection after an edit failed; the background task retries");
        state.projector.notify();
    }
}
