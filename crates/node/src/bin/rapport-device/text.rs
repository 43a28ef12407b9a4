//! The text renderings of the CLI's answers, for people (`--json` prints the
//! answers for scripts instead).

use std::fmt::Write;

use rapport_api::{
    ClientCard, ConflictView, DeviceInfo, DocSync, HistoryView, Lang, Response, SyncStatus,
    VisitDetail, VisitState,
};

/// A unix-ms time in the local time zone (UTC when it cannot be known).
fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let Ok(utc) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
    else {
        return format!("{ms} ms");
    };
    let (at, zone) = match time::UtcOffset::current_local_offset() {
        Ok(offset) => (utc.to_offset(offset), ""),
        Err(_) => (utc, " UTC"),
    };
    format!("{}{zone}", at.format(format).unwrap_or_default())
}

fn sync_note(sync: &DocSync) -> String {
    match sync {
        DocSync::Synced => String::new(),
        DocSync::Pending => ", not synced yet".to_owned(),
        DocSync::Stopped { code, .. } => format!(", sync stopped ({code})"),
    }
}

/// One line per client: company, visit state, answered and missing.
pub fn clients(cards: &[ClientCard]) -> String {
    if cards.is_empty() {
        return "no clients on this device yet: sync, or ask the programme lead to assign clients to you".to_owned();
    }
    let mut out = String::new();
    for c in cards {
        let visit = match &c.visit {
            None => "no visit yet".to_owned(),
            Some(v) => {
                let state = match v.state {
                    VisitState::Draft => "draft",
                    VisitState::Completed => "completed",
                };
                let mut line = format!(
                    "visit {} {state}: {} answered, {} required missing",
                    v.date, v.answered, v.missing_required
                );
                if v.conflicts > 0 {
                    let _ = write!(line, ", {} with concurrent values", v.conflicts);
                }
                line.push_str(&sync_note(&v.sync));
                let _ = write!(line, " [visit {}]", v.visit_id);
                line
            }
        };
        let _ = writeln!(
            out,
            "{} — {visit}{} [client {}]",
            c.company,
            sync_note(&c.sync),
            c.client_id
        );
    }
    out.trim_end().to_owned()
}

/// A visit as the paper form reads: sections in order, each question with its
/// answer (or what is missing), then contacts, opportunities, referrals, follow-ups.
pub fn visit(d: &VisitDetail) -> String {
    let v = &d.visit;
    let mut out = String::new();
    let company = d.client.as_ref().map_or("?", |c| c.company.as_str());
    let state = match v.state {
        VisitState::Draft => "draft",
        VisitState::Completed => "completed",
    };
    let _ = writeln!(
        out,
        "{company} — visit {} ({state}{}) [visit {}]",
        v.date,
        sync_note(&d.sync),
        v.id
    );
    let mut section = None;
    for q in d.template.ordered() {
        let answer = v.answers.get(&q.id).filter(|a| a.is_given());
        if q.retired && answer.is_none() {
            continue;
        }
        if section != Some(q.section) {
            section = Some(q.section);
            let _ = writeln!(out, "\n## {}", q.section.title(Lang::Ru));
        }
        let mark = if d.conflicts.contains(&q.id) {
            " [concurrent values: `visit conflicts`]"
        } else {
            ""
        };
        let value = match answer {
            Some(a) => a.render_for(&q.kind, Lang::Ru),
            None if q.required => "— (required, missing)".to_owned(),
            None => "—".to_owned(),
        };
        let _ = writeln!(out, "{} [{}]: {value}{mark}", q.wording.ru, q.id);
    }
    let lists: [(&str, Vec<String>); 4] = [
        (
            "Contacts",
            v.contact_updates
                .values()
                .map(|c| {
                    format!(
                        "{}, {} {} {}{}",
                        c.name,
                        c.role,
                        c.phone,
                        c.email,
                        if c.has_left { " (has left)" } else { "" }
                    )
                })
                .collect(),
        ),
        (
            "Opportunities",
            v.opportunities
                .values()
                .map(|o| {
                    format!(
                        "{}: {} {} {}",
                        o.description, o.product, o.estimated_value, o.currency
                    )
                })
                .collect(),
        ),
        (
            "Referrals",
            v.referrals
                .values()
                .map(|r| format!("{}, {} {}", r.name, r.company, r.contact))
                .collect(),
        ),
        (
            "Follow-ups",
            v.follow_ups
                .values()
                .map(|f| format!("{} ({:?}, {})", f.description, f.state, f.owner))
                .collect(),
        ),
    ];
    for (title, items) in lists {
        if !items.is_empty() {
            let _ = writeln!(out, "\n## {title}");
            for item in items {
                let _ = writeln!(out, "- {item}");
            }
        }
    }
    if !d.missing.is_empty() {
        let _ = writeln!(
            out,
            "\n{} required answer(s) missing before the visit can be completed",
            d.missing.len()
        );
    }
    out.trim_end().to_owned()
}

