//! Text answers merge by character (Cyrillic, emoji), whole-value edits become splices.

use rapport_domain::template::{add_question, read_template};
use rapport_domain::visit::{read_visit, set_text_answer};
use rapport_domain::{
    AnswerValue, Localized, Question, QuestionKind, Section, answer_conflicts, conflicted_answers,
};

use crate::common::{T0, actor, programme_doc, visit_doc};

fn text_of(doc: &automerge::Automerge, qid: &str) -> String {
    match read_visit(doc).unwrap().answers.get(qid) {
        Some(AnswerValue::Text(s)) => s.clone(),
        other => panic!("expected a text answer, got {other:?}"),
    }
}

#[test]
fn concurrent_edits_at_both_ends_of_a_cyrillic_answer_merge_by_character() {
    let template = read_template(&programme_doc()).unwrap();
    let q = "carnegie.proud_of";
    let mut base = visit_doc(&template, 1);
    set_text_answer(&mut base, &template, q, "Мы гордимся клиентами", T0 + 1).unwrap();

    let mut a = base.fork().with_actor(actor(3));
    let mut b = base.fork().with_actor(actor(4));
    set_text_answer(&mut a, &template, q, "Да, мы гордимся клиентами", T0 + 2).unwrap();
    set_text_answer(
        &mut b,
        &template,
        q,
        "Мы гордимся клиентами и командой",
        T0 + 3,
    )
    .unwrap();
    assert_eq!(text_of(&a, q), "Да, мы гордимся клиентами");

    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    assert_eq!(text_of(&a, q), "Да, мы гордимся клиентами и командой");
    assert_eq!(text_of(&a, q), text_of(&b, q));
    assert!(
        conflicted_answers(&a).unwrap().is_empty(),
        "one text object, no conflict"
    );
}

#[test]
fn emoji_and_multibyte_text_survive_concurrent_edits_in_the_middle() {
    let template = read_template(&programme_doc()).unwrap();
    let q = "cooperation.improve";
    let mut base = visit_doc(&template, 1);
    set_text_answer(&mut base, &template, q, "Müller 🚀 Связь", T0 + 1).unwrap();

    let mut a = base.fork().with_actor(actor(3));
    let mut b = base.fork().with_actor(actor(4));
    // a inserts after the emoji, b appends after the Cyrillic word.
    set_text_answer(&mut a, &template, q, "Müller 🚀👍 Связь", T0 + 2).unwrap();
    set_text_answer(&mut b, &template, q, "Müller-Schmidt 🚀 Связь есть", T0 + 3).unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(text_of(&a, q), "Müller-Schmidt 🚀👍 Связь есть");
}

#[test]
fn a_whole_value_edit_is_applied_as_splices_so_a_concurrent_insert_survives() {
    let template = read_template(&programme_doc()).unwrap();
    let q = "carnegie.plans";
    let mut base = visit_doc(&template, 1);
    set_text_answer(&mut base, &template, q, "Рост в регионах", T0 + 1).unwrap();
    let mut a = base.fork().with_actor(actor(3));
    let mut b = base.fork().with_actor(actor(4));
    // a replaces a word (whole new value given), b inserts elsewhere concurrently.
    set_text_answer(&mut a, &template, q, "Рост в столице", T0 + 2).unwrap();
    assert_eq!(text_of(&a, q), "Рост в столице");
    set_text_answer(&mut b, &template, q, "Быстрый Рост в регионах", T0 + 3).unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(text_of(&a, q), "Быстрый Рост в столице");
    // The edit was small: the change holds a few ops, not the whole text rewritten.
    let last = a.get_last_local_change().unwrap();
    assert!(
        last.len() < "Рост в столице".chars().count(),
        "ops: {}",
        last.len()
    );
}

#[test]
fn two_text_objects_created_concurrently_are_a_conflict_showing_both_texts() {
    let mut programme = programme_doc();
    let old = read_template(&programme).unwrap();
    let visit = visit_doc(&old, 1);
    // A question added after the visit was created: no Text object yet.
    add_question(
        &mut programme,
        Question {
            id: "carnegie.values".to_owned(),
            section: Section::Carnegie,
            kind: QuestionKind::Text,
            required: false,
            wording: Localized::new("Ценности?", "Values?"),
            position: 0.0,
            retired: false,
        },
        None,
        T0 + 1,
    )
    .unwrap();
    let template = read_template(&programme).unwrap();
    let mut a = visit.fork().with_actor(actor(3));
    let mut b = visit.fork().with_actor(actor(4));
    set_text_answer(&mut a, &template, "carnegie.values", "Честность", T0 + 2).unwrap();
    set_text_answer(
        &mut b,
        &template,
        "carnegie.values",
        "Открытость 🤝",
        T0 + 3,
    )
    .unwrap();
    a.merge(&mut b).unwrap();

    assert_eq!(
        conflicted_answers(&a).unwrap(),
        vec!["carnegie.values".to_owned()]
    );
    let values = answer_conflicts(&a, "carnegie.values").unwrap();
    let mut seen: Vec<(String, AnswerValue)> =
        values.into_iter().map(|v| (v.actor, v.value)).collect();
    seen.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        seen,
        vec![
            (
                actor(3).to_hex_string(),
                AnswerValue::Text("Честность".to_owned())
            ),
            (
                actor(4).to_hex_string(),
                AnswerValue::Text("Открытость 🤝".to_owned())
            ),
        ]
    );
}

/// Answers read in the person's language: yes/no, choices by label, dates, quality checks.
#[test]
fn answers_read_in_russian_and_english_by_their_question_kind() {
    use rapport_domain::visit::QualityAnswer;
    use rapport_domain::{ChoiceOption, Lang};

    let yes_no = QuestionKind::YesNo;
    assert_eq!(AnswerValue::Bool(true).render_for(&yes_no, Lang::Ru), "да");
    assert_eq!(
        AnswerValue::Bool(false).render_for(&yes_no, Lang::Ru),
        "нет"
    );
    assert_eq!(AnswerValue::Bool(true).render_for(&yes_no, Lang::En), "yes");

    let choice = QuestionKind::Choice {
        options: vec![ChoiceOption {
            id: "monthly".into(),
            label: Localized::new("Ежемесячно", "Monthly"),
        }],
    };
    let picked = AnswerValue::Str("monthly".into());
    assert_eq!(picked.render_for(&choice, Lang::Ru), "Ежемесячно");
    assert_eq!(picked.render_for(&choice, Lang::En), "Monthly");
    // An option the template no longer has reads as stored.
    let gone = AnswerValue::Str("weekly".into());
    assert_eq!(gone.render_for(&choice, Lang::Ru), "weekly");

    let date = AnswerValue::Str("2026-11-27".into());
    assert_eq!(date.render_for(&QuestionKind::Date, Lang::Ru), "27.11.2026");
    assert_eq!(date.render_for(&QuestionKind::Date, Lang::En), "2026-11-27");

    let quality = AnswerValue::Quality(QualityAnswer {
        target: 100.0,
        actual: 95.0,
        outage_last_month: false,
        note: "замер утром".into(),
        at_most: false,
    });
    let ru = quality.render_for(&yes_no, Lang::Ru);
    assert_eq!(
        ru,
        "цель 100 · измерено 95 · перебой за последний месяц: нет · замер утром"
    );
    assert!(!ru.contains("false"), "{ru}");

    let text = AnswerValue::Text("Клиент доволен 🚀".into());
    assert_eq!(
        text.render_for(&QuestionKind::Text, Lang::Ru),
        "Клиент доволен 🚀"
    );
}
