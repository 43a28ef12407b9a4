//! The server's check of a document's new changes before they are committed: their
//! authors, the questionnaire's schema, the document's scope, and the device's rights.

use std::collections::HashSet;

use automerge::{ActorId, Automerge};
use rapport_domain::visit::Visit;
use rapport_domain::visit::{holds_reviews, reviews_print, touches_reviews};
use rapport_domain::{ACTOR_PREFIX_HEX, DocScope, check_and_read, doc_scope};
use rapport_protocol::{ErrorCode, NewChanges, Rejection};
use rapport_store::DocId;

use crate::access::{Access, DeviceAccess, READ_ONLY};
use crate::db::Authors;

/// Whether `actor` (hex) is registered in `authors`: itself, or its first 16 bytes for
/// an actor that adds a suffix per edit or per opening of a device's store.
fn registered_author(authors: &HashSet<String>, actor: &str) -> bool {
    authors.contains(actor)
        || (actor.len() > ACTOR_PREFIX_HEX
            && actor
                .get(..ACTOR_PREFIX_HEX)
                .is_some_and(|p| authors.contains(p)))
}

/// What an upload is checked against of the stored document.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// Its scope (`None` for a new document).
    pub(super) scope: Option<DocScope>,
    /// The print of its reviews ([`reviews_print`]; empty for a new document).
    pub(super) reviews: Vec<String>,
}

/// The server's check of a document's new changes before they are committed.
///
/// Authors: every new change must be written by an actor registered to this
/// programme (its devices, its leads). The uploading device need not be the author: a
/// device relays what it holds of its rep's other devices, which is how a server
/// restored from a backup gets back what it lost. The uploader itself must still be
/// allowed to write the document. Requiring the author's *current* right to write would
/// refuse, after a restore, what a rep wrote before the client was reassigned.
///
/// Reviews: a visit's review rounds are the lead's word. A new change that writes them
/// must be by a lead's actor (an account's or a lead's device's), whoever uploads it.
///
/// Returns the visit the check read when the document is a visit with new changes.
pub(super) fn validate(
    view: &DeviceAccess,
    authors: &Authors,
    id: DocId,
    before: &Stored,
    doc: &Automerge,
    changes: NewChanges<'_>,
) -> Result<Option<Visit>, Rejection> {
    if changes.is_empty() {
        return Ok(None);
    }
    let rejected = |message: String| Rejection {
        code: ErrorCode::Rejected,
        message,
    };
    let actors = changes.actors(doc);
    if let Some(foreign) = actors
        .iter()
        .find(|a| !registered_author(&authors.all, &a.to_hex_string()))
    {
        return Err(Rejection {
            code: ErrorCode::Forbidden,
            message: format!(
                "a change by an author not registered to this programme ({foreign}) cannot be uploaded; nothing was stored"
            ),
        });
    }
    let checked = check_and_read(doc).map_err(|e| {
        rejected(format!(
            "the document does not match the questionnaire's schema ({e}); nothing was stored — update the app"
        ))
    })?;
    let scope = doc_scope(doc).map_err(|e| rejected(format!("{e}; nothing was stored")))?;
    if scope.id != id {
        return Err(rejected(format!(
            "the document says its id is {}, but it was sent as {id}; nothing was stored",
            scope.id
        )));
    }
    if before.scope.is_some_and(|b| b != scope) {
        return Err(rejected(
            "a document cannot change its kind, programme or client; nothing was stored".into(),
        ));
    }
    // Only leads write reviews. Decoding changes is dear (a visit's 21 changes cost
    // twice its load): who wrote them is asked only when a change by someone else came
    // and the reviews moved, which for a document new here means it holds any.
    let by_others = |a: &ActorId| !registered_author(&authors.reviewers, &a.to_hex_string());
    let reviews_moved = || match before.scope {
        None => holds_reviews(doc),
        Some(_) => reviews_print(doc) != before.reviews,
    };
    if actors.iter().any(by_others)
        && reviews_moved()
        && let Some(review) = changes
            .decoded(doc)
            .iter()
            .filter(|c| by_others(c.actor_id()))
            .find(|c| touches_reviews(doc, c))
    {
        return Err(Rejection {
            code: ErrorCode::Forbidden,
            message: format!(
                "a change by {} writes the lead's review of the visit, which only the programme's leads may do; nothing was stored",
                review.actor_id()
            ),
        });
    }
    match view.access(&scope) {
        Access::Write => Ok(checked.visit),
        Access::Read => Err(Rejection {
            code: ErrorCode::Forbidden,
            message: READ_ONLY.into(),
        }),
        Access::Forbidden(why) => Err(Rejection {
            code: ErrorCode::Forbidden,
            message: why.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_are_found_by_their_registered_actor_or_its_16_byte_prefix() {
        let registered = "0123456789abcdef0123456789abcdef".to_owned();
        let authors: HashSet<String> = [registered.clone()].into();
        assert!(registered_author(&authors, &registered));
        assert!(registered_author(
            &authors,
            &format!("{registered}a1b2c3d4e5f60718")
        ));
        assert!(!registered_author(
            &authors,
            "fedcba9876543210fedcba9876543210"
        ));
        assert!(!registered_author(&authors, &registered[..30]));
    }
}
