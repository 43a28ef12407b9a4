//! Concurrent scalar answers are all shown and can be resolved; answer history.

use rapport_domain::template::read_template;
use rapport_domain::visit::{read_visit, set_scalar_answer, set_text_answer};
use rapport_domain::{
    AnswerValue, ScalarAnswer, answer_conflicts, answer_history, conflicted_answers, resolve_answer,
};

use crate::common::{T0, actor, programme_doc, visit_doc};

#[test]
fn two_forks_answering_yes_and_no_show_both_values_with_their_authors_until_resolved() {
    let template = read_template(&programme_doc()).unwrap();
    let q = "cooperation.support_contact";
    let base = visit_doc(&template, 1);
    let mut a = base.fork().with_actor(actor(3));
    let mut b = base.fork().with_actor(actor(4));
    set_scalar_answer(&mut a, &template, q, &ScalarAnswer::YesNo(true), T0 + 1).unwrap();
    set_scalar_answer(&mut b, &template, q, &ScalarAnswer::YesNo(false), T0 + 2).unwrap();
    a.merge(&mut b).unwrap();

    assert_eq!(conflicted_answers(&a).unwrap(), vec![q.to_owned()]);
    let mut values: Vec<(String, AnswerValue)> = answer_conflicts(&a, q)
        .unwrap()
        .into_iter()
        .map(|v| (v.actor, v.value))
        .collect();
    values.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        values,
        vec![
            (actor(3).to_hex_string(), AnswerValue::Bool(true)),
            (actor(4).to_hex_string(), AnswerValue::Bool(false)),
        ]
    );

    // The lead picks "no" on a third device; after sync everyone sees one value.
    let mut lead = a.fork().with_actor(actor(9));
    resolve_answer(&mut lead, &template, q, &AnswerValue::Bool(false), T0 + 3).unwrap();
    a.merge(&mut lead).unwrap();
    assert!(conflicted_answers(&a).unwrap().is_empty());
    let left = answer_conflicts(&a, q).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].value, AnswerValue::Bool(false));
    // Automerge keeps the existing op when the chosen value equals it, so the
    // author shown is the one who first wrote "no", not the lead.
    assert!([actor(4).to_hex_string(), actor(9).to_hex_string()].contains(&left[0].actor));
    assert_eq!(
        read_visit(&a).unwrap().answers.get(q),
        Some(&AnswerValue::Bool(false))
    );
}

#[test]
fn resolving_a_text_conflict_keeps_the_chosen_text() {
    let template = read_template(&programme_doc()).unwrap();
    let q = "carnegie.proud_of";
    let base = visit_doc(&template, 1);
    let mut a = base.fork().with_actor(actor(3));
    let mut b = base.fork().with_actor(actor(4));
    // Both replace the whole (pre-created) text: one object, merged by character.
    set_text_answer(&mut a, &template, q, "Клиенты", T0 + 1).unwrap();
    set_text_answer(&mut b, &template, q, "Команда", T0 + 2).unwrap();
    a.merge(&mut b).unwrap();
    assert!(
        conflicted_answers(&a).unwrap().is_empty(),
        "one text object: merged, not conflicting"
    );
    resolve_answer(
        &mut a,
        &template,
        q,
        &AnswerValue::Text("Клиенты и команда".to_owned()),
        T0 + 3,
    )
    .unwrap();
    assert_eq!(
        read_visit(&a).unwrap().answers.get(q),
        Some(&AnswerValue::Text("Клиенты и команда".to_owned()))
    );
}

#[test]
fn history_lists_three_edits_by_two_actors_in_order_with_author_and_time() {
    let template = read_template(&programme_doc()).unwrap();
    let q = "carnegie.proud_of";
    let mut a = visit_doc(&template, 1).with_actor(actor(3));
    set_text_answer(&mut a, &template, q, "Клиенты", T0 + 1_000).unwrap();
    // An unrelated edit in between is not part of this answer's history.
    set_scalar_answer(
        &mut a,
        &template,
        "expansion.more_volume",
        &ScalarAnswer::YesNo(true),
        T0 + 1_500,
    )
    .unwrap();
    let mut b = a.fork().with_actor(actor(4));
    set_text_answer(&mut b, &template, q, "Клиенты и сотрудники", T0 + 2_000).unwrap();
    a.merge(&mut b).unwrap();
    set_text_answer(
        &mut a,
        &template,
        q,
        "Наши клиенты и сотрудники",
        T0 + 3_000,
    )
    .unwrap();

    let history = answer_history(&a, q).unwrap();
    let got: Vec<(String, i64, String)> = history
        .into_iter()
        .map(|h| (h.actor, h.time_ms, h.value))
        .collect();
    assert_eq!(
        got,
        vec![
            (actor(3).to_hex_string(), T0 + 1_000, "Клиенты".to_owned()),
            (
                actor(4).to_hex_string(),
                T0 + 2_000,
                "Клиенты и сотрудники".to_owned()
            ),
            (
                actor(3).to_hex_string(),
                T0 + 3_000,
                "Наши клиенты и сотрудники".to_owned()
            ),
        ]
    );
}

#[test]
fn concurrent_quality_checks_are_both_shown_and_one_can_be_chosen() {
    use rapport_domain::QualityAnswer;
    use rapport_domain::visit::record_quality_check;
    let template = read_template(&programme_doc()).unwrap();
    let q = "quality.speed";
    let base = visit_doc(&template, 1);
    let mut a = base.fork().with_actor(actor(3));
    let mut b = base.fork().with_actor(actor(4));
    let slow = QualityAnswer {
        target: 100.0,
        actual: 60.0,
        outage_last_month: false,
        note: "замер 1".to_owned(),
        at_most: false,
    };
    let fine = QualityAnswer {
        target: 100.0,
        actual: 100.0,
        outage_last_month: false,
        note: "замер 2".to_owned(),
        at_most: false,
    };
    record_quality_check(&mut a, &template, q, &slow, T0 + 1).unwrap();
    record_quality_check(&mut b, &template, q, &fine, T0 + 2).unwrap();
    a.merge(&mut b).unwrap();
    let mut values: Vec<AnswerValue> = answer_conflicts(&a, q)
        .unwrap()
        .into_iter()
        .map(|v| v.value)
        .collect();
    values.sort_by_key(AnswerValue::render);
    assert_eq!(
        values,
        vec![
            AnswerValue::Quality(fine.clone()),
            AnswerValue::Quality(slow)
        ]
    );

    resolve_answer(
        &mut a,
        &template,
        q,
        &AnswerValue::Quality(fine.clone()),
        T0 + 3,
    )
    .unwrap();
    assert!(conflicted_answers(&a).unwrap().is_empty());
    assert_eq!(
        read_visit(&a).unwrap().answers[q],
        AnswerValue::Quality(fine)
    );
    // A chosen value of the wrong kind is refused.
    let heads = a.get_heads();
    let err = resolve_answer(&mut a, &template, q, &AnswerValue::Bool(true), T0 + 4).unwrap_err();
    assert_eq!(err.code(), "wrong_answer_kind");
    assert_eq!(a.get_heads(), heads);
}
