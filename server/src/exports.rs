//! Exports for the lead: visits, follow-ups and referrals as CSV or XLSX. The tables
//! are pure functions of [`ProgrammeData`]; only [`export`] writes bytes.

use rapport_domain::{AnswerValue, FollowUpState, QuestionKind, VisitState};
use rapport_sheets::{Cell, SheetError, Table, write_csv, write_xlsx};

use crate::results::ProgrammeData;

/// What can be exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// One row per visit with every answer.
    Visits,
    /// One row per follow-up.
    FollowUps,
    /// One row per referral.
    Referrals,
}

/// The file format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV for Russian Excel.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl ExportFormat {
    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// Reads a file name such as `visits.csv` or `follow-ups.xlsx`; `None` when unknown.
pub fn parse_file(name: &str) -> Option<(ExportKind, ExportFormat)> {
    let (kind, ext) = name.rsplit_once('.')?;
    let kind = match kind {
        "visits" => ExportKind::Visits,
        "follow-ups" => ExportKind::FollowUps,
        "referrals" => ExportKind::Referrals,
        _ => return None,
    };
    let format = match ext.to_ascii_lowercase().as_str() {
        "csv" => ExportFormat::Csv,
        "xlsx" => ExportFormat::Xlsx,
        _ => return None,
    };
    Some((kind, format))
}

fn rep_name(data: &ProgrammeData, rep_id: &str) -> String {
    data.programme
        .reps
        .get(rep_id)
        .map_or_else(|| rep_id.to_owned(), |r| r.name.clone())
}

fn company(data: &ProgrammeData, client: rapport_domain::DocId) -> String {
    data.clients
        .iter()
        .find(|c| c.id == client)
        .map(|c| c.company.clone())
        .unwrap_or_default()
}

fn state_ru(s: VisitState) -> &'static str {
    match s {
        VisitState::Draft => "черновик",
        VisitState::Completed => "завершён",
    }
}

fn follow_up_state_ru(s: FollowUpState) -> &'static str {
    match s {
        FollowUpState::Open => "открыто",
        FollowUpState::InProgress => "в работе",
        FollowUpState::Done => "выполнено",
    }
}

fn answer_cell(kind: &QuestionKind, answer: Option<&AnswerValue>) -> Cell {
    match (kind, answer) {
        (_, None) => Cell::Empty,
        (QuestionKind::Choice { options }, Some(AnswerValue::Str(id))) => Cell::Text(
            options
                .iter()
                .find(|o| &o.id == id)
                .map_or_else(|| id.clone(), |o| o.label.ru.clone()),
        ),
        (QuestionKind::Date, Some(AnswerValue::Str(d))) => Cell::Date(d.clone()),
        (_, Some(AnswerValue::Bool(b))) => Cell::Bool(*b),
        (_, Some(AnswerValue::Number(n))) => Cell::Number(*n),
        (_, Some(a)) => Cell::Text(a.render()),
    }
}

/// One row per visit (by date, then client): client, date, rep, state, then one column
/// per template question in form order (Russian wording; retired questions included,
/// as old visits answered them) with the answer.
pub fn visits_table(data: &ProgrammeData) -> Table {
    let questions: Vec<_> = data
        .programme
        .template
        .ordered()
        .into_iter()
        .filter(|q| !matches!(q.kind, QuestionKind::Contacts | QuestionKind::Referrals))
        .collect();
    let mut headers: Vec<String> = ["Клиент", "Дата встречи", "Менеджер", "Состояние"]
        .map(str::to_owned)
        .to_vec();
    headers.extend(questions.iter().map(|q| q.wording.ru.clone()));
    let mut visits: Vec<_> = data.visits.iter().collect();
    visits.sort_by_key(|v| (v.date.clone(), company(data, v.client_id), v.id.to_string()));
    let rows = visits
        .into_iter()
        .map(|v| {
            let mut row = vec![
                Cell::Text(company(data, v.client_id)),
                Cell::Date(v.date.clone()),
                Cell::Text(rep_name(data, &v.rep_id)),
                Cell::Text(state_ru(v.state).to_owned()),
            ];
            row.extend(
                questions
                    .iter()
                    .map(|q| answer_cell(&q.kind, v.answers.get(&q.id))),
            );
            row
        })
        .collect();
    Table { headers, rows }
}

/// One row per follow-up, as [`crate::results::follow_ups`] orders them.
pub fn follow_ups_table(data: &ProgrammeData, today: &str) -> Table {
    let headers = [
        "Клиент",
        "Что сделать",
        "Ответственный",
        "Срок",
        "Состояние",
        "Просрочено",
    ]
    .map(str::to_owned)
    .to_vec();
    let rows = crate::results::follow_ups(data, None, None, today)
        .into_iter()
        .map(|f| {
            vec![
                Cell::Text(f.client_company),
                Cell::Text(f.description),
                Cell::Text(f.owner),
                f.due.map_or(Cell::Empty, Cell::Date),
                Cell::Text(follow_up_state_ru(f.state).to_owned()),
                Cell::Bool(f.overdue),
            ]
        })
        .collect();
    Table { headers, rows }
}

/// One row per referral, by visit date then client.
pub fn referrals_table(data: &ProgrammeData) -> Table {
    let headers = [
        "Клиент",
        "Дата встречи",
        "Менеджер",
        "Рекомендованный",
        "Компания",
        "Контакт",
        "Заметка",
    ]
    .map(str::to_owned)
    .to_vec();
    let rows = crate::results::referrals(data)
        .into_iter()
        .map(|r| {
            vec![
                Cell::Text(r.client_company),
                Cell::Date(r.visit_date),
                Cell::Text(rep_name(data, &r.rep_id)),
                Cell::Text(r.name),
                Cell::Text(r.company),
                Cell::Text(r.contact),
                Cell::Text(r.note),
            ]
        })
        .collect();
    Table { headers, rows }
}

/// An export file: bytes, content type and the file name to offer.
#[derive(Clone, Debug)]
pub struct ExportFile {
    /// The file.
    pub bytes: Vec<u8>,
    /// Its HTTP content type.
    pub content_type: &'static str,
    /// The download name, e.g. `visits.xlsx`.
    pub filename: String,
}

/// Builds an export file.
pub fn export(
    data: &ProgrammeData,
    kind: ExportKind,
    format: ExportFormat,
    today: &str,
) -> Result<ExportFile, SheetError> {
    let (table, base, sheet) = match kind {
        ExportKind::Visits => (visits_table(data), "visits", "Визиты"),
        ExportKind::FollowUps => (follow_ups_table(data, today), "follow-ups", "Задачи"),
        ExportKind::Referrals => (referrals_table(data), "referrals", "Рекомендации"),
    };
    let (bytes, ext) = match format {
        ExportFormat::Csv => (write_csv(&table), "csv"),
        ExportFormat::Xlsx => (write_xlsx(&table, sheet)?, "xlsx"),
    };
    Ok(ExportFile {
        bytes,
        content_type: format.content_type(),
        filename: format!("{base}.{ext}"),
    })
}
