//! A programme as the lead's API reads it, from the projections: the programme alone,
//! or with its clients and visits (what the lists and the exports are made of).

use rapport_domain::{Client, DocId, Programme, Visit};

use crate::db::MetaRow;
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

/// Reads a programme from its projection: the programme's row and a row per client
/// (404 when there is none).
pub async fn load_programme(state: &AppState, id: DocId) -> HttpResult<Programme> {
    let p = state
        .db
        .programme_projection(id)
        .await?
        .ok_or_else(|| HttpError::not_found("the programme"))?;
    crate::db::join_programme(
        &p.body,
        p.clients.iter().map(|(c, entry)| (*c, entry.as_deref())),
    )
}

/// A programme with its clients and visits, read from the projections.
#[derive(Clone, Debug)]
pub struct ProgrammeData {
    /// The programme.
    pub programme: Programme,
    /// Its clients.
    pub clients: Vec<Client>,
    /// Its visits.
    pub visits: Vec<Visit>,
}

/// Loads a programme with its clients and visits.
pub async fn programme_data(state: &AppState, id: DocId) -> HttpResult<ProgrammeData> {
    let programme = load_programme(state, id).await?;
    let clients = parse_all(state.db.programme_docs(id, "client").await?)?;
    let visits = parse_all(state.db.programme_docs(id, "visit").await?)?;
    Ok(ProgrammeData {
        programme,
        clients,
        visits,
    })
}

fn parse_all<T: serde::de::DeserializeOwned>(rows: Vec<MetaRow>) -> HttpResult<Vec<T>> {
    rows.iter()
        .map(|m| {
            serde_json::from_str(&m.body).map_err(|e| {
                HttpError::internal(
                    "projection body",
                    format!(
                        "{} ({}): {e}; run `rapport-server rebuild-projections`",
                        m.doc_id, m.kind
                    ),
                )
            })
        })
        .collect()
}
