//! What the lead reads about a programme, from the projections: its status, and the
//! lists (reps, clients, follow-ups, referrals, opportunities) that the API and the
//! exports show.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use rapport_api::lead::{ClientView, FollowUpView, OpportunityView, ReferralView, RepView};

use rapport_domain::{
    ClientSummary, DocId, FollowUpState, Programme, ProgrammeRoster, ProgrammeStatus, Visit,
    programme_status,
};

use crate::error::{HttpError, HttpResult};
use crate::programmes::ProgrammeData;
use crate::state::AppState;

/// The merged status of a programme as of today, computed from the status summaries
/// kept in the projections.
pub async fn compute_status(state: &AppState, id: DocId) -> HttpResult<ProgrammeStatus> {
    let mut programme: ProgrammeRoster = match state.db.meta(id).await? {
        Some(m) if m.kind == "programme" => parse_summary(&m.summary)?,
        _ => return Err(HttpError::not_found("the programme")),
    };
    // The roster's clients are the programme's rows (`db/programme_rows.rs`).
    let clients = state.db.roster_clients(id).await?;
    programme.clients.extend(
        clients
            .iter()
            .map(|(client, rep)| (client.to_string(), rep.clone())),
    );
    let visits = state.status_rows.visits(&state.db, id).await?;
    // Company names appear only next to failing quality checks: read just those clients.
    let failing: std::collections::BTreeSet<DocId> = visits
        .summaries()
        .filter(|v| v.quality.values().any(|q| q.fails()))
        .map(|v| v.client_id)
        .collect();
    let failing: Vec<DocId> = failing.into_iter().collect();
    let clients: Vec<ClientSummary> = parse_summaries(state.db.summaries(&failing).await?)?;
    Ok(programme_status(
        &programme,
        &clients,
        visits.summaries(),
        &crate::clock::today(),
    ))
}

fn parse_summaries<T: serde::de::DeserializeOwned>(rows: Vec<String>) -> HttpResult<Vec<T>> {
    rows.iter().map(|s| parse_summary(s)).collect()
}

fn parse_summary<T: serde::de::DeserializeOwned>(summary: &str) -> HttpResult<T> {
    serde_json::from_str(summary).map_err(|e| {
        HttpError::internal(
            "projection summary",
            format!("{e}; run `rapport-server rebuild-projections`"),
        )
    })
}

/// The status as JSON, computed once per version of the programme's projections and
/// day (each process keeps the last one per programme: a cache, rebuilt on demand,
/// never the only copy of anything).
pub async fn status_json(state: &AppState, id: DocId) -> HttpResult<Bytes> {
    let version = state.db.programme_version(id).await?;
    let today = crate::clock::today();
    if let Some(hit) = state.status_cache.get(id, version, &today) {
        return Ok(hit);
    }
    // Read after the version: what is cached is at least as new as the version says.
    let status = compute_status(state, id).await?;
    let json = Bytes::from(
        serde_json::to_vec(&status).map_err(|e| HttpError::internal("status JSON", e))?,
    );
    state.status_cache.put(id, version, today, json.clone());
    Ok(json)
}

/// The programme's reps, by id, with how many clients each has now.
pub fn reps(programme: &Programme) -> Vec<RepView> {
    programme
        .reps
        .iter()
        .map(|(id, r)| RepView {
            id: id.clone(),
            name: r.name.clone(),
            email: r.email.clone(),
            capacity: r.capacity,
            active: r.active,
            assigned_clients: programme
                .assignments
                .values()
                .filter(|a| a.current_rep.as_deref() == Some(id.as_str()))
                .count(),
        })
        .collect()
}

/// The programme's clients in company order (case-insensitive), with their rep and
/// latest visit.
pub fn clients(data: &ProgrammeData) -> Vec<ClientView> {
    let mut next = crate::meetings::next_meetings(data, &crate::clock::today());
    let mut out: Vec<ClientView> = data
        .clients
        .iter()
        .map(|c| {
            let key = c.id.to_string();
            let current_rep = data
                .programme
                .assignments
                .get(&key)
                .and_then(|a| a.current_rep.clone());
            let last = data
                .visits
                .iter()
                .filter(|v| v.client_id == c.id)
                .max_by(|a, b| a.date.cmp(&b.date).then(a.created_ms.cmp(&b.created_ms)));
            ClientView {
                id: key,
                company: c.company.clone(),
                segment: c.segment,
                current_rep_name: current_rep
                    .as_ref()
                    .and_then(|r| data.programme.reps.get(r))
                    .map(|r| r.name.clone()),
                current_rep,
                original_rep: c.original_rep.clone(),
                contacts: c.contacts.values().filter(|k| !k.has_left).count(),
                last_visit_date: last.map(|v| v.date.clone()),
                last_visit_state: last.map(|v| v.state),
                last_visit_id: last.map(|v| v.id.to_string()),
                last_visit_review: last.map(rapport_domain::Visit::review_state),
                next_meeting: next.remove(&c.id),
            }
        })
        .collect();
    out.sort_by_key(|c| (c.company.to_lowercase(), c.id.clone()));
    out
}

