//! The handlers of [`rapport_api::Request`]: each parses, calls the domain on the
//! local documents, and answers typed values.

use std::collections::{BTreeMap, HashMap, HashSet};

use rapport_api::{
    ClientCard, ConflictView, HistoryView, Request, Response, Saved, StartVisit, SyncStatus,
    VisitCard, VisitDetail, VisitEdit,
};
use rapport_domain::client::read_client;
use rapport_domain::visit::{
    add_follow_up, complete_visit, mark_contact_update_left, new_visit, put_contact_update,
    put_opportunity, put_referral, read_visit, record_quality_check, set_scalar_answer,
    set_text_answer, update_follow_up,
};
use rapport_domain::{
    DocId, DomainError, FollowUpState, Template, VisitInit, answer_conflicts, answer_history,
    conflicted_answers, resolve_answer, validate_visit_completion,
};

use crate::device::DeviceCore;
use crate::error::{NodeError, check_date};
use crate::host::random_id;
use crate::meetings;
use crate::shown::{author, doc_syncs};
use crate::store::{DeviceStore, IndexEntry};

impl<S: DeviceStore> DeviceCore<S> {
    /// Answers one API request of the rep's pages. Pairing and "sync now" need the
    /// network: the shell answers them ([`crate::pairing`], [`Self::begin_run`]); here
    /// they are refused with `shell_request`.
    pub async fn handle(&self, request: Request) -> Result<Response, NodeError> {
        handle(self, request).await
    }

    /// The sync status: pending documents and bytes, the last run, what is stopped.
    pub async fn sync_status(&self) -> Result<SyncStatus, NodeError> {
        sync_status(self).await
    }
}

async fn handle<S: DeviceStore>(
    inner: &DeviceCore<S>,
    request: Request,
) -> Result<Response, NodeError> {
    Ok(match request {
        Request::Pair(_) | Request::SyncNow => {
            return Err(NodeError::invalid(
                "shell_request",
                "pairing and syncing need the network: the app answers them, not the device core",
            ));
        }
        Request::Device => Response::Device(inner.device_info().await?),
        Request::Clients => Response::Clients(clients(inner).await?),
        Request::StartVisit(s) => Response::Visit(Box::new(start_visit(inner, s).await?)),
        Request::OpenVisit { visit_id } => {
            Response::Visit(Box::new(open_visit(inner, visit_id).await?))
        }
        Request::EditVisit { visit_id, edit } => {
            Response::Saved(edit_visit(inner, visit_id, edit).await?)
        }
        Request::CompleteVisit { visit_id } => {
            Response::Visit(Box::new(complete(inner, visit_id).await?))
        }
        Request::AnswerConflicts {
            visit_id,
            question_id,
        } => Response::Conflicts(conflicts(inner, visit_id, &question_id).await?),
        Request::AnswerHistory {
            visit_id,
            question_id,
        } => Response::History(history(inner, visit_id, &question_id).await?),
        Request::SyncStatus => Response::Sync(sync_status(inner).await?),
        Request::Meetings { today } => Response::Meetings(meetings::list(inner, &today).await?),
        Request::EditMeeting { client_id, edit } => {
            Response::MeetingSaved(meetings::edit(inner, client_id, edit).await?)
        }
        Request::MeetingsCalendar { lang } => {
            Response::File(meetings::calendar(inner, lang).await?)
        }
    })
}

async fn clients<S: DeviceStore>(inner: &DeviceCore<S>) -> Result<Vec<ClientCard>, NodeError> {
    inner.paired().await?;
    let template = inner.template().await.ok();
    let indexed = inner.store.indexed().await?;
    let of_kind = |kind: &str| -> Vec<DocId> {
        indexed
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.doc)
            .collect()
    };
    let (client_ids, visit_ids) = (of_kind("client"), of_kind("visit"));
    let sync_of = doc_syncs(inner).await?;
    // The latest visit per client (by date, then creation).
    let mut latest: BTreeMap<DocId, VisitCard> = BTreeMap::new();
    let mut order: HashMap<DocId, (String, i64)> = HashMap::new();
    // Follow-ups not done, from every visit of the client (not only the latest).
    let mut open: HashMap<DocId, usize> = HashMap::new();
    for (id, loaded) in inner.store.load_many(&visit_ids).await? {
        let Ok(Some(doc)) = loaded else { continue };
        let Ok(visit) = read_visit(&doc) else {
            continue;
        };
        *open.entry(visit.client_id).or_default() += visit
            .follow_ups
            .values()
            .filter(|f| f.state != FollowUpState::Done)
            .count();
        let key = (visit.date.clone(), visit.created_ms);
        if order.get(&visit.client_id).is_some_and(|k| *k >= key) {
            continue;
        }
        order.insert(visit.client_id, key);
        let card = VisitCard {
            visit_id: id,
            date: visit.date.clone(),
            state: visit.state,
            answered: visit.answers.values().filter(|a| a.is_given()).count(),
            missing_required: template
                .as_ref()
                .map_or(0, |t| validate_visit_completion(&visit, t).len()),
            conflicts: conflicted_answers(&doc).map_or(0, |c| c.len()),
            review: visit.review_state(),
            sync: sync_of(&id),
        };
        latest.insert(visit.client_id, card);
    }
    let mut cards = Vec::new();
    for (id, loaded) in inner.store.load_many(&client_ids).await? {
        let Ok(Some(doc)) = loaded else { continue };
        let Ok(client) = read_client(&doc) else {
            continue;
        };
        cards.push(ClientCard {
            client_id: id,
            company: client.company,
            segment: client.segment,
            visit: latest.remove(&id),
            open_follow_ups: open.get(&id).copied().unwrap_or(0),
            sync: sync_of(&id),
        });
    }
    cards.sort_by_cached_key(|c| c.company.to_lowercase());
    Ok(cards)
}

