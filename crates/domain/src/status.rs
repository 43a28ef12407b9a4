//! Programme status for the lead: coverage per rep, visits, quality failures,
//! follow-ups, opportunities, referrals, refreshed contacts. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::ids::DocId;
use crate::programme::Programme;
use crate::visit::{
    AnswerValue, FollowUp, FollowUpState, OpportunityKind, QualityAnswer, ReviewState, Visit,
    VisitState,
};

/// A rep as the status counts them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepSummary {
    /// Name.
    pub name: String,
    /// Takes part now.
    pub active: bool,
    /// Capacity in percent of full time.
    pub capacity_percent: u32,
}

/// What the status needs of a programme: its reps and each client's current rep, a
/// fraction of the programme document (no template, history or assessments).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgrammeRoster {
    /// The programme.
    pub id: DocId,
    /// Reps by id.
    pub reps: BTreeMap<String, RepSummary>,
    /// Every client of the programme (document id) and its current rep, if any.
    pub clients: BTreeMap<String, Option<String>>,
}

impl ProgrammeRoster {
    /// The summary of a programme.
    pub fn of(p: &Programme) -> Self {
        Self {
            id: p.id,
            reps: p
                .reps
                .iter()
                .map(|(id, r)| {
                    (
                        id.clone(),
                        RepSummary {
                            name: r.name.clone(),
                            active: r.active,
                            capacity_percent: r.capacity.percent(),
                        },
                    )
                })
                .collect(),
            clients: p
                .clients
                .keys()
                .map(|c| {
                    let rep = p.assignments.get(c).and_then(|a| a.current_rep.clone());
                    (c.clone(), rep)
                })
                .collect(),
        }
    }
}

/// What the status needs of a client: its company name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    /// The client document.
    pub id: DocId,
    /// Company name.
    pub company: String,
}

impl ClientSummary {
    /// The summary of a client.
    pub fn of(client: &Client) -> Self {
        Self {
            id: client.id,
            company: client.company.clone(),
        }
    }
}

/// An opportunity as the status counts it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpportunityValue {
    /// Growth or cross-sell.
    pub kind: OpportunityKind,
    /// Currency.
    pub currency: String,
    /// Estimated value.
    pub estimated_value: f64,
}

/// What the status needs of a visit: a few hundred bytes where the visit is kilobytes
/// of answers, so the server can keep it as a projection and derive the status of a
/// programme of thousands of visits quickly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitSummary {
    /// The visit.
    pub id: DocId,
    /// Its programme.
    pub programme_id: DocId,
    /// Its client.
    pub client_id: DocId,
    /// The rep who held it.
    pub rep_id: String,
    /// Draft or completed.
    pub state: VisitState,
    /// Edited after it was completed.
    pub edited_after_completion: bool,
    /// Quality-check answers by question id.
    pub quality: BTreeMap<String, QualityAnswer>,
    /// Follow-ups not done, by id.
    pub open_follow_ups: BTreeMap<String, FollowUp>,
    /// Opportunities found.
    pub opportunities: Vec<OpportunityValue>,
    /// Referrals collected.
    pub referrals: u32,
    /// Contact updates made.
    pub contact_updates: u32,
    /// Where it stands in the lead's review (`None` in a summary projected before
    /// reviews existed: see [`Self::review_state`]).
    #[serde(default)]
    pub review: Option<ReviewState>,
}

impl VisitSummary {
    /// Where the visit stands in the lead's review; a summary projected before reviews
    /// existed has none given, and its completed visit awaits review.
    pub fn review_state(&self) -> ReviewState {
        self.review.unwrap_or(match self.state {
            VisitState::Draft => ReviewState::Draft,
            VisitState::Completed => ReviewState::AwaitingReview,
        })
    }

    /// The summary of a visit.
    pub fn of(v: &Visit) -> Self {
        Self {
            id: v.id,
            programme_id: v.programme_id,
            client_id: v.client_id,
            rep_id: v.rep_id.clone(),
            state: v.state,
            edited_after_completion: v.edited_after_completion_ms.is_some(),
            quality: v
                .answers
                .iter()
                .filter_map(|(id, a)| match a {
                    AnswerValue::Quality(q) => Some((id.clone(), q.clone())),
                    _ => None,
                })
                .collect(),
            open_follow_ups: v
                .follow_ups
                .iter()
                .filter(|(_, f)| f.state != FollowUpState::Done)
                .map(|(id, f)| (id.clone(), f.clone()))
                .collect(),
            opportunities: v
                .opportunities
                .values()
                .map(|o| OpportunityValue {
                    kind: o.kind,
                    currency: o.currency.clone(),
                    estimated_value: o.estimated_value,
                })
                .collect(),
            referrals: count(v.referrals.len()),
            contact_updates: count(v.contact_updates.len()),
            review: Some(v.review_state()),
        }
    }
}

