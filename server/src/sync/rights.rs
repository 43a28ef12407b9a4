//! What one paired device may do in a sync request, as the engine asks it: its rights
//! from the projections (or from a document's content when it is not projected yet),
//! the check of new changes, and the programme view pushed to a rep's device.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use automerge::Automerge;
use rapport_domain::doc_scope;
use rapport_domain::visit::reviews_print;
use rapport_protocol::{ErrorCode, NewChanges, Rejection};
use rapport_store::DocId;

use super::check::{Stored, validate};
use super::engine::SyncPolicy;
use crate::access::{Access, DeviceAccess};
use crate::checked_visits::CheckedVisits;
use crate::db::{Authors, Db, DeviceRecord};
use crate::error::HttpResult;

/// The rights of one device for one request, loaded when it starts.
pub(super) struct DeviceRights<'a> {
    db: &'a Db,
    access: DeviceAccess,
    /// Who may have written what the device sends (loaded only when it sends documents).
    authors: Arc<Authors>,
    /// A rep's device gets its programme's view pushed until it acknowledges it.
    rep: bool,
    /// Where the visits the check read are kept for the projector.
    checked: &'a CheckedVisits,
}

impl<'a> DeviceRights<'a> {
    /// Loads the device's rights, and the programme's register of authors when the
    /// device sends documents.
    pub(super) async fn load(
        db: &'a Db,
        checked: &'a CheckedVisits,
        device: &DeviceRecord,
        uploads: bool,
    ) -> HttpResult<Self> {
        let access = DeviceAccess::load(db, device).await?;
        let authors = if uploads {
            db.device_authors(access.programme(), device.rights).await?
        } else {
            Arc::default()
        };
        Ok(Self {
            db,
            access,
            authors,
            rep: device.rep_id.is_some(),
            checked,
        })
    }
}

#[async_trait]
impl SyncPolicy for DeviceRights<'_> {
    /// The document's scope before the upload (`None` for a new document), which an
    /// upload may not change, and the print of its reviews.
    type Before = Stored;

    async fn known_access(&self, docs: &[DocId]) -> HttpResult<HashMap<DocId, Access>> {
        let scopes = self.db.projected_scopes(docs).await?;
        Ok(scopes
            .iter()
            .map(|(id, scope)| {
                // A projected row of a kind this server does not know restricts
                // nothing here; an upload is still checked by its content.
                let access = scope
                    .as_ref()
                    .map_or(Access::Read, |s| self.access.access(s));
                (*id, access)
            })
            .collect())
    }

    fn access_by_content(&self, _id: DocId, doc: &Automerge) -> Access {
        match doc_scope(doc) {
            Ok(scope) => self.access.access(&scope),
            Err(_) => Access::Forbidden("the document does not say what it is"),
        }
    }

    fn before_upload(&self, id: DocId, stored: &Automerge) -> Result<Stored, Rejection> {
        if stored.get_heads().is_empty() {
            return Ok(Stored::default());
        }
        let scope = doc_scope(stored).map_err(|e| {
            tracing::error!(doc = %id, error = %e, "stored document has no scope");
            Rejection {
                code: ErrorCode::Internal,
                message: "the server's copy of this document is unreadable; keep your copy".into(),
            }
        })?;
        if let Access::Forbidden(why) = self.access.access(&scope) {
            return Err(Rejection {
                code: ErrorCode::Forbidden,
                message: why.into(),
            });
        }
        Ok(Stored {
            scope: Some(scope),
            reviews: reviews_print(stored),
        })
    }

    fn check(
        &self,
        id: DocId,
        before: &Stored,
        doc: &Automerge,
        changes: NewChanges<'_>,
    ) -> Result<(), Rejection> {
        let visit = validate(&self.access, &self.authors, id, before, doc, changes)?;
        if let Some(visit) = visit {
            self.checked.keep(id, doc, visit);
        }
        Ok(())
    }

    fn pushed_first(&self) -> Option<DocId> {
        self.rep
            .then(|| rapport_domain::view_id(self.access.programme()))
    }

    fn feed_groups(&self) -> Option<Vec<DocId>> {
        self.access.feed_groups()
    }
}
