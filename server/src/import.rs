//! The client import: a CSV or XLSX client list becomes client documents added to a
//! programme. Good rows are imported, every bad row is reported with its line and
//! reason, and nothing is half-written: every document is built in memory first, then
//! all client documents go to the store in one commit, then one programme edit adds
//! them to the programme.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::Automerge;
use rapport_api::lead::{ImportColumn, ImportColumns, ImportOutcome, ImportRowError};
use rapport_domain::client::{add_contact, company_key, new_client, read_client, set_notes};
use rapport_domain::programme::{Members, Membership, Rep, add_clients, read_members};
use rapport_domain::{DocId, DomainError};
use rapport_sheets::{
    ClientField, ColumnMap, Format, ImportReport, ImportedClient, Limits, RowError,
    read_clients_with, read_headers,
};

use crate::edit::{create_docs, edit_doc};
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

/// The refused rows as the API reports them (the sheet reader's codes are static
/// strings; the API's are owned, so the UI can parse them).
fn row_errors(errors: Vec<RowError>) -> Vec<ImportRowError> {
    errors
        .into_iter()
        .map(|e| ImportRowError {
            line: e.line,
            column: e.column,
            code: e.code.to_owned(),
            message: e.message,
            message_en: e.message_en,
        })
        .collect()
}

/// Turns a file-level spreadsheet error into a 422 (413 when the file is too large).
pub fn sheet_error(e: &rapport_sheets::SheetError) -> HttpError {
    let status = match e {
        rapport_sheets::SheetError::TooLarge { .. } => axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        _ => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
    };
    HttpError::new(status, e.code(), format!("{e} / {}", e.message_ru()))
}

/// A filename hint from the upload's content type, for when no `?filename=` is given
/// (the content still wins in [`Format::detect`]).
pub fn filename_hint(filename: Option<&str>, content_type: Option<&str>) -> Option<String> {
    if let Some(f) = filename {
        return Some(f.to_owned());
    }
    let ct = content_type?.split(';').next()?.trim().to_lowercase();
    match ct.as_str() {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
            Some("upload.xlsx".to_owned())
        }
        "text/csv" | "text/plain" | "application/csv" => Some("upload.csv".to_owned()),
        _ => None,
    }
}

/// Splits the parsed rows into those to import and more row errors: a company that is
/// already in the programme, or earlier in the file (case-insensitive), is
/// `duplicate_company`.
pub fn plan(report: ImportReport, existing: &[String]) -> (Vec<ImportedClient>, ImportReport) {
    let mut seen: HashSet<String> = existing.iter().map(|c| company_key(c)).collect();
    let mut good = Vec::new();
    let mut errors = report.errors;
    for row in report.rows {
        if seen.insert(company_key(&row.company)) {
            good.push(row);
        } else {
            errors.push(RowError {
                line: row.line,
                column: None,
                code: "duplicate_company",
                message: format!(
                    "компания «{}» уже есть в программе или выше в файле; удалите повторную строку",
                    row.company
                ),
                message_en: format!(
                    "company \"{}\" is already in the programme or earlier in the file; remove the repeated row",
                    row.company
                ),
            });
        }
    }
    errors.sort_by_key(|e| e.line);
    (
        good,
        ImportReport {
            rows: Vec::new(),
            errors,
            warnings: report.warnings,
        },
    )
}

/// The rep id for an original rep as written in the file: a rep id, or a rep's e-mail
/// (case-insensitive); anything else is kept as written so the suggestion reports it as
/// an unknown original rep.
pub fn resolve_rep(reps: &BTreeMap<String, Rep>, written: &str) -> String {
    if reps.contains_key(written) {
        return written.to_owned();
    }
    reps.iter()
        .find(|(_, r)| !r.email.is_empty() && r.email.eq_ignore_ascii_case(written))
        .map_or_else(|| written.to_owned(), |(id, _)| id.clone())
}

/// Builds one client document for a row (in memory only).
pub fn client_doc(
    actor: automerge::ActorId,
    id: DocId,
    row: &ImportedClient,
    original_rep: Option<&str>,
    now_ms: i64,
) -> Result<Automerge, DomainError> {
    let mut doc = new_client(actor, id, &row.company, row.segment, original_rep, now_ms)?;
    if let Some(contact) = &row.contact {
        add_contact(&mut doc, contact, now_ms)?;
    }
    if !row.notes.is_empty() {
        set_notes(&mut doc, &row.notes, now_ms)?;
    }
    Ok(doc)
}

