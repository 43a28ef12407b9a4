//! The programme view: the part of a programme a rep's device needs — name, period,
//! the questionnaire template, reps' names and the device register (who wrote what) —
//! published by the server from the programme document into a document of its own.
//!
//! Why a separate document: the programme document also holds the lead's assessments
//! of reps (relationship strength, "monopolises the client", reasons for
//! reassignment) and every client's assignment. Automerge syncs whole documents, so
//! the only way to keep those on the lead's side is not to send that document to reps
//! at all. The view is derived, read-only on devices, and rebuilt from the programme
//! whenever it changes; reconciling writes only what changed, so a template edit
//! costs reps' devices a few bytes.

use std::collections::BTreeMap;

use automerge::{Automerge, ROOT};
use autosurgeon::{Hydrate, Reconcile, reconcile_prop};
use serde::{Deserialize, Serialize};

use crate::doc::{DocKind, commit, expect_kind, write_header};
use crate::error::{DomainError, SchemaError};
use crate::ids::DocId;
use crate::programme::{Device, Period, Programme};
use crate::template::Template;

/// A rep as other devices see them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct RepCard {
    /// Name.
    pub name: String,
    /// Takes part now.
    pub active: bool,
}

/// What a rep's device knows of its programme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct ProgrammeView {
    /// This view document's id ([`view_id`] of the programme).
    pub id: DocId,
    /// The programme it is published from.
    pub programme_id: DocId,
    /// Name.
    pub name: String,
    /// Period.
    pub period: Period,
    /// The questionnaire.
    pub template: Template,
    /// Reps by id.
    pub reps: BTreeMap<String, RepCard>,
    /// Devices keyed by actor id (hex), for history and conflict views.
    pub devices: BTreeMap<String, Device>,
}

impl ProgrammeView {
    /// The view of a programme.
    pub fn of(programme: &Programme) -> Self {
        Self {
            id: view_id(programme.id),
            programme_id: programme.id,
            name: programme.name.clone(),
            period: programme.period.clone(),
            template: programme.template.clone(),
            reps: programme
                .reps
                .iter()
                .map(|(id, r)| {
                    (
                        id.clone(),
                        RepCard {
                            name: r.name.clone(),
                            active: r.active,
                        },
                    )
                })
                .collect(),
            devices: programme.devices.clone(),
        }
    }

    /// Who a device (actor id hex) belongs to (see [`Programme::who_wrote`]).
    pub fn who_wrote(&self, actor_hex: &str) -> Option<&Device> {
        crate::programme::find_device(&self.devices, actor_hex)
    }
}

/// The id of a programme's view: derived from the programme id (UUID v5), so every
/// server process publishes into the same document.
pub fn view_id(programme: DocId) -> DocId {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x7261_7070_6f72_742d_7669_6577_2d76_3100);
    DocId::from(uuid::Uuid::new_v5(
        &NAMESPACE,
        programme.as_uuid().as_bytes(),
    ))
}

/// Brings `doc` (empty for a new view) up to `view`; true when anything changed.
/// Only differences are written, as one commit.
pub fn publish_view(
    doc: &mut Automerge,
    view: &ProgrammeView,
    now_ms: i64,
) -> Result<bool, DomainError> {
    let fresh = doc.get_heads().is_empty();
    if !fresh {
        expect_kind(doc, DocKind::ProgrammeView)?;
        if read_view(doc)? == *view {
            return Ok(false);
        }
    }
    commit(doc, now_ms, "publish programme view", |tx| {
        if fresh {
            write_header(tx, DocKind::ProgrammeView)?;
        }
        reconcile_prop(tx, ROOT, "id", view.id)?;
        reconcile_prop(tx, ROOT, "programme_id", view.programme_id)?;
        reconcile_prop(tx, ROOT, "name", view.name.as_str())?;
        reconcile_prop(tx, ROOT, "period", &view.period)?;
        reconcile_prop(tx, ROOT, "template", &view.template)?;
        reconcile_prop(tx, ROOT, "reps", &view.reps)?;
        reconcile_prop(tx, ROOT, "devices", &view.devices)?;
        Ok(())
    })?;
    Ok(true)
}

/// Reads a programme view (type and schema checked).
pub fn read_view(doc: &Automerge) -> Result<ProgrammeView, DomainError> {
    expect_kind(doc, DocKind::ProgrammeView)?;
    crate::one_pass::hydrate_whole(doc).map_err(|e| {
        SchemaError::Malformed {
            kind: "programme_view",
            message: e.to_string(),
        }
        .into()
    })
}
