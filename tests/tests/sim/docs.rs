//! What the reps and the lead type: Rapport's own documents (the programme with its
//! questionnaire, clients, visits) and edits of them with Russian text.

use automerge::{ActorId, Automerge};
use rapport_domain::client::{new_client, read_client, set_notes};
use rapport_domain::programme::{Lead, Period, ProgrammeInit, new_programme};
use rapport_domain::template::{add_question, reword_question};
use rapport_domain::visit::{AnswerValue, ScalarAnswer, VisitInit, new_visit, read_visit};
use rapport_domain::visit::{set_scalar_answer, set_text_answer};
use rapport_domain::{
    DocId, DomainError, Localized, Question, QuestionKind, Section, Segment, Template,
    default_template,
};

use rapport_tests::text::{SNIPPETS, splice};

use crate::sim::rng::Rng;

const COMPANIES: &[&str] = &[
    "ООО «Ромашка»",
    "АО «Вектор»",
    "ПАО «Северсталь-Трейд»",
    "ИП Кузнецова",
    "ЗАО «Байкал»",
];

/// One edit, drawn before the document is at hand (the draw never depends on it).
#[derive(Debug, Clone)]
pub enum Edit {
    /// Type into a text answer of a visit: delete `del` characters at `at` (wrapped to
    /// the text), insert a snippet.
    VisitText {
        /// Which text question.
        q: usize,
        /// Where.
        at: u64,
        /// How many characters go.
        del: u64,
        /// Which snippet comes in.
        ins: usize,
    },
    /// Answer a yes/no question of a visit.
    VisitYesNo {
        /// Which question.
        q: usize,
        /// The answer.
        value: bool,
    },
    /// Type into a client's relationship notes.
    Notes {
        /// Where.
        at: u64,
        /// How many characters go.
        del: u64,
        /// Which snippet comes in.
        ins: usize,
    },
    /// The lead rewords a question of the questionnaire.
    Reword {
        /// Which question.
        q: usize,
        /// Which snippet goes into the wording.
        ins: usize,
    },
    /// The lead adds a question.
    AddQuestion {
        /// Its number.
        n: u64,
    },
}

/// The questionnaire the simulation types against, and the programme it belongs to.
#[derive(Debug)]
pub struct Content {
    template: Template,
    text_q: Vec<String>,
    yes_no_q: Vec<String>,
    all_q: Vec<String>,
    /// The programme document.
    pub programme: DocId,
}

impl Content {
    /// The default questionnaire (VIP-анкета) of programme `programme`.
    pub fn new(programme: DocId) -> Self {
        let template = default_template();
        let text_q = template.active_ids(|k| matches!(k, QuestionKind::Text));
        let yes_no_q = template.active_ids(|k| matches!(k, QuestionKind::YesNo));
        let all_q = template.active_ids(|_| true);
        assert!(!text_q.is_empty() && !yes_no_q.is_empty());
        Self {
            template,
            text_q,
            yes_no_q,
            all_q,
            programme,
        }
    }

    /// An edit of a document of `kind` (the index's tag); `lead`: the lead may edit the
    /// programme too. `None` when nobody edits such a document.
    pub fn draw(&self, kind: &str, lead: bool, rng: &mut Rng) -> Option<Edit> {
        let text = |rng: &mut Rng| (rng.below(200), rng.below(4), rng.index(SNIPPETS.len()));
        Some(match kind {
            "visit" if rng.chance(700) => {
                let (at, del, ins) = text(rng);
                Edit::VisitText {
                    q: rng.index(self.text_q.len()),
                    at,
                    del,
                    ins,
                }
            }
            "visit" => Edit::VisitYesNo {
                q: rng.index(self.yes_no_q.len()),
                value: rng.chance(500),
            },
            "client" => {
                let (at, del, ins) = text(rng);
                Edit::Notes { at, del, ins }
            }
            "programme" if lead && rng.chance(800) => Edit::Reword {
                q: rng.index(self.all_q.len()),
                ins: rng.index(SNIPPETS.len()),
            },
            "programme" if lead => Edit::AddQuestion { n: rng.below(50) },
            _ => return None,
        })
    }

