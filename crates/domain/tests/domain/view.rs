//! The programme view: what reps' devices receive instead of the programme.

use rapport_domain::programme::{add_client, put_rep, read_programme, set_relationship};
use rapport_domain::template::reword_question;
use rapport_domain::{
    Capacity, DocKind, Localized, ProgrammeView, Strength, check_document, doc_scope, publish_view,
    read_view, view_id,
};

use crate::common::{T0, doc_id, programme_doc};

#[test]
fn the_view_carries_the_template_and_reps_but_no_assessments() {
    let mut programme = programme_doc();
    put_rep(
        &mut programme,
        "rep-1",
        "Анна Смирнова",
        "a@x.ru",
        Capacity::Dedicated,
        true,
        T0,
    )
    .expect("rep");
    add_client(&mut programme, doc_id(9), T0).expect("client");
    set_relationship(
        &mut programme,
        doc_id(9),
        Some("rep-1"),
        Strength::Weak,
        true,
        T0,
    )
    .expect("assessment");
    assert!(read_programme(&programme).expect("p").assignments[&doc_id(9).to_string()].monopolised);
    let read = read_programme(&programme).expect("programme");
    let view = ProgrammeView::of(&read);
    let mut doc = automerge::Automerge::new();
    assert!(publish_view(&mut doc, &view, T0).expect("publish"));
    assert_eq!(check_document(&doc).expect("valid"), DocKind::ProgrammeView);
    let scope = doc_scope(&doc).expect("scope");
    assert_eq!(scope.id, view_id(read.id));
    assert_eq!(scope.programme_id, Some(read.id));
    let back = read_view(&doc).expect("read");
    assert_eq!(back, view);
    assert_eq!(back.reps["rep-1"].name, "Анна Смирнова");
    let saved = String::from_utf8_lossy(&doc.save()).to_string();
    assert!(
        !saved.contains("monopolised"),
        "no assessment reaches the view"
    );
}

#[test]
fn republishing_writes_only_what_changed() {
    let mut programme = programme_doc();
    let view = ProgrammeView::of(&read_programme(&programme).expect("programme"));
    let mut doc = automerge::Automerge::new();
    publish_view(&mut doc, &view, T0).expect("publish");
    let heads = doc.get_heads();
    assert!(!publish_view(&mut doc, &view, T0 + 1).expect("same view"));
    assert_eq!(doc.get_heads(), heads, "nothing changed, nothing written");

    let first = view.template.ordered()[0].id.clone();
    reword_question(
        &mut programme,
        &first,
        Localized::new("Как дела у компании? 🚀", "How is the company doing?"),
        T0 + 2,
    )
    .expect("reword");
    let view = ProgrammeView::of(&read_programme(&programme).expect("programme"));
    assert!(publish_view(&mut doc, &view, T0 + 3).expect("publish change"));
    let delta: usize = doc
        .get_changes(&heads)
        .iter()
        .map(|c| c.raw_bytes().len())
        .sum();
    assert!(
        delta < 600,
        "a reworded question costs {delta} bytes, not a whole template"
    );
    assert_eq!(read_view(&doc).expect("read").template, view.template);
}

#[test]
fn view_ids_are_stable_and_distinct() {
    assert_eq!(view_id(doc_id(1)), view_id(doc_id(1)));
    assert_ne!(view_id(doc_id(1)), view_id(doc_id(2)));
    assert_ne!(view_id(doc_id(1)), doc_id(1));
}
