//! The review round: accept or return a completed visit, rework and complete again,
//! every round kept; refusals that write nothing; reviews merging with the rep's
//! concurrent edits; and which changes touch the reviews (what only a lead may write).

use automerge::Automerge;
use rapport_domain::template::read_template;
use rapport_domain::visit::{
    complete_visit, holds_reviews, read_visit, review_visit, reviews_print, set_text_answer,
    touches_reviews,
};
use rapport_domain::{ReviewInput, ReviewState, Template, Verdict};

use crate::common::{T0, actor, programme_doc, visit_doc};
use crate::status::fill_required;

fn completed_visit(t: &Template) -> Automerge {
    let mut v = visit_doc(t, 1);
    fill_required(&mut v, t, 120.0);
    complete_visit(&mut v, t, T0 + 10).unwrap();
    v
}

fn returned(comment: &str, on: &[(&str, &str)]) -> ReviewInput {
    ReviewInput {
        verdict: Some(Verdict::Returned),
        comment: comment.to_owned(),
        answer_comments: on
            .iter()
            .map(|(q, c)| ((*q).to_owned(), (*c).to_owned()))
            .collect(),
    }
}

fn accepted() -> ReviewInput {
    ReviewInput {
        verdict: Some(Verdict::Accepted),
        ..ReviewInput::default()
    }
}

/// The lead's writer: its own actor on a fork of the document.
fn lead_fork(doc: &Automerge) -> Automerge {
    doc.fork().with_actor(actor(9))
}

#[test]
fn a_visit_returned_reworked_completed_again_and_accepted_keeps_every_round() {
    let t = read_template(&programme_doc()).unwrap();
    let mut v = completed_visit(&t);
    assert_eq!(
        read_visit(&v).unwrap().review_state(),
        ReviewState::AwaitingReview
    );

    let mut lead = lead_fork(&v);
    review_visit(
        &mut lead,
        &t,
        "r1",
        &returned(
            "  Уточните планы клиента  ",
            &[
                ("carnegie.plans", "Какие сроки? ⏱"),
                ("carnegie.proud_of", "  "),
            ],
        ),
        "Ольга Смирнова",
        T0 + 20,
    )
    .unwrap();
    v.merge(&mut lead).unwrap();
    let visit = read_visit(&v).unwrap();
    assert_eq!(visit.review_state(), ReviewState::Returned);
    let open = visit.open_return().expect("the return the rep acts on");
    assert_eq!(open.comment, "Уточните планы клиента");
    assert_eq!(
        open.answer_comments.keys().collect::<Vec<_>>(),
        ["carnegie.plans"],
        "empty answer comments are dropped"
    );
    assert_eq!(open.by, "Ольга Смирнова");

    // The rep reworks (still completed: the edit is recorded) and completes again.
    set_text_answer(
        &mut v,
        &t,
        "carnegie.plans",
        "Рост на 20 % к осени",
        T0 + 30,
    )
    .unwrap();
    assert_eq!(
        read_visit(&v).unwrap().review_state(),
        ReviewState::Returned
    );
    complete_visit(&mut v, &t, T0 + 40).unwrap();
    let visit = read_visit(&v).unwrap();
    assert_eq!(visit.review_state(), ReviewState::AwaitingReview);
    assert!(visit.open_return().is_none());

    let mut lead = lead_fork(&v);
    review_visit(&mut lead, &t, "r2", &accepted(), "Ольга Смирнова", T0 + 50).unwrap();
    v.merge(&mut lead).unwrap();
    let visit = read_visit(&v).unwrap();
    assert_eq!(visit.review_state(), ReviewState::Accepted);
    let rounds: Vec<(&str, Verdict, i64)> = visit
        .review_rounds()
        .into_iter()
        .map(|(id, r)| (id.as_str(), r.verdict, r.completion_ms))
        .collect();
    assert_eq!(
        rounds,
        [
            ("r1", Verdict::Returned, T0 + 10),
            ("r2", Verdict::Accepted, T0 + 40)
        ]
    );
    // Saved and loaded, the rounds read the same.
    let loaded = Automerge::load(&v.save()).unwrap();
    assert_eq!(read_visit(&loaded).unwrap().reviews, visit.reviews);
}

