//! Exports for the lead: every list the lead's pages show — clients, visits, follow-ups,
//! referrals, opportunities — as CSV or XLSX. The tables are pure functions of
//! [`ProgrammeData`]; only [`export`] writes bytes.

use rapport_domain::{
    AnswerValue, FollowUpState, Lang, OpportunityKind, QuestionKind, ReviewRound, ReviewState,
    Segment, VisitState,
};
use rapport_sheets::{Cell, SheetError, Table, write_csv, write_xlsx};

use crate::programmes::ProgrammeData;

/// What can be exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// One row per client: segment, reps, relationship, the latest visit.
    Clients,
    /// One row per visit with every answer.
    Visits,
    /// One row per follow-up.
    FollowUps,
    /// One row per referral.
    Referrals,
    /// One row per opportunity.
    Opportunities,
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
        "clients" => ExportKind::Clients,
        "visits" => ExportKind::Visits,
        "follow-ups" => ExportKind::FollowUps,
        "referrals" => ExportKind::Referrals,
        "opportunities" => ExportKind::Opportunities,
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

fn review_ru(s: ReviewState) -> &'static str {
    match s {
        ReviewState::Draft => "не завершён",
        ReviewState::AwaitingReview => "ждёт проверки",
        ReviewState::Returned => "на доработке",
        ReviewState::Accepted => "принят",
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
        (QuestionKind::Date, Some(AnswerValue::Str(d))) => Cell::Date(d.clone()),
        (_, Some(AnswerValue::Bool(b))) => Cell::Bool(*b),
        (_, Some(AnswerValue::Number(n))) => Cell::Number(*n),
        (kind, Some(a)) => Cell::Text(a.render_for(kind, Lang::Ru)),
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
    let mut headers: Vec<String> = [
        "Клиент",
        "Дата встречи",
        "Менеджер",
        "Состояние",
        "Проверка",
        "Замечания руководителя",
    ]
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
                Cell::Text(review_ru(v.review_state()).to_owned()),
                v.current_review()
                    .map(|r| review_comments(&data.programme.template, r))
                    .filter(|text| !text.is_empty())
                    .map_or(Cell::Empty, Cell::Text),
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

/// A round's comments in one cell: the comment on the visit, then each answer's under
/// its question's wording.
fn review_comments(template: &rapport_domain::Template, round: &ReviewRound) -> String {
    let mut lines: Vec<String> = Vec::new();
    if !round.comment.is_empty() {
        lines.push(round.comment.clone());
    }
    for (qid, comment) in &round.answer_comments {
        let wording = template
            .question(qid)
            .map_or_else(|| qid.clone(), |q| q.wording.ru.clone());
        lines.push(format!("{wording}: {comment}"));
    }
    lines.join("\n")
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

/// One row per client, by company: segment, current and original rep, the original
/// rep's relationship, contacts still there, the latest visit and its state.
pub fn clients_table(data: &ProgrammeData) -> Table {
    let headers = [
        "Клиент",
        "Сегмент",
        "Менеджер",
        "Исходный менеджер",
        "Отношения",
        "Монополизирован",
        "Контактов",
        "Последний визит",
        "Состояние визита",
        "Проверка",
        "Встреча запланирована",
    ]
    .map(str::to_owned)
    .to_vec();
    let rows = crate::results::clients(data)
        .into_iter()
        .map(|c| {
            let assignment = data.programme.assignments.get(&c.id);
            let optional = |text: Option<String>| text.map_or(Cell::Empty, Cell::Text);
            vec![
                Cell::Text(c.company),
                Cell::Text(
                    match c.segment {
                        Segment::Corporate => "корпоративный",
                        Segment::KeyPrivate => "ключевой частный",
                    }
                    .to_owned(),
                ),
                optional(c.current_rep_name),
                optional(c.original_rep.map(|r| rep_name(data, &r))),
                optional(assignment.map(|a| a.strength.text(Lang::Ru).to_owned())),
                assignment.map_or(Cell::Empty, |a| Cell::Bool(a.monopolised)),
                Cell::Number(c.contacts as f64),
                c.last_visit_date.map_or(Cell::Empty, Cell::Date),
                c.last_visit_state
                    .map_or(Cell::Text("не посещён".to_owned()), |s| {
                        Cell::Text(state_ru(s).to_owned())
                    }),
                c.last_visit_review
                    .map_or(Cell::Empty, |s| Cell::Text(review_ru(s).to_owned())),
                c.next_meeting
                    .map_or(Cell::Empty, |at| Cell::Text(at.replacen('T', " ", 1))),
            ]
        })
        .collect();
    Table { headers, rows }
}

/// One row per opportunity, by visit date then client.
pub fn opportunities_table(data: &ProgrammeData) -> Table {
    let headers = [
        "Клиент",
        "Дата встречи",
        "Менеджер",
        "Вид",
        "Описание",
        "Продукт",
        "Оценка",
        "Валюта",
    ]
    .map(str::to_owned)
    .to_vec();
    let rows = crate::results::opportunities(data)
        .into_iter()
        .map(|o| {
            vec![
                Cell::Text(o.client_company),
                Cell::Date(o.visit_date),
                Cell::Text(rep_name(data, &o.rep_id)),
                Cell::Text(
                    match o.kind {
                        OpportunityKind::Growth => "рост объёма",
                        OpportunityKind::CrossSell => "новый продукт",
                    }
                    .to_owned(),
                ),
                Cell::Text(o.description),
                Cell::Text(o.product),
                Cell::Number(o.value),
                Cell::Text(o.currency),
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
        ExportKind::Clients => (clients_table(data), "clients", "Клиенты"),
        ExportKind::Visits => (visits_table(data), "visits", "Визиты"),
        ExportKind::FollowUps => (follow_ups_table(data, today), "follow-ups", "Задачи"),
        ExportKind::Referrals => (referrals_table(data), "referrals", "Рекомендации"),
        ExportKind::Opportunities => (
            opportunities_table(data),
            "opportunities",
            "Возможности продаж",
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_domain::client::{new_client, read_client};
    use rapport_domain::programme::{new_programme, put_rep, read_programme};
    use rapport_domain::visit::{
        OpportunityInput, ReferralInput, add_follow_up, new_visit, put_opportunity, put_referral,
        read_visit, set_scalar_answer, set_text_answer,
    };
    use rapport_domain::{
        Capacity, DocId, Lead, Period, ProgrammeInit, ScalarAnswer, Segment, VisitInit,
        default_template,
    };

    fn data() -> ProgrammeData {
        let actor = automerge::ActorId::random;
        let pid = DocId::random();
        let init = ProgrammeInit {
            id: pid,
            name: "VIP-программа".into(),
            period: Period {
                start: "2027-01-01".into(),
                end: "2027-12-31".into(),
            },
            lead: Lead {
                name: "Ольга".into(),
                email: "olga@example.ru".into(),
            },
        };
        let mut p = new_programme(actor(), &init, &default_template(), 1).expect("programme");
        put_rep(
            &mut p,
            "rep-1",
            "Мария 🌟",
            "",
            Capacity::Dedicated,
            true,
            2,
        )
        .expect("rep");
        let programme = read_programme(&p).expect("read");
        let cid = DocId::random();
        let client =
            new_client(actor(), cid, "ООО «Ромашка»", Segment::Corporate, None, 3).expect("client");
        let t = &programme.template;
        let mut visits = Vec::new();
        for date in ["2027-03-02", "2027-02-01"] {
            let vinit = VisitInit {
                id: DocId::random(),
                programme_id: pid,
                client_id: cid,
                date: date.into(),
                rep_id: "rep-1".into(),
            };
            let mut v = new_visit(actor(), &vinit, t, 4).expect("visit");
            set_text_answer(&mut v, t, "carnegie.proud_of", "Новым цехом 🏭", 5).expect("text");
            set_scalar_answer(
                &mut v,
                t,
                "cooperation.satisfaction",
                &ScalarAnswer::Choice("satisfied".into()),
                6,
            )
            .expect("choice");
            set_scalar_answer(
                &mut v,
                t,
                "cooperation.support_contact",
                &ScalarAnswer::YesNo(true),
                7,
            )
            .expect("yes/no");
            add_follow_up(&mut v, None, "Позвонить", "rep-1", Some("2027-01-15"), 8)
                .expect("follow-up");
            put_referral(
                &mut v,
                None,
                &ReferralInput {
                    name: format!("Сергей {date}"),
                    ..ReferralInput::default()
                },
                9,
            )
            .expect("referral");
            put_opportunity(
                &mut v,
                None,
                &OpportunityInput {
                    kind: OpportunityKind::CrossSell,
                    description: format!("Видеонаблюдение для склада {date}"),
                    product: "Облачное видео".into(),
                    estimated_value: 1_200_000.0,
                    currency: "RUB".into(),
                },
                10,
            )
            .expect("opportunity");
            visits.push(read_visit(&v).expect("read visit"));
        }
        ProgrammeData {
            programme,
            clients: vec![read_client(&client).expect("read client")],
            visits,
        }
    }

    fn column(table: &Table, header: &str) -> usize {
        table
            .headers
            .iter()
            .position(|h| h == header)
            .unwrap_or_else(|| panic!("no column {header:?} in {:?}", table.headers))
    }

    #[test]
    fn visits_table_has_a_row_per_visit_by_date_with_answers_under_their_questions() {
        let d = data();
        let t = visits_table(&d);
        assert_eq!(
            t.headers[..6],
            [
                "Клиент",
                "Дата встречи",
                "Менеджер",
                "Состояние",
                "Проверка",
                "Замечания руководителя"
            ]
        );
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            t.rows[0][1],
            Cell::Date("2027-02-01".into()),
            "oldest first"
        );
        assert_eq!(t.rows[0][0], Cell::Text("ООО «Ромашка»".into()));
        assert_eq!(t.rows[0][2], Cell::Text("Мария 🌟".into()), "rep by name");
        assert_eq!(t.rows[0][3], Cell::Text("черновик".into()));
        let proud = d
            .programme
            .template
            .question("carnegie.proud_of")
            .map(|q| q.wording.ru.clone())
            .expect("question");
        assert_eq!(
            t.rows[1][column(&t, &proud)],
            Cell::Text("Новым цехом 🏭".into())
        );
        let sat = column(&t, "Насколько вы довольны нашим сотрудничеством?");
        assert_eq!(
            t.rows[1][sat],
            Cell::Text("Скорее довольны".into()),
            "choice as its label"
        );
        let support = column(&t, "Знаете ли вы, к кому обращаться в службу поддержки?");
        assert_eq!(t.rows[1][support], Cell::Bool(true));
        assert!(
            t.rows.iter().all(|r| r.len() == t.headers.len()),
            "every row fills every column"
        );
    }

    #[test]
    fn follow_ups_and_referrals_tables_flag_overdue_and_keep_cyrillic() {
        let d = data();
        let f = follow_ups_table(&d, "2027-06-01");
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[0][1], Cell::Text("Позвонить".into()));
        assert_eq!(f.rows[0][5], Cell::Bool(true), "due before today, not done");
        let f = follow_ups_table(&d, "2027-01-01");
        assert_eq!(f.rows[0][5], Cell::Bool(false));
        let r = referrals_table(&d);
        assert_eq!(r.rows[0][3], Cell::Text("Сергей 2027-02-01".into()));
    }

    #[test]
    fn clients_and_opportunities_tables_read_as_the_lead_sees_them() {
        let d = data();
        let c = clients_table(&d);
        assert_eq!(c.rows.len(), 1);
        let row = &c.rows[0];
        assert!(row.len() == c.headers.len(), "every column filled");
        assert_eq!(
            row[column(&c, "Клиент")],
            Cell::Text("ООО «Ромашка»".into())
        );
        assert_eq!(
            row[column(&c, "Сегмент")],
            Cell::Text("корпоративный".into())
        );
        assert_eq!(row[column(&c, "Менеджер")], Cell::Empty, "not assigned yet");
        assert_eq!(
            row[column(&c, "Последний визит")],
            Cell::Date("2027-03-02".into()),
            "the latest visit"
        );
        assert_eq!(
            row[column(&c, "Состояние визита")],
            Cell::Text("черновик".into())
        );

        let o = opportunities_table(&d);
        assert_eq!(o.rows.len(), 2);
        let first = &o.rows[0];
        assert_eq!(
            first[column(&o, "Дата встречи")],
            Cell::Date("2027-02-01".into())
        );
        assert_eq!(first[column(&o, "Менеджер")], Cell::Text("Мария 🌟".into()));
        assert_eq!(first[column(&o, "Вид")], Cell::Text("новый продукт".into()));
        assert_eq!(
            first[column(&o, "Описание")],
            Cell::Text("Видеонаблюдение для склада 2027-02-01".into())
        );
        assert_eq!(first[column(&o, "Оценка")], Cell::Number(1_200_000.0));

        for (name, kind) in [
            ("clients.csv", ExportKind::Clients),
            ("opportunities.xlsx", ExportKind::Opportunities),
        ] {
            let (k, format) = parse_file(name).expect("a known file");
            assert_eq!(k, kind);
            let file = export(&d, k, format, "2027-06-01").expect("written");
            assert_eq!(file.filename, name);
        }
        let csv = export(&d, ExportKind::Clients, ExportFormat::Csv, "2027-06-01").expect("csv");
        let text = String::from_utf8(csv.bytes).expect("utf-8");
        assert!(
            text.contains("ООО «Ромашка»") && text.contains("корпоративный"),
            "{text}"
        );
    }

    #[test]
    fn file_names_choose_kind_and_format() {
        assert_eq!(
            parse_file("visits.csv"),
            Some((ExportKind::Visits, ExportFormat::Csv))
        );
        assert_eq!(
            parse_file("follow-ups.XLSX"),
            Some((ExportKind::FollowUps, ExportFormat::Xlsx))
        );
        assert_eq!(parse_file("визиты.csv"), None);
        assert_eq!(parse_file("visits"), None);
        let d = data();
        let file =
            export(&d, ExportKind::Referrals, ExportFormat::Xlsx, "2027-06-01").expect("xlsx");
        assert!(file.bytes.starts_with(b"PK"), "a zip: an XLSX workbook");
        assert_eq!(file.filename, "referrals.xlsx");
        let csv = export(&d, ExportKind::Visits, ExportFormat::Csv, "2027-06-01").expect("csv");
        let text = String::from_utf8(csv.bytes).expect("utf-8");
        assert!(text.contains("Новым цехом 🏭"));
    }
}
