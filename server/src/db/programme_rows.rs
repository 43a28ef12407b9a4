//! A programme's projection in two parts: the programme without its clients (the row
//! in `doc_meta`), and one row per client in `programme_clients` holding the client's
//! entry (membership and assignment) beside its current rep.
//!
//! A programme of 10,000 clients read whole is 4 MB of JSON. Written as one body, every
//! edit rewrote all of it (a lead adding one client paid ~25 ms for the write alone);
//! as rows, an edit writes the rows of the clients it touched. Readers join the parts
//! back ([`join`]) from one statement, so they never see a body of one projection with
//! the rows of another.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use rapport_domain::programme::ProgrammeClient;
use rapport_domain::{Assignment, DocId, Programme};
use serde::{Deserialize, Serialize};

use crate::error::{HttpError, HttpResult};

/// One client of a programme as its projection row holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRow {
    /// The client's document.
    pub client: DocId,
    /// Its current rep.
    pub rep: Option<String>,
    /// Its entry ([`Entry`]) as JSON.
    pub entry: String,
}

impl ClientRow {
    /// What tells this row from another written earlier: the rep and a hash of the
    /// entry (kept per programme by the projector instead of the entries themselves).
    pub fn print(&self) -> RowPrint {
        (self.rep.clone(), entry_hash(Some(&self.entry)))
    }
}

/// A row's rep and the hash of its entry ([`ClientRow::print`]).
pub type RowPrint = (Option<String>, u64);

/// The hash of a stored entry (`None`: a row written before rows held entries). Only
/// compared within one process.
pub fn entry_hash(entry: Option<&str>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    entry.hash(&mut h);
    h.finish()
}

/// A client's entry in the programme: what `Programme::clients` and
/// `Programme::assignments` hold for it.
#[derive(Serialize)]
struct EntryRef<'a> {
    client: &'a ProgrammeClient,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignment: Option<&'a Assignment>,
}

/// [`EntryRef`] read back.
#[derive(Deserialize)]
struct Entry {
    client: ProgrammeClient,
    #[serde(default)]
    assignment: Option<Assignment>,
}

/// The programme without its clients and assignments (what `doc_meta` holds), and a
/// row per client. An assignment of a document that is not a client of the programme
/// (none is made so, but a document may say so) is left out, as the rows list clients.
pub fn split(p: &Programme) -> serde_json::Result<(Programme, Vec<ClientRow>)> {
    // Every field named: a field added to `Programme` fails to compile here until it
    // is placed on one side.
    let Programme {
        id,
        name,
        period,
        lead,
        reps,
        template,
        assignments,
        clients,
        devices,
        created_ms,
        meeting_warning_days,
    } = p;
    let head = Programme {
        id: *id,
        name: name.clone(),
        period: period.clone(),
        lead: lead.clone(),
        reps: reps.clone(),
        template: template.clone(),
        assignments: BTreeMap::new(),
        clients: BTreeMap::new(),
        devices: devices.clone(),
        created_ms: *created_ms,
        meeting_warning_days: *meeting_warning_days,
    };
    let mut rows = Vec::with_capacity(clients.len());
    for (key, client) in clients {
        let Ok(id) = key.parse::<DocId>() else {
            continue;
        };
        let assignment = assignments.get(key);
        let entry = serde_json::to_string(&EntryRef { client, assignment })?;
        rows.push(ClientRow {
            client: id,
            rep: assignment.and_then(|a| a.current_rep.clone()),
            entry,
        });
    }
    Ok((head, rows))
}