#[test]
fn refused_reviews_say_why_and_write_nothing() {
    let t = read_template(&programme_doc()).unwrap();
    let mut draft = visit_doc(&t, 1);
    let heads = draft.get_heads();
    let err = review_visit(&mut draft, &t, "r1", &accepted(), "Ольга", T0).unwrap_err();
    assert_eq!(err.code(), "visit_not_completed");
    assert_eq!(draft.get_heads(), heads);

    let mut v = completed_visit(&t);
    let heads = v.get_heads();
    for (input, code) in [
        (returned("", &[]), "empty_required_field"),
        (
            returned("   ", &[("carnegie.plans", " ")]),
            "empty_required_field",
        ),
        (
            returned("", &[("нет.такого", "Что это?")]),
            "unknown_question",
        ),
        (returned(&"я".repeat(4_001), &[]), "too_long"),
        (ReviewInput::default(), "empty_required_field"),
    ] {
        let err = review_visit(&mut v, &t, "r1", &input, "Ольга", T0 + 20).unwrap_err();
        assert_eq!(err.code(), code, "{input:?}: {err}");
        assert_eq!(v.get_heads(), heads, "nothing written for {input:?}");
    }

    review_visit(&mut v, &t, "r1", &accepted(), "Ольга", T0 + 20).unwrap();
    let heads = v.get_heads();
    let err = review_visit(
        &mut v,
        &t,
        "r2",
        &returned("Ещё раз", &[]),
        "Ольга",
        T0 + 30,
    )
    .unwrap_err();
    assert_eq!(err.code(), "already_reviewed", "{err}");
    assert!(err.to_string().contains("completes it again"), "{err}");
    assert_eq!(v.get_heads(), heads);
}

#[test]
fn the_rep_editing_while_the_lead_returns_the_visit_merges_both() {
    let t = read_template(&programme_doc()).unwrap();
    let v = completed_visit(&t);
    let mut rep = v.fork().with_actor(actor(2));
    let mut lead = lead_fork(&v);
    set_text_answer(
        &mut rep,
        &t,
        "carnegie.plans",
        "Рост и новый филиал",
        T0 + 21,
    )
    .unwrap();
    review_visit(
        &mut lead,
        &t,
        "r1",
        &returned("", &[("carnegie.plans", "Подробнее о филиале")]),
        "Ольга",
        T0 + 20,
    )
    .unwrap();
    rep.merge(&mut lead).unwrap();
    let visit = read_visit(&rep).unwrap();
    assert_eq!(visit.review_state(), ReviewState::Returned);
    assert!(matches!(
        visit.answers.get("carnegie.plans"),
        Some(rapport_domain::AnswerValue::Text(s)) if s == "Рост и новый филиал"
    ));
}

#[test]
fn a_return_crossing_the_reps_new_completion_stays_in_the_history_only() {
    let t = read_template(&programme_doc()).unwrap();
    let v = completed_visit(&t);
    let mut rep = v.fork().with_actor(actor(2));
    let mut lead = lead_fork(&v);
    set_text_answer(&mut rep, &t, "carnegie.plans", "Рост", T0 + 21).unwrap();
    complete_visit(&mut rep, &t, T0 + 22).unwrap();
    review_visit(
        &mut lead,
        &t,
        "r1",
        &returned("Уточните", &[]),
        "Ольга",
        T0 + 20,
    )
    .unwrap();
    rep.merge(&mut lead).unwrap();
    let visit = read_visit(&rep).unwrap();
    assert_eq!(visit.review_state(), ReviewState::AwaitingReview);
    assert_eq!(
        visit.review_rounds().len(),
        1,
        "the return is in the history"
    );
}

#[test]
fn two_leads_judging_one_completion_at_once_both_stay_the_newest_counts() {
    let t = read_template(&programme_doc()).unwrap();
    let v = completed_visit(&t);
    let mut first = v.fork().with_actor(actor(8));
    let mut second = lead_fork(&v);
    review_visit(&mut first, &t, "a", &accepted(), "Ольга", T0 + 20).unwrap();
    review_visit(&mut second, &t, "b", &returned("Нет", &[]), "Пётр", T0 + 25).unwrap();
    first.merge(&mut second).unwrap();
    let visit = read_visit(&first).unwrap();
    assert_eq!(visit.reviews.len(), 2);
    assert_eq!(visit.review_state(), ReviewState::Returned);
}