/// Status of one rep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepStatus {
    /// The rep id.
    pub rep_id: String,
    /// The rep's name.
    pub name: String,
    /// Takes part now.
    pub active: bool,
    /// Capacity in percent of full time.
    pub capacity_percent: u32,
    /// Clients currently assigned to the rep.
    pub assigned_clients: u32,
    /// Of those, clients with at least one completed visit.
    pub visited_clients: u32,
    /// Visits by this rep still in draft.
    pub drafts: u32,
    /// Visits by this rep completed.
    pub completed_visits: u32,
    /// visited / assigned × 100 (0 with no clients).
    pub coverage_percent: f64,
}

/// Visits by state.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct VisitCounts {
    /// Drafts.
    pub draft: u32,
    /// Completed.
    pub completed: u32,
    /// Completed and edited afterwards.
    pub edited_after_completion: u32,
    /// Completed, this completion not reviewed by the lead yet.
    #[serde(default)]
    pub awaiting_review: u32,
    /// Returned to the rep for rework, not completed again yet.
    #[serde(default)]
    pub returned: u32,
    /// Accepted by the lead.
    #[serde(default)]
    pub accepted: u32,
}

/// A failing quality check awaiting technical work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityFailure {
    /// The visit.
    pub visit_id: String,
    /// The client.
    pub client_id: String,
    /// The client's company name (empty when the client was not given).
    pub company: String,
    /// The quality question.
    pub question_id: String,
    /// Contracted value.
    pub target: f64,
    /// Measured value.
    pub actual: f64,
    /// Outage in the last month.
    pub outage_last_month: bool,
}

/// A follow-up not yet done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenFollowUp {
    /// The visit.
    pub visit_id: String,
    /// The client.
    pub client_id: String,
    /// The follow-up id.
    pub follow_up_id: String,
    /// What is to be done.
    pub description: String,
    /// Who does it.
    pub owner: String,
    /// Due date.
    pub due: Option<String>,
    /// Open or in progress.
    pub state: FollowUpState,
    /// Due before `today`.
    pub overdue: bool,
}

/// Opportunities of one kind in one currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpportunityTotal {
    /// Growth or cross-sell.
    pub kind: OpportunityKind,
    /// Currency.
    pub currency: String,
    /// How many.
    pub count: u32,
    /// Sum of estimated values.
    pub total_estimated_value: f64,
}

/// The merged status of a programme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgrammeStatus {
    /// Per rep, by rep id.
    pub reps: Vec<RepStatus>,
    /// Clients in the programme.
    pub clients_total: u32,
    /// Clients without a current rep.
    pub clients_unassigned: u32,
    /// Visits by state.
    pub visits: VisitCounts,
    /// Failing quality checks.
    pub quality_failures: Vec<QualityFailure>,
    /// Follow-ups not done, by due date.
    pub open_follow_ups: Vec<OpenFollowUp>,
    /// How many of those are overdue.
    pub overdue_follow_ups: u32,
    /// Opportunities, by kind and currency.
    pub opportunities: Vec<OpportunityTotal>,
    /// Opportunities in all.
    pub opportunities_count: u32,
    /// Referrals collected.
    pub referrals: u32,
    /// Contact updates and confirmations recorded in visits.
    pub contacts_refreshed: u32,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Derives the status from the documents. Visits (in any order) of other programmes