/// The programme from its projection's body and its client rows' entries (`None`
/// for rows written before rows held entries: then the body, projected before, holds
/// the clients itself).
pub fn join<'r>(
    body: &str,
    entries: impl IntoIterator<Item = (DocId, Option<&'r str>)>,
) -> HttpResult<Programme> {
    let rebuild = |e: &dyn std::fmt::Display| {
        HttpError::internal(
            "programme projection",
            format!("{e}; run `rapport-server rebuild-projections`"),
        )
    };
    let mut p: Programme = serde_json::from_str(body).map_err(|e| rebuild(&e))?;
    for (client, entry) in entries {
        let Some(entry) = entry else { continue };
        let Entry {
            client: c,
            assignment,
        } = serde_json::from_str(entry).map_err(|e| rebuild(&e))?;
        let key = client.to_string();
        if let Some(a) = assignment {
            p.assignments.insert(key.clone(), a);
        }
        p.clients.insert(key, c);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_domain::programme::{
        Membership, add_clients, apply_suggestion, put_rep, read_programme,
    };
    use rapport_domain::{Capacity, Strength, suggest_assignments};

    fn programme() -> Programme {
        let init = rapport_domain::ProgrammeInit {
            id: DocId::random(),
            name: "Программа «Север»".into(),
            period: rapport_domain::Period {
                start: "2026-01-10".into(),
                end: "2026-03-31".into(),
            },
            lead: rapport_domain::Lead {
                name: "Анна Ведущая".into(),
                email: "anna@example.ru".into(),
            },
        };
        let mut doc = rapport_domain::programme::new_programme(
            automerge::ActorId::random(),
            &init,
            &rapport_domain::default_template(),
            1,
        )
        .expect("programme");
        put_rep(
            &mut doc,
            "ivanov",
            "Иван Иванов",
            "",
            Capacity::Dedicated,
            true,
            2,
        )
        .expect("rep");
        let members: Vec<Membership> = (0..5)
            .map(|i| Membership {
                client_id: DocId::random(),
                original_rep: (i % 2 == 0).then(|| "ivanov".to_owned()),
                strength: Strength::Excellent,
                monopolised: i == 0,
            })
            .collect();
        add_clients(&mut doc, &members, 3).expect("clients");
        let p = read_programme(&doc).expect("read");
        let suggestion =
            suggest_assignments(&p.rep_capacities(), &p.clients_for_assignment()).expect("s");
        apply_suggestion(&mut doc, &suggestion, "lead", 4).expect("applied");
        read_programme(&doc).expect("read")
    }

    #[test]
    fn a_programme_split_into_its_head_and_client_rows_joins_back_whole() {
        let p = programme();
        assert!(p.assignments.values().any(|a| a.current_rep.is_some()));
        let (head, rows) = split(&p).expect("split");
        assert!(head.clients.is_empty() && head.assignments.is_empty());
        assert_eq!(rows.len(), 5);
        for row in &rows {
            let key = row.client.to_string();
            let rep = p.assignments.get(&key).and_then(|a| a.current_rep.clone());
            assert_eq!(row.rep, rep, "the row carries the current rep");
        }
        let body = serde_json::to_string(&head).expect("body");
        assert!(body.contains("Программа «Север»"));
        let joined = join(
            &body,
            rows.iter().map(|r| (r.client, Some(r.entry.as_str()))),
        )
        .expect("join");
        assert_eq!(joined, p);
    }

    /// Rows written before they held entries: the body projected then holds the
    /// clients, and reads as before until the programme is projected again.
    #[test]
    fn a_body_projected_before_rows_held_entries_still_reads() {
        let p = programme();
        let body = serde_json::to_string(&p).expect("old body");
        let ids: Vec<DocId> = p.clients.keys().map(|k| k.parse().expect("id")).collect();
        let joined = join(&body, ids.iter().map(|id| (*id, None))).expect("join");
        assert_eq!(joined, p);
    }

    /// The lead gets a 500 (the log says to rebuild the projections), not a
    /// programme with a client missing.
    #[test]
    fn an_unreadable_entry_is_an_error_not_a_client_less() {
        let p = programme();
        let (head, rows) = split(&p).expect("split");
        let body = serde_json::to_string(&head).expect("body");
        let entries = rows
            .iter()
            .map(|r| (r.client, Some(r.entry.as_str())))
            .chain([(DocId::random(), Some("{\"client\":"))]);
        let err = join(&body, entries).expect_err("bad");
        assert_eq!(err.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(join("{\"id\":", []).is_err(), "a broken body too");
    }

    #[test]
    fn prints_differ_by_rep_and_by_entry() {
        let p = programme();
        let (_, rows) = split(&p).expect("split");
        let row = rows[0].clone();
        let mut other_rep = row.clone();
        other_rep.rep = Some("петров".into());
        let mut other_entry = row.clone();
        other_entry.entry.push(' ');
        assert_eq!(row.print(), row.clone().print());
        assert_ne!(row.print(), other_rep.print());
        assert_ne!(row.print(), other_entry.print());
        assert_ne!(
            row.print().1,
            entry_hash(None),
            "a row with no entry is rewritten"
        );
    }
}
