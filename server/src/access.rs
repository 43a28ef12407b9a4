//! What a device may read and write: a rep's device the programme view (read only: the
//! template, reps' names, the device register) and the documents of the clients
//! currently assigned to the rep; a lead's device every document of its programme.
//! The programme document itself stays with the lead: it holds the lead's assessments
//! of reps and every client's assignment.

use rapport_domain::{DocKind, DocScope};
use rapport_store::DocId;

use crate::db::{Clients, Db, DeviceRecord};
use crate::error::{HttpError, HttpResult};

/// What a device may do with one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and upload changes.
    Write,
    /// Receive only (the programme document on a rep's device).
    Read,
    /// Nothing; the message says why, for the person holding the device.
    Forbidden(&'static str),
}

impl Access {
    /// Whether the device may receive the document.
    pub fn readable(&self) -> bool {
        !matches!(self, Access::Forbidden(_))
    }
}

/// The rights of one device, loaded once per request.
#[derive(Clone, Debug)]
pub struct DeviceAccess {
    programme: DocId,
    /// The rep (None: the lead's device).
    rep: Option<String>,
    /// The clients whose documents the device may write: the rep's, or all of the
    /// programme's for the lead (shared with the process's copy of them).
    clients: Clients,
}

const NOT_ASSIGNED: &str = "this client is not (or no longer) assigned to you: the server refuses its documents; your copy stays on this device — ask the programme lead";
const OTHER_PROGRAMME: &str =
    "this document belongs to another programme than the one this device is paired with";
pub(crate) const READ_ONLY: &str = "the programme view (template, reps) is published by the server from the programme; devices cannot change it — the programme lead changes the programme";
const LEAD_ONLY: &str = "the programme document (assessments, assignments) is for the programme lead only; a rep's device receives the programme view";

impl DeviceAccess {
    /// Loads the device's rights from the projections (or the process's copy of them,
    /// while the stamp read with the device says it is current).
    pub async fn load(db: &Db, device: &DeviceRecord) -> HttpResult<Self> {
        let programme: DocId = device
            .programme_id
            .parse()
            .map_err(|e| HttpError::internal("device programme id", e))?;
        let clients = db
            .device_clients(programme, device.rep_id.as_deref(), device.rights)
            .await?;
        Ok(Self {
            programme,
            rep: device.rep_id.clone(),
            clients,
        })
    }

    /// The programme the device is paired with.
    pub fn programme(&self) -> DocId {
        self.programme
    }

    /// The rights over a document of this scope.
    pub fn access(&self, scope: &DocScope) -> Access {
        let lead = self.rep.is_none();
        match scope.kind {
            DocKind::Programme if scope.id != self.programme => Access::Forbidden(OTHER_PROGRAMME),
            DocKind::Programme if lead => Access::Write,
            DocKind::Programme => Access::Forbidden(LEAD_ONLY),
            DocKind::ProgrammeView if scope.programme_id == Some(self.programme) => Access::Read,
            DocKind::ProgrammeView => Access::Forbidden(OTHER_PROGRAMME),
            // The lead's device may create clients offline: the programme document that
            // lists them may arrive in the same request, before the projection knows.
            DocKind::Client if lead => Access::Write,
            DocKind::Client => self.client_access(scope.id),
            DocKind::Visit if scope.programme_id != Some(self.programme) => {
                Access::Forbidden(OTHER_PROGRAMME)
            }
            DocKind::Visit if lead => Access::Write,
            DocKind::Visit => match scope.client_id {
                Some(client) => self.client_access(client),
                None => Access::Forbidden(NOT_ASSIGNED),
            },
        }
    }

    /// The feed groups ([`feed_group`]) of every document the device may read: a rep's
    /// device reads its programme's and its clients'. `None` for the lead's device,
    /// which reads every document of its programme (and every client): the whole feed.
    pub fn feed_groups(&self) -> Option<Vec<DocId>> {
        let rep = self.rep.as_ref()?;
        let mut groups = vec![self.programme];
        groups.extend(
            self.clients
                .iter()
                .filter(|(_, assigned)| assigned.as_ref() == Some(rep))
                .map(|(client, _)| *client),
        );
        Some(groups)
    }

    fn client_access(&self, client: DocId) -> Access {
        match (self.clients.get(&client), &self.rep) {
            (Some(Some(rep)), Some(me)) if rep == me => Access::Write,
            _ => Access::Forbidden(NOT_ASSIGNED),
        }
    }
}