#[test]
fn only_changes_that_write_the_reviews_touch_them() {
    let t = read_template(&programme_doc()).unwrap();
    let created = visit_doc(&t, 1);
    let creation = created.get_changes(&[]);
    assert!(
        creation.iter().all(|c| !touches_reviews(&created, c)),
        "creating the visit makes the empty map"
    );

    let mut v = completed_visit(&t);
    let before = v.get_heads();
    let print = reviews_print(&v);
    set_text_answer(&mut v, &t, "carnegie.plans", "Правка", T0 + 15).unwrap();
    assert!(
        v.get_changes(&before)
            .iter()
            .all(|c| !touches_reviews(&v, c))
    );
    assert_eq!(reviews_print(&v), print, "an answer leaves the print alone");

    let before = v.get_heads();
    review_visit(&mut v, &t, "r1", &accepted(), "Ольга", T0 + 20).unwrap();
    assert!(
        v.get_changes(&before)
            .iter()
            .any(|c| touches_reviews(&v, c))
    );
    assert_ne!(reviews_print(&v), print, "a review moves the print");
    let print = reviews_print(&v);

    // A device writing into a round (turning a return into an acceptance), or putting
    // an empty map over the reviews, touches them.
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc};
    let mut forger = v.fork().with_actor(actor(2));
    let (_, reviews) = forger.get(ROOT, "reviews").unwrap().unwrap();
    let (_, round) = forger.get(&reviews, "r1").unwrap().unwrap();
    let before = forger.get_heads();
    let mut tx = forger.transaction();
    tx.put(&round, "verdict", "returned").unwrap();
    tx.commit();
    assert!(
        forger
            .get_changes(&before)
            .iter()
            .all(|c| touches_reviews(&forger, c))
    );
    assert_ne!(
        reviews_print(&forger),
        print,
        "so does a write into a round"
    );
    let before = forger.get_heads();
    let mut tx = forger.transaction();
    tx.put_object(ROOT, "reviews", automerge::ObjType::Map)
        .unwrap();
    tx.commit();
    assert!(
        forger
            .get_changes(&before)
            .iter()
            .all(|c| touches_reviews(&forger, c))
    );
}

#[test]
fn two_leads_reviewing_a_visit_made_before_reviews_existed_both_stay() {
    use automerge::ROOT;
    use automerge::transaction::Transactable;
    let t = read_template(&programme_doc()).unwrap();
    let mut v = completed_visit(&t);
    // A visit of an older build has no `reviews` map; each review then makes one.
    let mut tx = v.transaction();
    tx.delete(ROOT, "reviews").unwrap();
    tx.commit();
    let mut first = v.fork().with_actor(actor(8));
    let mut second = lead_fork(&v);
    review_visit(
        &mut first,
        &t,
        "a",
        &returned("Уточните сроки", &[]),
        "Ольга",
        T0 + 20,
    )
    .unwrap();
    review_visit(&mut second, &t, "b", &accepted(), "Пётр", T0 + 25).unwrap();
    first.merge(&mut second).unwrap();
    let visit = read_visit(&first).unwrap();
    assert_eq!(
        visit.reviews.keys().collect::<Vec<_>>(),
        ["a", "b"],
        "neither lead's map hides the other's round"
    );
    assert_eq!(visit.review_state(), ReviewState::Accepted);
}

/// What a server asks of a visit new to it before decoding its changes: whether any
/// review is in it at all.
#[test]
fn a_visit_holds_reviews_once_a_round_is_written_or_two_maps_conflict() {
    use automerge::ROOT;
    use automerge::transaction::Transactable;
    let t = read_template(&programme_doc()).unwrap();
    let created = visit_doc(&t, 1);
    assert!(!holds_reviews(&created), "a visit as created holds none");
    let mut v = completed_visit(&t);
    set_text_answer(&mut v, &t, "carnegie.plans", "Расширить канал", T0 + 15).unwrap();
    assert!(!holds_reviews(&v), "answers and completion are no review");

    let mut reviewed = lead_fork(&v);
    review_visit(
        &mut reviewed,
        &t,
        "r1",
        &returned("Уточните бюджет", &[("carnegie.plans", "Сколько?")]),
        "Ольга",
        T0 + 20,
    )
    .unwrap();
    assert!(holds_reviews(&reviewed), "a round is in the map");

    // An empty map put over the reviews of a visit that had none holds none.
    let mut emptied = v.fork().with_actor(actor(2));
    let mut tx = emptied.transaction();
    tx.put_object(ROOT, "reviews", automerge::ObjType::Map)
        .unwrap();
    tx.commit();
    assert!(!holds_reviews(&emptied));
    // Two maps put concurrently (older visits had none) are both kept: that is held.
    let mut other = v.fork().with_actor(actor(3));
    let mut tx = other.transaction();
    tx.put_object(ROOT, "reviews", automerge::ObjType::Map)
        .unwrap();
    tx.commit();
    emptied.merge(&mut other).unwrap();
    assert!(holds_reviews(&emptied), "two values of the map itself");
}
