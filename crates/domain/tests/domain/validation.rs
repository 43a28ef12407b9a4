//! Bad edits are refused with a typed error and write nothing; quality checks;
//! completion rules.

use automerge::Automerge;
use rapport_domain::programme::put_rep;
use rapport_domain::template::read_template;
use rapport_domain::visit::{
    OpportunityInput, ReferralInput, complete_visit, put_contact_update, put_opportunity,
    put_referral, quality_follow_up_id, read_visit, record_quality_check, set_scalar_answer,
    set_text_answer, update_follow_up,
};
use rapport_domain::{
    Capacity, ContactInput, DomainError, FollowUpState, OpportunityKind, QualityAnswer,
    ScalarAnswer, Template, VisitState, validate_visit_completion,
};
use rstest::rstest;

use crate::common::{T0, programme_doc, visit_doc};

fn template() -> Template {
    read_template(&programme_doc()).unwrap()
}

fn opportunity(value: f64) -> OpportunityInput {
    OpportunityInput {
        kind: OpportunityKind::Growth,
        description: "Второй канал связи".to_owned(),
        product: "L2 VPN".to_owned(),
        estimated_value: value,
        currency: "RUB".to_owned(),
    }
}

#[rstest]
#[case::number_to_yes_no("number to a yes/no question", "wrong_answer_kind")]
#[case::yes_no_to_text("yes/no to a text question", "wrong_answer_kind")]
#[case::text_to_number("text to a number question", "wrong_answer_kind")]
#[case::unknown_question("unknown question", "unknown_question")]
#[case::unknown_option("unknown choice option", "unknown_option")]
#[case::bad_date("31 February", "invalid_date")]
#[case::nan("NaN number", "not_finite")]
#[case::negative_value("negative estimated value", "negative_value")]
#[case::empty_referral("empty referral name", "empty_required_field")]
#[case::empty_contact("blank contact name", "empty_required_field")]
#[case::missing_follow_up("unknown follow-up", "not_found")]
#[case::missing_opportunity("update of an unknown opportunity", "not_found")]
#[case::quality_on_text("quality check on a text question", "wrong_answer_kind")]
fn a_bad_edit_is_refused_and_writes_nothing(#[case] edit: &str, #[case] code: &str) {
    let t = template();
    let mut doc: Automerge = visit_doc(&t, 1);
    let heads = doc.get_heads();
    let quality = QualityAnswer {
        target: 100.0,
        actual: 50.0,
        outage_last_month: false,
        note: String::new(),
        at_most: false,
    };
    let result: Result<(), DomainError> = match edit {
        "number to a yes/no question" => set_scalar_answer(
            &mut doc,
            &t,
            "expansion.more_volume",
            &ScalarAnswer::Number(1.0),
            T0,
        ),
        "yes/no to a text question" => set_scalar_answer(
            &mut doc,
            &t,
            "carnegie.proud_of",
            &ScalarAnswer::YesNo(true),
            T0,
        ),
        "text to a number question" => {
            set_text_answer(&mut doc, &t, "expansion.new_offices", "три", T0)
        }
        "unknown question" => set_text_answer(&mut doc, &t, "carnegie.nope", "Текст", T0),
        "unknown choice option" => set_scalar_answer(
            &mut doc,
            &t,
            "cooperation.satisfaction",
            &ScalarAnswer::Choice("ecstatic".to_owned()),
            T0,
        ),
        "31 February" => set_scalar_answer(
            &mut doc,
            &t,
            "quality.last_incident",
            &ScalarAnswer::Date("2026-02-31".to_owned()),
            T0,
        ),
        "NaN number" => set_scalar_answer(
            &mut doc,
            &t,
            "expansion.new_offices",
            &ScalarAnswer::Number(f64::NAN),
            T0,
        ),
        "negative estimated value" => {
            put_opportunity(&mut doc, None, &opportunity(-5.0), T0).map(drop)
        }
        "empty referral name" => put_referral(
            &mut doc,
            None,
            &ReferralInput {
                company: "ООО Ромашка".to_owned(),
                ..Default::default()
            },
            T0,
        )
        .map(drop),
        "blank contact name" => put_contact_update(
            &mut doc,
            None,
            &ContactInput {
                name: "  ".to_owned(),
                ..Default::default()
            },
            T0,
        )
        .map(drop),
        "unknown follow-up" => {
            update_follow_up(&mut doc, "nope", Some(FollowUpState::Done), None, None, T0)
        }
        "update of an unknown opportunity" => {
            put_opportunity(&mut doc, Some("nope"), &opportunity(5.0), T0).map(drop)
        }
        "quality check on a text question" => {
            record_quality_check(&mut doc, &t, "carnegie.plans", &quality, T0).map(drop)
        }
        other => panic!("no such case {other}"),
    };
    let err = result.expect_err(edit);
    assert_eq!(err.code(), code, "{edit}: {err}");
    assert!(!err.to_string().is_empty());
    assert_eq!(doc.get_heads(), heads, "{edit} wrote something");
}