/// The feed group a document is filed under in the store: who may read it follows from
/// it alone. A client's documents (the client, its visits) under the client, so a rep
/// reassigned a client reads them and no other rep does; the programme's own documents
/// (the programme, its view) under the programme. `None` (a visit that names no client)
/// leaves the document unfiled: every device's feed reads it and its access decides.
pub fn feed_group(scope: &DocScope) -> Option<DocId> {
    match scope.kind {
        DocKind::Programme => Some(scope.id),
        DocKind::ProgrammeView => scope.programme_id,
        DocKind::Client => Some(scope.id),
        DocKind::Visit => scope.client_id,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn view(rep: Option<&str>, clients: &[(DocId, Option<&str>)]) -> (DeviceAccess, DocId) {
        let programme = DocId::random();
        (
            DeviceAccess {
                programme,
                rep: rep.map(str::to_owned),
                clients: Arc::new(
                    clients
                        .iter()
                        .map(|(c, r)| (*c, r.map(str::to_owned)))
                        .collect(),
                ),
            },
            programme,
        )
    }

    fn visit(programme: DocId, client: DocId) -> DocScope {
        DocScope {
            kind: DocKind::Visit,
            id: DocId::random(),
            programme_id: Some(programme),
            client_id: Some(client),
        }
    }

    #[test]
    fn a_rep_writes_only_assigned_clients_and_reads_only_the_programme_view() {
        let (mine, other) = (DocId::random(), DocId::random());
        let (view, programme) = view(Some("rep-иванов"), &[(mine, Some("rep-иванов"))]);
        assert_eq!(view.access(&visit(programme, mine)), Access::Write);
        assert_eq!(
            view.access(&visit(programme, other)),
            Access::Forbidden(NOT_ASSIGNED)
        );
        assert_eq!(
            view.access(&visit(DocId::random(), mine)),
            Access::Forbidden(OTHER_PROGRAMME)
        );
        let programme_scope = DocScope {
            kind: DocKind::Programme,
            id: programme,
            programme_id: None,
            client_id: None,
        };
        assert_eq!(view.access(&programme_scope), Access::Forbidden(LEAD_ONLY));
        let published = DocScope {
            kind: DocKind::ProgrammeView,
            id: rapport_domain::view_id(programme),
            programme_id: Some(programme),
            client_id: None,
        };
        assert_eq!(view.access(&published), Access::Read);
        let client = DocScope {
            kind: DocKind::Client,
            id: other,
            programme_id: None,
            client_id: Some(other),
        };
        assert!(!view.access(&client).readable());
    }

    /// Every document a rep's device may read is filed under one of its feed groups or
    /// under none: reading only those groups hides nothing it may read.
    #[test]
    fn a_reps_feed_groups_hold_everything_it_may_read() {
        let (mine, theirs, unassigned) = (DocId::random(), DocId::random(), DocId::random());
        let (view, programme) = view(
            Some("rep-петров"),
            &[
                (mine, Some("rep-петров")),
                (theirs, Some("rep-сидоров")),
                (unassigned, None),
            ],
        );
        let groups = view.feed_groups().expect("a rep reads its groups only");
        let other_programme = DocId::random();
        let mut scopes = Vec::new();
        for p in [programme, other_programme] {
            scopes.push(DocScope {
                kind: DocKind::Programme,
                id: p,
                programme_id: None,
                client_id: None,
            });
            scopes.push(DocScope {
                kind: DocKind::ProgrammeView,
                id: rapport_domain::view_id(p),
                programme_id: Some(p),
                client_id: None,
            });
            for client in [mine, theirs, unassigned] {
                scopes.push(visit(p, client));
                scopes.push(DocScope {
                    kind: DocKind::Visit,
                    id: DocId::random(),
                    programme_id: Some(p),
                    client_id: None,
                });
            }
        }
        for client in [mine, theirs, unassigned, DocId::random()] {
            scopes.push(DocScope {
                kind: DocKind::Client,
                id: client,
                programme_id: None,
                client_id: Some(client),
            });
        }
        let mut read = 0;
        for scope in &scopes {
            if view.access(scope).readable() {
                read += 1;
                assert!(
                    feed_group(scope).is_none_or(|g| groups.contains(&g)),
                    "{scope:?} is readable but filed outside {groups:?}"
                );
            }
        }
        assert_eq!(read, 3, "the view, the client and its visit");
        assert!(!groups.contains(&theirs) && !groups.contains(&unassigned));
        let (lead, _) = super::tests::view(None, &[(mine, Some("rep-петров"))]);
        assert_eq!(
            lead.feed_groups(),
            None,
            "the lead's device reads the whole feed"
        );
    }

    #[test]
    fn the_leads_device_writes_everything_of_its_programme() {
        let client = DocId::random();
        let (view, programme) = view(None, &[(client, Some("rep-1"))]);
        assert_eq!(view.access(&visit(programme, client)), Access::Write);
        assert_eq!(
            view.access(&visit(DocId::random(), client)),
            Access::Forbidden(OTHER_PROGRAMME)
        );
    }
}