async fn start_visit<S: DeviceStore>(
    inner: &DeviceCore<S>,
    s: StartVisit,
) -> Result<VisitDetail, NodeError> {
    let d = inner.paired().await?;
    check_date(&s.date)?;
    inner.require_client(s.client_id).await?;
    let template = inner.template().await?;
    let id = random_id(inner.host().as_ref());
    let init = VisitInit {
        id,
        programme_id: d.programme_id,
        client_id: s.client_id,
        date: s.date,
        rep_id: d.rep_id.clone().unwrap_or_else(|| "lead".to_owned()),
    };
    let now = inner.shared.now_ms();
    let doc = new_visit(inner.edit_actor(&d)?, &init, &template, now)?;
    let entry = IndexEntry {
        doc: id,
        kind: "visit".to_owned(),
        client: Some(s.client_id),
    };
    inner.save_new(id, &doc, Some(entry)).await?;
    open_visit(inner, id).await
}

async fn open_visit<S: DeviceStore>(
    inner: &DeviceCore<S>,
    id: DocId,
) -> Result<VisitDetail, NodeError> {
    let template = inner.template().await?;
    let (visit, conflicts) = inner
        .read(id, |doc| Ok((read_visit(doc)?, conflicted_answers(doc)?)))
        .await
        .map_err(|e| not_a_visit(e, id))?;
    // Through the edit cache too: the visit page reads it again after edits.
    let client = match inner
        .read(visit.client_id, |c| Ok(read_client(c).ok()))
        .await
    {
        Ok(client) => client,
        Err(NodeError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let sync_of = doc_syncs(inner).await?;
    Ok(VisitDetail {
        missing: validate_visit_completion(&visit, &template),
        conflicts,
        sync: sync_of(&id),
        visit,
        client,
        template,
    })
}

/// "Document not found" said of a visit.
fn not_a_visit(e: NodeError, id: DocId) -> NodeError {
    match e {
        NodeError::NotFound { .. } => NodeError::NotFound { what: "visit", id },
        e => e,
    }
}

async fn edit_visit<S: DeviceStore>(
    inner: &DeviceCore<S>,
    id: DocId,
    edit: VisitEdit,
) -> Result<Saved, NodeError> {
    let template = inner.template().await?;
    let now = inner.shared.now_ms();
    let (entry_id, follow_up_opened) = inner
        .edit(id, |doc| {
            apply(doc, &template, edit, now).map_err(NodeError::from)
        })
        .await?;
    Ok(Saved {
        visit_id: id,
        entry_id,
        follow_up_opened,
        saved_ms: inner.shared.now_ms(),
    })
}

/// One edit on the document; returns the id of an added entry and whether a
/// follow-up was opened.
fn apply(
    doc: &mut automerge::Automerge,
    template: &Template,
    edit: VisitEdit,
    now: i64,
) -> Result<(Option<String>, bool), DomainError> {
    Ok(match edit {
        VisitEdit::Text { question_id, value } => {
            set_text_answer(doc, template, &question_id, &value, now)?;
            (None, false)
        }
        VisitEdit::Scalar { question_id, value } => {
            set_scalar_answer(doc, template, &question_id, &value, now)?;
            (None, false)
        }
        VisitEdit::Quality {
            question_id,
            answer,
        } => (
            None,
            record_quality_check(doc, template, &question_id, &answer, now)?,
        ),
        VisitEdit::Resolve {
            question_id,
            chosen,
        } => {
            resolve_answer(doc, template, &question_id, &chosen, now)?;
            (None, false)
        }
        VisitEdit::Contact { id, contact } => (
            Some(put_contact_update(doc, id.as_deref(), &contact, now)?),
            false,
        ),
        VisitEdit::ContactLeft { id } => {
            mark_contact_update_left(doc, &id, now)?;
            (Some(id), false)
        }
        VisitEdit::Opportunity { id, opportunity } => (
            Some(put_opportunity(doc, id.as_deref(), &opportunity, now)?),
            false,
        ),
        VisitEdit::Referral { id, referral } => (
            Some(put_referral(doc, id.as_deref(), &referral, now)?),
            false,
        ),
        VisitEdit::AddFollowUp {
            description,
            owner,
            due,
        } => (
            Some(add_follow_up(
                doc,
                None,
                &description,
                &owner,
                due.as_deref(),
                now,
            )?),
            false,
        ),
        VisitEdit::UpdateFollowUp {
            id,
            state,
            owner,
            due,
        } => {
            update_follow_up(doc, &id, state, owner.as_deref(), due.as_deref(), now)?;
            (Some(id), false)
        }
    })
}

async fn complete<S: DeviceStore>(
    inner: &DeviceCore<S>,
    id: DocId,
) -> Result<VisitDetail, NodeError> {
    let template = inner.template().await?;
    let now = inner.shared.now_ms();
    inner
        .edit(id, |doc| match complete_visit(doc, &template, now) {
            Err(DomainError::Incomplete { missing }) => Err(NodeError::Incomplete { missing }),
            other => other.map_err(NodeError::from),
        })
        .await?;
    open_visit(inner, id).await
}

async fn conflicts<S: DeviceStore>(
    inner: &DeviceCore<S>,
    id: DocId,
    question_id: &str,
) -> Result<Vec<ConflictView>, NodeError> {
    let me = inner.paired().await?;
    let values = inner
        .read(id, |doc| Ok(answer_conflicts(doc, question_id)?))
        .await
        .map_err(|e| not_a_visit(e, id))?;
    let view = inner.view().await?;
    Ok(values
        .into_iter()
        .map(|c| ConflictView {
            rendered: c.value.render(),
            author: author(view.as_deref(), &me, &c.actor),
            value: c.value,
            actor: c.actor,
        })
        .collect())
}

async fn history<S: DeviceStore>(
    inner: &DeviceCore<S>,
    id: DocId,
    question_id: &str,
) -> Result<Vec<HistoryView>, NodeError> {
    let me = inner.paired().await?;
    let entries = inner
        .read(id, |doc| Ok(answer_history(doc, question_id)?))
        .await
        .map_err(|e| not_a_visit(e, id))?;
    let view = inner.view().await?;
    Ok(entries
        .into_iter()
        .map(|h| HistoryView {
            time_ms: h.time_ms,
            author: author(view.as_deref(), &me, &h.actor),
            value: h.value,
        })
        .collect())
}

/// Most dirty documents whose unsent bytes are counted exactly (the rest estimated).
const PENDING_EXACT: usize = 200;

async fn sync_status<S: DeviceStore>(inner: &DeviceCore<S>) -> Result<SyncStatus, NodeError> {
    let paired = inner.device().await?.is_some();
    let row = inner.store.sync_row().await?;
    let stopped = inner.store.stopped().await?;
    let stopped_ids: HashSet<DocId> = stopped.iter().map(|s| s.doc_id).collect();
    let (running, next_attempt_ms, mut pending): (bool, Option<i64>, Vec<DocId>) = {
        let mem = inner.shared.mem();
        (
            mem.running,
            mem.next_attempt_ms,
            mem.dirty
                .iter()
                .filter(|d| !stopped_ids.contains(d))
                .copied()
                .collect(),
        )
    };
    pending.sort();
    let counted = &pending[..pending.len().min(PENDING_EXACT)];
    let states = inner.store.sync_states(counted).await?;
    let mut bytes = 0u64;
    for (id, loaded) in inner.store.load_many(counted).await? {
        let Ok(Some(doc)) = loaded else { continue };
        let shared = states
            .get(&id)
            .and_then(|s| automerge::sync::State::decode(s).ok())
            .map(|s| s.shared_heads)
            .unwrap_or_default();
        bytes += doc
            .get_changes(&shared)
            .iter()
            .map(|c| c.raw_bytes().len() as u64)
            .sum::<u64>();
    }
    if pending.len() > counted.len() && !counted.is_empty() {
        bytes = bytes * pending.len() as u64 / counted.len() as u64;
    }
    Ok(SyncStatus {
        paired,
        running,
        pending_docs: pending.len(),
        pending_bytes: bytes,
        last_success_ms: row.last_success_ms,
        last_attempt_ms: row.last_attempt_ms,
        last_error: row.last_error,
        next_attempt_ms,
        stopped,
        last_run: row.last_run,
    })
}