/// Every entry of one collection of every visit (`pick` chooses which), made into a
/// view with its visit and the client's company. The companies are looked up once:
/// a scan of the client list per entry was quadratic on a 10,000-client programme.
fn visit_entries<'a, T: 'a, V>(
    data: &'a ProgrammeData,
    pick: impl Fn(&'a Visit) -> &'a BTreeMap<String, T>,
    view: impl Fn(&'a Visit, &str, &'a String, &'a T) -> V,
) -> Vec<V> {
    let companies: HashMap<DocId, &str> = data
        .clients
        .iter()
        .map(|c| (c.id, c.company.as_str()))
        .collect();
    let mut out = Vec::new();
    for v in &data.visits {
        let company = companies.get(&v.client_id).copied().unwrap_or_default();
        out.extend(pick(v).iter().map(|(id, e)| view(v, company, id, e)));
    }
    out
}

/// Every follow-up of every visit, optionally only those in `state` and/or of
/// `owner`; overdue is judged against `today` (YYYY-MM-DD). Ordered by due date
/// (undated last), then client.
pub fn follow_ups(
    data: &ProgrammeData,
    state: Option<FollowUpState>,
    owner: Option<&str>,
    today: &str,
) -> Vec<FollowUpView> {
    let mut out: Vec<FollowUpView> = visit_entries(
        data,
        |v| &v.follow_ups,
        |v, company, id, f| FollowUpView {
            id: id.clone(),
            visit_id: v.id.to_string(),
            client_id: v.client_id.to_string(),
            client_company: company.to_owned(),
            description: f.description.clone(),
            owner: f.owner.clone(),
            due: f.due.clone(),
            state: f.state,
            overdue: f.state != FollowUpState::Done && f.due.as_deref().is_some_and(|d| d < today),
            source_question_id: f.source_question_id.clone(),
        },
    );
    out.retain(|f| state.is_none_or(|s| f.state == s) && owner.is_none_or(|o| f.owner == o));
    out.sort_by(|a, b| {
        (a.due.is_none(), &a.due, &a.client_company, &a.id).cmp(&(
            b.due.is_none(),
            &b.due,
            &b.client_company,
            &b.id,
        ))
    });
    out
}

/// Every referral of every visit, by visit date then client.
pub fn referrals(data: &ProgrammeData) -> Vec<ReferralView> {
    let mut out: Vec<ReferralView> = visit_entries(
        data,
        |v| &v.referrals,
        |v, company, id, r| ReferralView {
            id: id.clone(),
            visit_id: v.id.to_string(),
            client_id: v.client_id.to_string(),
            client_company: company.to_owned(),
            rep_id: v.rep_id.clone(),
            visit_date: v.date.clone(),
            name: r.name.clone(),
            company: r.company.clone(),
            contact: r.contact.clone(),
            note: r.note.clone(),
        },
    );
    out.sort_by(|a, b| {
        (&a.visit_date, &a.client_company, &a.id).cmp(&(&b.visit_date, &b.client_company, &b.id))
    });
    out
}

/// Every opportunity of every visit, by visit date then client.
pub fn opportunities(data: &ProgrammeData) -> Vec<OpportunityView> {
    let mut out: Vec<OpportunityView> = visit_entries(
        data,
        |v| &v.opportunities,
        |v, company, id, o| OpportunityView {
            id: id.clone(),
            visit_id: v.id.to_string(),
            client_id: v.client_id.to_string(),
            client_company: company.to_owned(),
            rep_id: v.rep_id.clone(),
            visit_date: v.date.clone(),
            kind: o.kind,
            description: o.description.clone(),
            product: o.product.clone(),
            value: o.estimated_value,
            currency: o.currency.clone(),
        },
    );
    out.sort_by(|a, b| {
        (&a.visit_date, &a.client_company, &a.id).cmp(&(&b.visit_date, &b.client_company, &b.id))
    });
    out
}