/// The programme's reps and the company names of its clients, from the documents
/// where the projections may trail them: on PostgreSQL a client added a moment ago can
/// be missing from the projections, and checking duplicates against them alone would
/// let it in twice. Projections are used for clients they already hold (one query, not
/// one document load per client).
///
/// With `like` (a [`company_key`]), the names may be only those with that key: while
/// the projection of the programme is at the document's heads, its client rows are
/// exactly the document's clients, and an index finds the few named so (a lead adding
/// one client to a programme of 10,000 reads a row, not 10,000 names); those found
/// by their rows are given as their keys. Otherwise, or with no `like`, every client's
/// name.
pub async fn current_companies(
    state: &AppState,
    programme_id: DocId,
    like: Option<&str>,
) -> HttpResult<(BTreeMap<String, Rep>, Vec<String>)> {
    let doc = state
        .store
        .load(programme_id)
        .await?
        .ok_or_else(|| HttpError::not_found("the programme"))?;
    let Members { reps, clients: ids } = read_members(&doc)?;
    let named = match like {
        Some(key) => {
            state
                .db
                .clients_named(programme_id, &crate::db::heads_key(&doc), key)
                .await?
        }
        None => None,
    };
    // The rows' company keys, or the client summaries (a few dozen bytes each) of
    // every client the projections list in the programme, in one query.
    let (projected, missing): (HashMap<DocId, String>, Vec<DocId>) = match named {
        Some(rows) => {
            let mut unknown = Vec::new();
            let known = rows
                .into_iter()
                .filter_map(|(id, key)| match key {
                    Some(key) => Some((id, key)),
                    None => {
                        unknown.push(id);
                        None
                    }
                })
                .collect();
            (known, unknown)
        }
        None => {
            let projected: HashMap<DocId, String> = state
                .db
                .client_summaries_of(programme_id)
                .await?
                .iter()
                .filter_map(|s| serde_json::from_str::<rapport_domain::ClientSummary>(s).ok())
                .map(|c| (c.id, c.company))
                .collect();
            let missing = ids
                .iter()
                .filter(|id| !projected.contains_key(id))
                .copied()
                .collect();
            (projected, missing)
        }
    };
    let mut companies: Vec<String> = projected.into_values().collect();
    // Only the clients the projections do not hold yet are read from the store.
    for (_, loaded) in state.store.load_many(&missing).await? {
        if let Some(doc) = loaded? {
            companies.push(read_client(&doc)?.company);
        }
    }
    Ok((reps, companies))
}

/// The lead's column choice from the query (a JSON object, header → field name).
pub fn parse_columns(columns: Option<&str>) -> HttpResult<ColumnMap> {
    let Some(text) = columns.filter(|c| !c.trim().is_empty()) else {
        return Ok(ColumnMap::new());
    };
    serde_json::from_str(text).map_err(|e| {
        HttpError::invalid(
            "columns_invalid",
            format!(
                "the column choice must be a JSON object of header → field name (or \"\" to skip): {e}"
            ),
        )
    })
}

/// The format of an upload within the server's limits, and those limits.
fn upload_format(
    state: &AppState,
    bytes: &[u8],
    filename: Option<&str>,
) -> HttpResult<(Format, Limits)> {
    if bytes.len() > state.config.max_import_bytes {
        return Err(sheet_error(&rapport_sheets::SheetError::TooLarge {
            size: bytes.len(),
            limit: state.config.max_import_bytes,
        }));
    }
    let format = Format::detect(filename, bytes)
        .ok_or_else(|| sheet_error(&rapport_sheets::SheetError::UnrecognisedFormat))?;
    let limits = Limits {
        max_bytes: state.config.max_import_bytes,
        ..Limits::default()
    };
    Ok((format, limits))
}

/// A file's columns with the field guessed for each (the lead's mapping step).
pub fn import_columns(
    state: &AppState,
    bytes: &[u8],
    filename: Option<&str>,
) -> HttpResult<ImportColumns> {
    let (format, limits) = upload_format(state, bytes, filename)?;
    let headers = read_headers(bytes, format, &limits).map_err(|e| sheet_error(&e))?;
    Ok(ImportColumns {
        columns: headers
            .into_iter()
            .map(|(header, guess)| ImportColumn {
                header,
                guess: guess.map(|f| f.wire().to_owned()),
            })
            .collect(),
        fields: ClientField::ALL
            .iter()
            .map(|f| f.wire().to_owned())
            .collect(),
    })
}

