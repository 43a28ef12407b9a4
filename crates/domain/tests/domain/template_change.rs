//! A template changed mid-programme keeps every answer under its question.

use rapport_domain::template::{
    add_question, move_question, read_template, retire_question, reword_question,
};
use rapport_domain::visit::{read_visit, record_quality_check, set_scalar_answer, set_text_answer};
use rapport_domain::{
    AnswerValue, Lang, Localized, QualityAnswer, Question, QuestionKind, ScalarAnswer, Section,
};

use crate::common::{T0, programme_doc, visit_doc};

#[test]
fn answers_stay_with_their_questions_when_the_template_changes() {
    let mut programme = programme_doc();
    let before = read_template(&programme).unwrap();
    let mut visit = visit_doc(&before, 1);
    set_text_answer(
        &mut visit,
        &before,
        "carnegie.proud_of",
        "Гордимся командой 🚀",
        T0 + 1,
    )
    .unwrap();
    set_text_answer(
        &mut visit,
        &before,
        "carnegie.plans",
        "Открыть филиал в Казани",
        T0 + 2,
    )
    .unwrap();
    set_scalar_answer(
        &mut visit,
        &before,
        "expansion.more_volume",
        &ScalarAnswer::YesNo(true),
        T0 + 3,
    )
    .unwrap();
    set_scalar_answer(
        &mut visit,
        &before,
        "expansion.new_offices",
        &ScalarAnswer::Number(3.0),
        T0 + 4,
    )
    .unwrap();
    record_quality_check(
        &mut visit,
        &before,
        "quality.speed",
        &QualityAnswer {
            target: 100.0,
            actual: 100.0,
            outage_last_month: false,
            note: String::new(),
            at_most: false,
        },
        T0 + 5,
    )
    .unwrap();
    let answers_before = read_visit(&visit).unwrap().answers;

    // The lead changes the template: add, reword, reorder, retire.
    add_question(
        &mut programme,
        Question {
            id: "carnegie.values".to_owned(),
            section: Section::Carnegie,
            kind: QuestionKind::Text,
            required: false,
            wording: Localized::new(
                "Какие ценности объединяют вашу команду?",
                "Which values unite your team?",
            ),
            position: 0.0,
            retired: false,
        },
        None,
        T0 + 10,
    )
    .unwrap();
    reword_question(
        &mut programme,
        "carnegie.proud_of",
        Localized::new(
            "Чем вы гордитесь больше всего?",
            "What are you most proud of?",
        ),
        T0 + 11,
    )
    .unwrap();
    move_question(&mut programme, "carnegie.plans", None, T0 + 12).unwrap();
    retire_question(&mut programme, "expansion.more_volume", T0 + 13).unwrap();
    let after = read_template(&programme).unwrap();

    // The visit document is untouched by the template; read it against the new template.
    let answers_after = read_visit(&visit).unwrap().answers;
    assert_eq!(answers_before, answers_after);

    // Shown under the right (reworded) question.
    let proud = after.question("carnegie.proud_of").unwrap();
    assert_eq!(
        proud.wording.get(Lang::Ru),
        "Чем вы гордитесь больше всего?"
    );
    assert_eq!(
        answers_after.get("carnegie.proud_of"),
        Some(&AnswerValue::Text("Гордимся командой 🚀".to_owned()))
    );
    // Reordered: "plans" is now first among the active Carnegie questions, the new one follows the order.
    let carnegie: Vec<&str> = after
        .active()
        .into_iter()
        .filter(|q| q.section == Section::Carnegie)
        .map(|q| q.id.as_str())
        .collect();
    assert_eq!(carnegie.first(), Some(&"carnegie.plans"));
    assert!(carnegie.contains(&"carnegie.values"));
    assert_eq!(
        answers_after.get("carnegie.plans"),
        Some(&AnswerValue::Text("Открыть филиал в Казани".to_owned()))
    );
    // Retired: no longer asked, but its answer is still readable.
    assert!(after.question("expansion.more_volume").unwrap().retired);
    assert!(
        !after
            .active()
            .iter()
            .any(|q| q.id == "expansion.more_volume")
    );
    assert_eq!(
        answers_after.get("expansion.more_volume"),
        Some(&AnswerValue::Bool(true))
    );
    // The question added later can be answered (its Text object is created then).
    set_text_answer(&mut visit, &after, "carnegie.values", "Честность", T0 + 20).unwrap();
    let v = read_visit(&visit).unwrap();
    assert_eq!(
        v.answers.get("carnegie.values"),
        Some(&AnswerValue::Text("Честность".to_owned()))
    );
    assert_eq!(
        v.answers.get("expansion.new_offices"),
        Some(&AnswerValue::Number(3.0))
    );
    // Every question keeps its position count: nothing was deleted.
    assert_eq!(after.questions.len(), before.questions.len() + 1);
}

#[test]
fn moving_a_question_between_two_others_changes_only_its_position() {
    let mut programme = programme_doc();
    move_question(
        &mut programme,
        "carnegie.challenges",
        Some("carnegie.proud_of"),
        T0 + 1,
    )
    .unwrap();
    let t = read_template(&programme).unwrap();
    let order: Vec<&str> = t
        .active()
        .into_iter()
        .filter(|q| q.section == Section::Carnegie)
        .map(|q| q.id.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "carnegie.proud_of",
            "carnegie.challenges",
            "carnegie.success_story",
            "carnegie.market_position",
            "carnegie.plans"
        ]
    );
}

#[test]
fn active_ids_follow_the_form_order_and_leave_retired_questions_out() {
    let mut programme = programme_doc();
    move_question(&mut programme, "carnegie.plans", None, T0 + 1).unwrap();
    retire_question(&mut programme, "carnegie.proud_of", T0 + 2).unwrap();
    let template = read_template(&programme).unwrap();
    let texts = template.active_ids(|k| *k == QuestionKind::Text);
    let expected: Vec<String> = template
        .active()
        .into_iter()
        .filter(|q| q.kind == QuestionKind::Text)
        .map(|q| q.id.clone())
        .collect();
    assert_eq!(texts, expected);
    assert!(
        !texts.iter().any(|id| id == "carnegie.proud_of"),
        "retired: {texts:?}"
    );
    let plans = texts.iter().position(|id| id == "carnegie.plans").unwrap();
    let story = texts
        .iter()
        .position(|id| id == "carnegie.success_story")
        .unwrap();
    assert!(plans < story, "moved first in its section: {texts:?}");
    assert!(template.active_ids(|_| false).is_empty());
}