#[rstest]
#[case(Capacity::Share { percent: 0 })]
#[case(Capacity::Share { percent: 101 })]
fn a_share_outside_1_to_100_percent_is_refused(#[case] capacity: Capacity) {
    let mut doc = programme_doc();
    let heads = doc.get_heads();
    let err = put_rep(
        &mut doc,
        "petrov",
        "Пётр Петров",
        "p@example.ru",
        capacity,
        true,
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_share");
    assert_eq!(doc.get_heads(), heads);
}

#[test]
fn a_failing_quality_check_opens_one_follow_up_however_often_it_is_recorded() {
    let t = template();
    let mut doc = visit_doc(&t, 1);
    let ok = QualityAnswer {
        target: 100.0,
        actual: 100.0,
        outage_last_month: false,
        note: String::new(),
        at_most: false,
    };
    assert!(!record_quality_check(&mut doc, &t, "quality.speed", &ok, T0).unwrap());
    assert!(read_visit(&doc).unwrap().follow_ups.is_empty());

    let slow = QualityAnswer {
        target: 100.0,
        actual: 40.0,
        outage_last_month: false,
        note: "замер speedtest".to_owned(),
        at_most: false,
    };
    assert!(record_quality_check(&mut doc, &t, "quality.speed", &slow, T0 + 1).unwrap());
    let outage = QualityAnswer {
        outage_last_month: true,
        actual: 100.0,
        ..slow.clone()
    };
    assert!(record_quality_check(&mut doc, &t, "quality.speed", &outage, T0 + 2).unwrap());
    let v = read_visit(&doc).unwrap();
    assert_eq!(v.follow_ups.len(), 1);
    let f = &v.follow_ups[&quality_follow_up_id("quality.speed")];
    assert_eq!(f.state, FollowUpState::Open);
    assert_eq!(f.source_question_id.as_deref(), Some("quality.speed"));
    assert!(f.description.contains("Мбит/с"), "{}", f.description);
}

#[test]
fn completion_needs_the_required_answers_named_in_both_languages() {
    let t = template();
    let mut doc = visit_doc(&t, 1);
    let visit = read_visit(&doc).unwrap();
    let missing = validate_visit_completion(&visit, &t);
    let ids: Vec<&str> = missing.iter().map(|m| m.question_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "contacts.key_people",
            "carnegie.proud_of",
            "carnegie.plans",
            "cooperation.services_used",
            "cooperation.satisfaction",
            "quality.speed"
        ]
    );
    assert_eq!(
        missing[1].wording.ru,
        "Чем ваша компания гордится больше всего?"
    );
    assert_eq!(missing[1].wording.en, "What is your company most proud of?");

    let heads = doc.get_heads();
    let err = complete_visit(&mut doc, &t, T0).unwrap_err();
    assert_eq!(err.code(), "visit_incomplete");
    assert_eq!(doc.get_heads(), heads);

    put_contact_update(
        &mut doc,
        None,
        &ContactInput {
            name: "Анна Кузнецова".to_owned(),
            role: "Финансовый директор".to_owned(),
            ..Default::default()
        },
        T0,
    )
    .unwrap();
    // Whitespace is not an answer.
    set_text_answer(&mut doc, &t, "carnegie.proud_of", "   ", T0).unwrap();
    assert!(
        validate_visit_completion(&read_visit(&doc).unwrap(), &t)
            .iter()
            .any(|m| m.question_id == "carnegie.proud_of")
    );
    set_text_answer(&mut doc, &t, "carnegie.proud_of", "Надёжностью", T0).unwrap();
    set_text_answer(
        &mut doc,
        &t,
        "carnegie.plans",
        "Выход на рынок Казахстана",
        T0,
    )
    .unwrap();
    set_text_answer(
        &mut doc,
        &t,
        "cooperation.services_used",
        "Интернет, VPN",
        T0,
    )
    .unwrap();
    set_scalar_answer(
        &mut doc,
        &t,
        "cooperation.satisfaction",
        &ScalarAnswer::Choice("satisfied".to_owned()),
        T0,
    )
    .unwrap();
    record_quality_check(
        &mut doc,
        &t,
        "quality.speed",
        &QualityAnswer {
            target: 100.0,
            actual: 95.0,
            outage_last_month: false,
            note: String::new(),
            at_most: false,
        },
        T0,
    )
    .unwrap();
    complete_visit(&mut doc, &t, T0 + 100).unwrap();
    let v = read_visit(&doc).unwrap();
    assert_eq!(v.state, VisitState::Completed);
    assert_eq!(v.completed_ms, Some(T0 + 100));
    assert_eq!(v.edited_after_completion_ms, None);

    // Editing after completion keeps it completed and records the edit.
    set_text_answer(
        &mut doc,
        &t,
        "carnegie.plans",
        "Выход на рынки Казахстана и Узбекистана",
        T0 + 200,
    )
    .unwrap();
    let v = read_visit(&doc).unwrap();
    assert_eq!(v.state, VisitState::Completed);
    assert_eq!(v.edited_after_completion_ms, Some(T0 + 200));
}