    /// Applies `edit` to `doc`.
    pub fn apply(&self, edit: &Edit, doc: &mut Automerge, now_ms: i64) -> Result<(), DomainError> {
        match edit {
            Edit::VisitText { q, at, del, ins } => {
                let qid = &self.text_q[*q];
                let current = match read_visit(doc)?.answers.get(qid) {
                    Some(AnswerValue::Text(s)) => s.clone(),
                    _ => String::new(),
                };
                let value = splice_short(&current, *at, *del, SNIPPETS[*ins]);
                set_text_answer(doc, &self.template, qid, &value, now_ms)
            }
            Edit::VisitYesNo { q, value } => set_scalar_answer(
                doc,
                &self.template,
                &self.yes_no_q[*q],
                &ScalarAnswer::YesNo(*value),
                now_ms,
            ),
            Edit::Notes { at, del, ins } => {
                let current = read_client(doc)?.notes;
                set_notes(
                    doc,
                    &splice_short(&current, *at, *del, SNIPPETS[*ins]),
                    now_ms,
                )
            }
            Edit::Reword { q, ins } => {
                let wording = Localized {
                    ru: format!("Вопрос: {}", SNIPPETS[*ins].trim_end())
                        .trim()
                        .to_owned(),
                    en: format!("Question {q}"),
                };
                reword_question(doc, &self.all_q[*q], wording, now_ms)
            }
            Edit::AddQuestion { n } => {
                let question = Question {
                    id: format!("sim.q{n}"),
                    section: Section::Carnegie,
                    kind: QuestionKind::Text,
                    required: false,
                    wording: Localized {
                        ru: format!("Что ещё важно клиенту? ({n})"),
                        en: format!("What else matters to the client? ({n})"),
                    },
                    position: 0.0,
                    retired: false,
                };
                add_question(doc, question, None, now_ms)
            }
        }
    }

    /// The programme document, made by the lead.
    pub fn programme_doc(&self, actor: ActorId, now_ms: i64) -> Automerge {
        let init = ProgrammeInit {
            id: self.programme,
            name: "VIP-программа 2026".into(),
            period: Period {
                start: "2026-01-01".into(),
                end: "2026-12-31".into(),
            },
            lead: Lead {
                name: "Ирина Петрова".into(),
                email: "lead@example.ru".into(),
            },
        };
        new_programme(actor, &init, &self.template, now_ms).expect("a valid programme")
    }

    /// Client number `n`.
    pub fn client_doc(&self, actor: ActorId, id: DocId, n: usize, now_ms: i64) -> Automerge {
        let company = format!("{} №{n}", COMPANIES[n % COMPANIES.len()]);
        new_client(
            actor,
            id,
            &company,
            Segment::Corporate,
            Some("rep-1"),
            now_ms,
        )
        .expect("a valid client")
    }

    /// A visit of `client` by `rep`.
    pub fn visit_doc(
        &self,
        actor: ActorId,
        id: DocId,
        client: DocId,
        rep: &str,
        now_ms: i64,
    ) -> Automerge {
        let init = VisitInit {
            id,
            programme_id: self.programme,
            client_id: client,
            date: "2026-11-27".into(),
            rep_id: rep.into(),
        };
        new_visit(actor, &init, &self.template, now_ms).expect("a valid visit")
    }
}

/// [`splice`], and long answers cut to their last 400 characters: they make every
/// later load slower and prove nothing more.
fn splice_short(current: &str, at: u64, del: u64, ins: &str) -> String {
    let text = splice(current, at, del, ins);
    let len = text.chars().count();
    text.chars().skip(len.saturating_sub(400)).collect()
}