/// are ignored; `today` (YYYY-MM-DD) decides which follow-ups are overdue.
pub fn programme_status<'a>(
    programme: &ProgrammeRoster,
    clients: &[ClientSummary],
    visits: impl IntoIterator<Item = &'a VisitSummary>,
    today: &str,
) -> ProgrammeStatus {
    let mut visits: Vec<&VisitSummary> = visits
        .into_iter()
        .filter(|v| v.programme_id == programme.id)
        .collect();
    // In the visits' order, whatever order they come in: sums of money come out the
    // same to the last digit.
    visits.sort_unstable_by_key(|v| v.id);
    let company: BTreeMap<String, &str> = clients
        .iter()
        .map(|c| (c.id.to_string(), c.company.as_str()))
        .collect();
    let visited: BTreeSet<String> = visits
        .iter()
        .filter(|v| v.state == VisitState::Completed)
        .map(|v| v.client_id.to_string())
        .collect();

    // One pass over assignments and one over visits (not one per rep: a programme of
    // 10,000 clients and 100 reps would be a million comparisons).
    let mut assigned_to: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (c, rep) in &programme.clients {
        if let Some(rep) = rep.as_deref() {
            assigned_to.entry(rep).or_default().push(c);
        }
    }
    let mut visits_by: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for v in &visits {
        let (drafts, completed) = visits_by.entry(v.rep_id.as_str()).or_default();
        match v.state {
            VisitState::Draft => *drafts += 1,
            VisitState::Completed => *completed += 1,
        }
    }
    let reps = programme
        .reps
        .iter()
        .map(|(rep_id, rep)| {
            let assigned = assigned_to
                .get(rep_id.as_str())
                .map_or(&[][..], Vec::as_slice);
            let visited_clients = count(assigned.iter().filter(|c| visited.contains(**c)).count());
            let (drafts, completed) = visits_by.get(rep_id.as_str()).copied().unwrap_or_default();
            RepStatus {
                rep_id: rep_id.clone(),
                name: rep.name.clone(),
                active: rep.active,
                capacity_percent: rep.capacity_percent,
                assigned_clients: count(assigned.len()),
                visited_clients,
                drafts,
                completed_visits: completed,
                coverage_percent: if assigned.is_empty() {
                    0.0
                } else {
                    f64::from(visited_clients) * 100.0 / assigned.len() as f64
                },
            }
        })
        .collect();

    let mut counts = VisitCounts::default();
    let mut quality_failures = Vec::new();
    let mut open_follow_ups = Vec::new();
    let mut opp: BTreeMap<(u8, String), OpportunityTotal> = BTreeMap::new();
    let mut opportunities_count = 0;
    let mut referrals = 0;
    let mut contacts_refreshed = 0;
    for v in &visits {
        match v.state {
            VisitState::Draft => counts.draft += 1,
            VisitState::Completed => {
                counts.completed += 1;
                if v.edited_after_completion {
                    counts.edited_after_completion += 1;
                }
            }
        }
        match v.review_state() {
            ReviewState::Draft => {}
            ReviewState::AwaitingReview => counts.awaiting_review += 1,
            ReviewState::Returned => counts.returned += 1,
            ReviewState::Accepted => counts.accepted += 1,
        }
        let client_id = v.client_id.to_string();
        for (qid, q) in &v.quality {
            if q.fails() {
                quality_failures.push(QualityFailure {
                    visit_id: v.id.to_string(),
                    client_id: client_id.clone(),
                    company: company.get(&client_id).copied().unwrap_or("").to_owned(),
                    question_id: qid.clone(),
                    target: q.target,
                    actual: q.actual,
                    outage_last_month: q.outage_last_month,
                });
            }
        }
        for (id, f) in &v.open_follow_ups {
            open_follow_ups.push(OpenFollowUp {
                visit_id: v.id.to_string(),
                client_id: client_id.clone(),
                follow_up_id: id.clone(),
                description: f.description.clone(),
                owner: f.owner.clone(),
                due: f.due.clone(),
                state: f.state,
                // ISO dates order as text.
                overdue: f.due.as_deref().is_some_and(|d| d < today),
            });
        }
        for o in &v.opportunities {
            opportunities_count += 1;
            let k = match o.kind {
                OpportunityKind::Growth => 0,
                OpportunityKind::CrossSell => 1,
            };
            let t = opp
                .entry((k, o.currency.clone()))
                .or_insert(OpportunityTotal {
                    kind: o.kind,
                    currency: o.currency.clone(),
                    count: 0,
                    total_estimated_value: 0.0,
                });
            t.count += 1;
            t.total_estimated_value += o.estimated_value;
        }
        referrals += v.referrals;
        contacts_refreshed += v.contact_updates;
    }
    open_follow_ups.sort_by(|a, b| {
        (a.due.is_none(), &a.due, &a.visit_id, &a.follow_up_id).cmp(&(
            b.due.is_none(),
            &b.due,
            &b.visit_id,
            &b.follow_up_id,
        ))
    });
    quality_failures.sort_by(|a, b| (&a.client_id, &a.visit_id).cmp(&(&b.client_id, &b.visit_id)));
    let overdue_follow_ups = count(open_follow_ups.iter().filter(|f| f.overdue).count());
    ProgrammeStatus {
        reps,
        clients_total: count(programme.clients.len()),
        clients_unassigned: count(programme.clients.values().filter(|r| r.is_none()).count()),
        visits: counts,
        quality_failures,
        open_follow_ups,
        overdue_follow_ups,
        opportunities: opp.into_values().collect(),
        opportunities_count,
        referrals,
        contacts_refreshed,
    }
}
