//! One edit of a visit, as every answer and entry setter makes it.

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ROOT, ReadDoc, Value};

use crate::doc::{DocKind, commit, expect_kind};
use crate::error::DomainError;

/// Records that a completed visit was edited (it stays completed).
fn touch(tx: &mut Transaction<'_>, now_ms: i64) -> Result<(), DomainError> {
    if let Some((Value::Scalar(s), _)) = tx.get(ROOT, "state")?
        && s.as_str() == Some("completed")
    {
        tx.put(ROOT, "edited_after_completion_ms", now_ms)?;
    }
    Ok(())
}

/// One edit of a visit: a commit that also records edits after completion.
pub(super) fn edit<O>(
    doc: &mut Automerge,
    now_ms: i64,
    msg: &str,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<O, DomainError>,
) -> Result<O, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    commit(doc, now_ms, msg, |tx| {
        let out = f(tx)?;
        touch(tx, now_ms)?;
        Ok(out)
    })
}