/// Imports a client list into a programme (see the module doc), its columns read as
/// `columns` says (guessed where it says nothing). `actor_prefix` is the lead's
/// registered actor (hex).
pub async fn import_clients(
    state: &AppState,
    actor_prefix: &str,
    programme_id: DocId,
    bytes: &[u8],
    filename: Option<&str>,
    columns: &ColumnMap,
    dry_run: bool,
) -> HttpResult<ImportOutcome> {
    let (reps, existing) = current_companies(state, programme_id, None).await?;
    let (format, limits) = upload_format(state, bytes, filename)?;
    let report = read_clients_with(bytes, format, &limits, columns).map_err(|e| sheet_error(&e))?;
    let (good, report) = plan(report, &existing);
    if dry_run || good.is_empty() {
        return Ok(ImportOutcome {
            dry_run,
            imported: if dry_run { good.len() } else { 0 },
            clients: Vec::new(),
            errors: row_errors(report.errors),
            warnings: report.warnings,
        });
    }
    let now = crate::clock::now_ms();
    let actor = crate::auth::edit_actor(actor_prefix);
    let mut docs = Vec::with_capacity(good.len());
    let mut members = Vec::with_capacity(good.len());
    for row in &good {
        let id = DocId::random();
        let original_rep = row.original_rep.as_deref().map(|r| resolve_rep(&reps, r));
        docs.push((
            id,
            client_doc(actor.clone(), id, row, original_rep.as_deref(), now)?,
        ));
        members.push(Membership {
            client_id: id,
            original_rep,
            strength: row.relationship,
            monopolised: row.monopolised,
        });
    }
    // Client documents first: a client document without the programme edit is
    // invisible (not in any programme) and harmless; the reverse would list clients
    // that do not exist.
    create_docs(state, docs).await?;
    edit_doc(state, actor_prefix, programme_id, "the programme", |doc| {
        add_clients(doc, &members, now)
    })
    .await?;
    Ok(ImportOutcome {
        dry_run: false,
        imported: members.len(),
        clients: members.iter().map(|m| m.client_id.to_string()).collect(),
        errors: row_errors(report.errors),
        warnings: report.warnings,
    })
}

/// Adds one client to a programme: the client document (with its contact and notes),
/// then the programme edit. A company already in the programme (case-insensitive) is
/// refused with `duplicate_company`.
pub async fn add_one_client(
    state: &AppState,
    actor_prefix: &str,
    programme_id: DocId,
    row: ImportedClient,
) -> HttpResult<DocId> {
    let like = company_key(&row.company);
    let (reps, existing) = current_companies(state, programme_id, Some(&like)).await?;
    let (good, report) = plan(
        ImportReport {
            rows: vec![row],
            ..ImportReport::default()
        },
        &existing,
    );
    let Some(row) = good.into_iter().next() else {
        let message = report
            .errors
            .first()
            .map_or_else(String::new, |e| e.message_en.clone());
        return Err(HttpError::new(
            axum::http::StatusCode::CONFLICT,
            "duplicate_company",
            message,
        ));
    };
    let now = crate::clock::now_ms();
    let id = DocId::random();
    let original_rep = row.original_rep.as_deref().map(|r| resolve_rep(&reps, r));
    let doc = client_doc(
        crate::auth::edit_actor(actor_prefix),
        id,
        &row,
        original_rep.as_deref(),
        now,
    )?;
    let member = Membership {
        client_id: id,
        original_rep,
        strength: row.relationship,
        monopolised: row.monopolised,
    };
    create_docs(state, vec![(id, doc)]).await?;
    edit_doc(state, actor_prefix, programme_id, "the programme", |doc| {
        add_clients(doc, std::slice::from_ref(&member), now)
    })
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_domain::Segment;

    fn row(line: usize, company: &str) -> ImportedClient {
        ImportedClient {
            line,
            company: company.to_owned(),
            segment: Segment::Corporate,
            original_rep: None,
            relationship: rapport_domain::Strength::Unknown,
            monopolised: false,
            contact: None,
            notes: String::new(),
        }
    }

    #[test]
    fn companies_already_present_or_repeated_become_row_errors_in_line_order() {
        let report = ImportReport {
            rows: vec![
                row(2, "ООО «Ромашка»"),
                row(3, "АО Север"),
                row(5, "ао СЕВЕР "),
                row(6, "Кафе ☕"),
            ],
            errors: vec![RowError {
                line: 4,
                column: None,
                code: "missing_company",
                message: String::new(),
                message_en: String::new(),
            }],
            warnings: vec![],
        };
        let (good, rest) = plan(report, &["ооо «ромашка»".to_owned()]);
        let names: Vec<_> = good.iter().map(|r| r.company.as_str()).collect();
        assert_eq!(names, ["АО Север", "Кафе ☕"]);
        let errs: Vec<_> = rest.errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(
            errs,
            [
                (2, "duplicate_company"),
                (4, "missing_company"),
                (5, "duplicate_company")
            ]
        );
        assert!(rest.errors[0].message.contains("Ромашка"));
    }

    #[test]
    fn content_type_gives_a_hint_only_without_a_filename() {
        assert_eq!(
            filename_hint(Some("клиенты.xlsx"), Some("text/csv")).as_deref(),
            Some("клиенты.xlsx")
        );
        assert_eq!(
            filename_hint(None, Some("text/csv; charset=utf-8")).as_deref(),
            Some("upload.csv")
        );
        assert_eq!(filename_hint(None, Some("application/octet-stream")), None);
    }
}