/// One line per saved edit.
pub fn saved(responses: &[Response]) -> String {
    let mut out = String::new();
    for r in responses {
        if let Response::Saved(s) = r {
            let _ = write!(out, "saved on this device at {}", when(s.saved_ms));
            if let Some(id) = &s.entry_id {
                let _ = write!(out, " (entry {id})");
            }
            if s.follow_up_opened {
                out.push_str("; the failed quality check opened a follow-up");
            }
            out.push('\n');
        }
    }
    out.trim_end().to_owned()
}

/// The concurrent values of an answer with their authors.
pub fn conflicts(values: &[ConflictView]) -> String {
    match values {
        [] => "no answer yet".to_owned(),
        [one] => format!("{} — {} (no concurrent values)", one.rendered, one.author),
        many => many
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{}. {} — {}", i + 1, c.rendered, c.author))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Who changed an answer, when, to what.
pub fn history(entries: &[HistoryView]) -> String {
    if entries.is_empty() {
        return "never answered".to_owned();
    }
    entries
        .iter()
        .map(|h| format!("{}  {}: {}", when(h.time_ms), h.author, h.value))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Server, pending documents, last sync, last error, stopped documents.
pub fn status(device: Option<&DeviceInfo>, sync: Option<&SyncStatus>) -> String {
    let mut out = String::new();
    match device {
        Some(d) => {
            let who = match (&d.rep_name, &d.rep_id) {
                (Some(name), _) => format!("rep {name}"),
                (None, Some(id)) => format!("rep {id}"),
                (None, None) => "the programme lead's device".to_owned(),
            };
            let _ = writeln!(
                out,
                "server:     {} ({who}, device {})",
                d.server_url, d.device_id
            );
        }
        None => {
            let _ = writeln!(
                out,
                "server:     not paired (ask the programme lead for a pairing code, then `pair`)"
            );
        }
    }
    if let Some(s) = sync {
        out.push_str(&self::sync(s));
    }
    out.trim_end().to_owned()
}

/// Pending documents, last sync, last error, stopped documents.
pub fn sync(s: &SyncStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pending:    {} document(s), {} bytes{}",
        s.pending_docs,
        s.pending_bytes,
        if s.running { " (syncing now)" } else { "" }
    );
    let last = s.last_success_ms.map_or_else(|| "never".to_owned(), when);
    let _ = writeln!(out, "last sync:  {last}");
    match &s.last_error {
        None => {
            let _ = writeln!(out, "last error: none");
        }
        Some(e) => {
            let at = s.last_attempt_ms.map(when).unwrap_or_default();
            let _ = writeln!(out, "last error: {} [{}] {at}", e.message, e.code);
        }
    }
    if s.stopped.is_empty() {
        let _ = writeln!(out, "stopped:    none");
    } else {
        let _ = writeln!(
            out,
            "stopped:    {} document(s), kept here and not sent:",
            s.stopped.len()
        );
        for d in &s.stopped {
            let _ = writeln!(
                out,
                "  - {} {}: {} [{}]",
                d.kind, d.doc_id, d.message, d.code
            );
        }
    }
    out.trim_end().to_owned()
}
