//! What the lead reads about a programme, from the projections: status, and the
//! typed clients and visits that lists and exports are made of.

use rapport_domain::{Client, DocId, Programme, ProgrammeStatus, Visit, programme_status};

use crate::api::programmes::load_programme;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

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
pub async fn programme_data(state: &AppState, id: DocId) -> ApiResult<ProgrammeData> {
    let programme = load_programme(state, id).await?;
    let clients = parse_all(state.db.programme_docs(id, "client").await?)?;
    let visits = parse_all(state.db.programme_docs(id, "visit").await?)?;
    Ok(ProgrammeData {
        programme,
        clients,
        visits,
    })
}

fn parse_all<T: serde::de::DeserializeOwned>(rows: Vec<crate::db::MetaRow>) -> ApiResult<Vec<T>> {
    rows.iter()
        .map(|m| {
            serde_json::from_str(&m.body).map_err(|e| {
                ApiError::internal(
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

/// The merged status of a programme, as of today.
pub async fn status(state: &AppState, id: DocId) -> ApiResult<ProgrammeStatus> {
    let data = programme_data(state, id).await?;
    Ok(programme_status(
        &data.programme,
        &data.clients,
        &data.visits,
        &crate::today(),
    ))
}