#[test]
fn updating_entries_keeps_their_creation_time_and_marks_contacts_left() {
    let t = template();
    let mut doc = visit_doc(&t, 1);
    let o = put_opportunity(&mut doc, None, &opportunity(1_000.0), T0).unwrap();
    put_opportunity(&mut doc, Some(&o), &opportunity(2_500.0), T0 + 5).unwrap();
    let c = put_contact_update(
        &mut doc,
        None,
        &ContactInput {
            name: "Денис Попов".to_owned(),
            updates_contact_id: Some("k1".to_owned()),
            ..Default::default()
        },
        T0,
    )
    .unwrap();
    rapport_domain::visit::mark_contact_update_left(&mut doc, &c, T0 + 6).unwrap();
    let v = read_visit(&doc).unwrap();
    assert_eq!(
        (
            v.opportunities[&o].estimated_value,
            v.opportunities[&o].created_ms
        ),
        (2_500.0, T0)
    );
    assert_eq!(v.opportunities.len(), 1);
    assert!(v.contact_updates[&c].has_left);
    assert_eq!(
        v.contact_updates[&c].updates_contact_id.as_deref(),
        Some("k1")
    );
}

/// An "at most" target (a delivery time): more than it fails, the question decides
/// whatever the caller sends, and checks and templates from before the choice read as
/// "at least".
#[test]
fn a_quality_target_can_be_a_most_and_old_documents_read_as_a_least() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};
    use rapport_domain::template::add_question;
    use rapport_domain::{Localized, Question, QuestionKind, Section};

    let mut programme = programme_doc();
    add_question(
        &mut programme,
        Question {
            id: "quality.delivery".to_owned(),
            section: Section::Quality,
            kind: QuestionKind::QualityCheck {
                service: Localized::new("Доставка", "Delivery"),
                metric: Localized::new("Срок доставки", "Delivery time"),
                unit: "дн.".to_owned(),
                at_most: true,
            },
            required: false,
            wording: Localized::new("Сроки доставки соблюдаются?", "Delivery on time?"),
            position: 0.0,
            retired: false,
        },
        None,
        T0 + 1,
    )
    .unwrap();
    let t = read_template(&programme).unwrap();
    let mut doc = visit_doc(&t, 1);
    // The caller says "at least"; the question says "at most", and wins.
    let on_time = QualityAnswer {
        target: 2.0,
        actual: 1.5,
        outage_last_month: false,
        note: String::new(),
        at_most: false,
    };
    assert!(!record_quality_check(&mut doc, &t, "quality.delivery", &on_time, T0).unwrap());
    let late = QualityAnswer {
        actual: 3.0,
        ..on_time.clone()
    };
    assert!(record_quality_check(&mut doc, &t, "quality.delivery", &late, T0 + 1).unwrap());
    let v = read_visit(&doc).unwrap();
    let Some(rapport_domain::AnswerValue::Quality(stored)) = v.answers.get("quality.delivery")
    else {
        panic!("a quality answer: {:?}", v.answers);
    };
    assert!(stored.at_most && stored.fails(), "{stored:?}");
    let f = &v.follow_ups[&quality_follow_up_id("quality.delivery")];
    assert!(
        f.description.contains("не более 2 дн."),
        "{}",
        f.description
    );

    // A check recorded before targets could be a most: the key is absent.
    let answers = match doc.get(ROOT, "answers").unwrap() {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("answers: {other:?}"),
    };
    let answer = match doc.get(&answers, "quality.delivery").unwrap() {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("the answer: {other:?}"),
    };
    let mut tx = doc.transaction();
    tx.delete(&answer, "at_most").unwrap();
    tx.commit();
    let old = read_visit(&doc).unwrap();
    let Some(rapport_domain::AnswerValue::Quality(old)) = old.answers.get("quality.delivery")
    else {
        panic!("a quality answer");
    };
    assert!(!old.at_most, "read as at least");
    assert!(!old.fails(), "3 days against 2, read as at least, passes");

    // A template from before the choice: every quality question is "at least".
    let template = match programme.get(ROOT, "template").unwrap() {
        Some((_, id)) => id,
        None => panic!("a template"),
    };
    let questions = programme.get(&template, "questions").unwrap().unwrap().1;
    let question = programme
        .get(&questions, "quality.delivery")
        .unwrap()
        .unwrap()
        .1;
    let kind = programme.get(&question, "kind").unwrap().unwrap().1;
    // An enum's variant is stored as a map under the variant's name.
    let fields = programme.get(&kind, "quality_check").unwrap().unwrap().1;
    assert!(programme.get(&fields, "at_most").unwrap().is_some());
    let mut tx = programme.transaction();
    tx.delete(&fields, "at_most").unwrap();
    tx.commit();
    let t = read_template(&programme).unwrap();
    assert!(matches!(
        t.questions["quality.delivery"].kind,
        QuestionKind::QualityCheck { at_most: false, .. }
    ));
}
