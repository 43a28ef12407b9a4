//! Assignment suggestion rules (docs/domain.md, step 4): table tests of rep and reason.

use rapport_domain::assign::{AssignError, RepLoad};
use rapport_domain::{
    Capacity, ClientForAssignment, Lang, Reason, RepCapacity, Strength, suggest_assignments,
};
use rstest::rstest;

fn rep(id: &str, capacity: Capacity, active: bool) -> RepCapacity {
    RepCapacity {
        rep_id: id.to_owned(),
        capacity,
        active,
    }
}

fn dedicated(id: &str) -> RepCapacity {
    rep(id, Capacity::Dedicated, true)
}

fn client(
    id: &str,
    original: Option<&str>,
    strength: Strength,
    monopolised: bool,
) -> ClientForAssignment {
    ClientForAssignment {
        client_id: id.to_owned(),
        original_rep: original.map(str::to_owned),
        strength,
        monopolised,
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[rstest]
#[case::strong_owner_kept(
    vec![dedicated("anna"), dedicated("boris")],
    client("c1", Some("boris"), Strength::Excellent, false),
    "boris", Reason::KeptExcellent { rep: s("boris") })]
#[case::monopolised_moved_even_if_excellent(
    vec![dedicated("anna"), dedicated("boris")],
    client("c1", Some("anna"), Strength::Excellent, true),
    "boris", Reason::MonopolisedMoved { from: s("anna"), to: s("boris") })]
#[case::monopolised_weak_moved(
    vec![dedicated("anna"), dedicated("boris"), dedicated("vera")],
    client("c1", Some("anna"), Strength::Weak, true),
    "boris", Reason::MonopolisedMoved { from: s("anna"), to: s("boris") })]
#[case::doubtful_tie_goes_to_original(
    vec![dedicated("anna"), dedicated("boris")],
    client("c1", Some("boris"), Strength::Good, false),
    "boris", Reason::Balanced { to: s("boris"), original: s("boris"), strength: Strength::Good })]
#[case::unknown_strength_balanced(
    vec![dedicated("anna"), dedicated("boris")],
    client("c1", Some("boris"), Strength::Unknown, false),
    "boris", Reason::Balanced { to: s("boris"), original: s("boris"), strength: Strength::Unknown })]
#[case::original_inactive(
    vec![rep("anna", Capacity::Dedicated, false), dedicated("boris")],
    client("c1", Some("anna"), Strength::Excellent, false),
    "boris", Reason::OriginalInactive { original: s("anna"), to: s("boris") })]
#[case::original_zero_capacity(
    vec![rep("anna", Capacity::Share { percent: 0 }, true), dedicated("boris")],
    client("c1", Some("anna"), Strength::Excellent, false),
    "boris", Reason::OriginalInactive { original: s("anna"), to: s("boris") })]
#[case::original_unknown(
    vec![dedicated("anna"), dedicated("boris")],
    client("c1", Some("gleb"), Strength::Excellent, false),
    "anna", Reason::OriginalUnknown { original: s("gleb"), to: s("anna") })]
#[case::no_original(
    vec![dedicated("boris"), dedicated("anna")],
    client("c1", None, Strength::Unknown, false),
    "anna", Reason::NoOriginal { to: s("anna") })]
#[case::only_rep_monopolises(
    vec![dedicated("anna")],
    client("c1", Some("anna"), Strength::Excellent, true),
    "anna", Reason::MonopolisedNoOtherRep { rep: s("anna") })]
#[case::monopolised_and_other_rep_inactive(
    vec![dedicated("anna"), rep("boris", Capacity::Dedicated, false)],
    client("c1", Some("anna"), Strength::Good, true),
    "anna", Reason::MonopolisedNoOtherRep { rep: s("anna") })]
#[case::monopolised_by_inactive_rep(
    vec![rep("anna", Capacity::Dedicated, false), dedicated("boris")],
    client("c1", Some("anna"), Strength::Excellent, true),
    "boris", Reason::MonopolisedMoved { from: s("anna"), to: s("boris") })]
fn one_client_goes_to_the_right_rep_for_the_right_reason(
    #[case] reps: Vec<RepCapacity>,
    #[case] c: ClientForAssignment,
    #[case] expected_rep: &str,
    #[case] expected_reason: Reason,
) {
    let suggestion = suggest_assignments(&reps, &[c]).unwrap();
    assert_eq!(suggestion.assignments.len(), 1);
    let a = &suggestion.assignments[0];
    assert_eq!(a.rep_id, expected_rep);
    assert_eq!(a.reason, expected_reason);
    // The reason reads as a sentence naming the chosen rep in both languages: by name,
    // and by the id as recorded only where the programme has no such rep.
    let names = |id: &str| match id {
        "anna" => Some("Анна Смирнова".to_owned()),
        "boris" => Some("Борис Ким".to_owned()),
        _ => None,
    };
    let expected_name = names(expected_rep).expect("a rep of the programme");
    for lang in [Lang::Ru, Lang::En] {
        let text = a.reason.text(lang, names);
        assert!(text.contains(&expected_name), "{text}");
        assert!(!text.contains(expected_rep), "no rep id in {text}");
        let by_id = a.reason.text(lang, |_| None);
        assert!(by_id.contains(expected_rep), "{by_id}");
    }
    if let Reason::OriginalUnknown { original, .. } = &a.reason {
        assert!(
            a.reason
                .text(Lang::Ru, names)
                .contains(&format!("«{original}»")),
            "an unknown original rep is shown as recorded"
        );
    }
}

#[rstest]
#[case::no_reps(vec![], AssignError::NoReps)]
#[case::all_inactive(vec![rep("anna", Capacity::Dedicated, false), rep("boris", Capacity::Share { percent: 50 }, false)], AssignError::NoActiveReps { reps: 2 })]
#[case::all_zero_capacity(vec![rep("anna", Capacity::Share { percent: 0 }, true)], AssignError::NoActiveReps { reps: 1 })]
fn no_suggestion_without_a_rep_who_can_take_clients(
    #[case] reps: Vec<RepCapacity>,
    #[case] expected: AssignError,
) {
    let err =
        suggest_assignments(&reps, &[client("c1", None, Strength::Unknown, false)]).unwrap_err();
    assert_eq!(err, expected);
    assert!(!err.to_string().is_empty() && !err.code().is_empty());
}

#[test]
fn doubtful_clients_are_balanced_by_capacity_share() {
    let reps = [
        dedicated("anna"),
        rep("boris", Capacity::Share { percent: 50 }, true),
    ];
    let clients: Vec<_> = (1..=6)
        .map(|i| client(&format!("c{i}"), None, Strength::Unknown, false))
        .collect();
    let s = suggest_assignments(&reps, &clients).unwrap();
    assert_eq!(
        s.loads["anna"],
        RepLoad {
            clients: 4,
            capacity_percent: 100
        }
    );
    assert_eq!(
        s.loads["boris"],
        RepLoad {
            clients: 2,
            capacity_percent: 50
        }
    );
}

#[test]
fn a_loaded_original_rep_loses_a_doubtful_client_but_keeps_excellent_ones() {
    let reps = [dedicated("anna"), dedicated("boris")];
    let clients = [
        client("c1", Some("anna"), Strength::Excellent, false),
        client("c2", Some("anna"), Strength::Excellent, false),
        client("c3", Some("anna"), Strength::Excellent, false),
        client("c4", Some("anna"), Strength::Good, false),
    ];
    let out = suggest_assignments(&reps, &clients).unwrap();
    let got: Vec<(&str, &str)> = out
        .assignments
        .iter()
        .map(|a| (a.client_id.as_str(), a.rep_id.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("c1", "anna"),
            ("c2", "anna"),
            ("c3", "anna"),
            ("c4", "boris")
        ]
    );
    assert_eq!(
        out.assignments[3].reason,
        Reason::Balanced {
            to: s("boris"),
            original: s("anna"),
            strength: Strength::Good
        }
    );
}

#[test]
fn ties_prefer_the_original_rep_over_the_smaller_id() {
    let reps = [dedicated("anna"), dedicated("boris")];
    let clients = [
        client("c1", None, Strength::Unknown, false),
        client("c2", None, Strength::Unknown, false),
        client("c3", Some("boris"), Strength::Weak, false),
    ];
    let s = suggest_assignments(&reps, &clients).unwrap();
    let got: Vec<&str> = s.assignments.iter().map(|a| a.rep_id.as_str()).collect();
    assert_eq!(got, ["anna", "boris", "boris"]);
}

#[test]
fn the_suggestion_does_not_depend_on_input_order() {
    let reps = vec![
        dedicated("vera"),
        rep("anna", Capacity::Share { percent: 50 }, true),
        dedicated("boris"),
    ];
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let strength = [
                Strength::Excellent,
                Strength::Good,
                Strength::Weak,
                Strength::Unknown,
            ][i % 4];
            let original = ["anna", "boris", "vera"][i % 3];
            client(&format!("c{i:02}"), Some(original), strength, i % 7 == 0)
        })
        .collect();
    let forward = suggest_assignments(&reps, &clients).unwrap();
    let mut reversed_reps = reps.clone();
    reversed_reps.reverse();
    let mut reversed_clients = clients.clone();
    reversed_clients.reverse();
    assert_eq!(
        suggest_assignments(&reversed_reps, &reversed_clients).unwrap(),
        forward
    );
    // Monopolised clients never stay with their original rep here (others exist).
    for (c, a) in clients.iter().zip(&forward.assignments) {
        assert_eq!(c.client_id, a.client_id);
        if c.monopolised {
            assert_ne!(Some(&a.rep_id), c.original_rep.as_ref(), "{}", c.client_id);
        }
    }
}

#[test]
fn an_import_of_many_clients_is_one_change_with_every_relationship() {
    use rapport_domain::programme::{Membership, add_clients, read_programme};
    let mut doc = crate::common::programme_doc();
    let before = doc.get_heads();
    let members: Vec<Membership> = (0..2_000u32)
        .map(|i| Membership {
            client_id: rapport_domain::DocId::random(),
            original_rep: (i % 2 == 0).then(|| "rep-смирнова".to_owned()),
            strength: if i % 3 == 0 {
                Strength::Excellent
            } else {
                Strength::Unknown
            },
            monopolised: i % 7 == 0,
        })
        .collect();
    let started = std::time::Instant::now();
    add_clients(&mut doc, &members, crate::common::T0).expect("add clients");
    let took = started.elapsed();
    // Linear, not one programme read per row: against one read of the result, measured
    // now (a wall-clock bound alone fails on a loaded machine; a ratio does not).
    let read = one_read(&doc);
    assert!(
        took < read * 100,
        "adding 2,000 clients took {took:?}, one programme read {read:?}"
    );
    assert_eq!(
        doc.get_changes(&before).len(),
        1,
        "one change for the whole import"
    );
    let p = read_programme(&doc).expect("programme");
    assert_eq!(p.clients.len(), 2_000);
    let first = &p.assignments[&members[0].client_id.to_string()];
    assert_eq!(first.original_rep.as_deref(), Some("rep-смирнова"));
    assert_eq!(first.strength, Strength::Excellent);
    assert!(first.monopolised);
    assert!(
        !p.assignments
            .contains_key(&members[1].client_id.to_string()),
        "nothing known, no assignment entry"
    );
}

#[test]
fn applying_a_suggestion_for_thousands_of_clients_is_one_quick_change() {
    use rapport_domain::programme::{
        Membership, add_clients, apply_suggestion, put_rep, read_programme,
    };
    use rapport_domain::suggest_assignments;
    let mut doc = crate::common::programme_doc();
    for r in 0..20 {
        put_rep(
            &mut doc,
            &format!("rep-{r}"),
            &format!("Представитель {r}"),
            "",
            Capacity::Dedicated,
            true,
            crate::common::T0,
        )
        .expect("rep");
    }
    let members: Vec<Membership> = (0..3_000)
        .map(|i| Membership {
            client_id: rapport_domain::DocId::random(),
            original_rep: Some(format!("rep-{}", i % 20)),
            strength: Strength::Excellent,
            monopolised: i % 10 == 0,
        })
        .collect();
    add_clients(&mut doc, &members, crate::common::T0).expect("clients");
    let p = read_programme(&doc).expect("programme");
    let suggestion =
        suggest_assignments(&p.rep_capacities(), &p.clients_for_assignment()).expect("suggestion");
    let before = doc.get_heads();
    let read = one_read(&doc);
    let started = std::time::Instant::now();
    apply_suggestion(&mut doc, &suggestion, "lead", crate::common::T0).expect("apply");
    let took = started.elapsed();
    assert!(
        took < read * 100,
        "not one programme read per client: applying took {took:?}, one read {read:?}"
    );
    assert_eq!(doc.get_changes(&before).len(), 1);
    let p = read_programme(&doc).expect("programme");
    assert!(
        p.assignments.values().all(|a| a.current_rep.is_some()),
        "every client has a rep"
    );
}

#[test]
fn members_are_the_reps_and_client_ids_of_the_full_read() {
    use rapport_domain::programme::{
        Membership, add_clients, put_rep, read_members, read_programme,
    };
    let mut doc = crate::common::programme_doc();
    put_rep(
        &mut doc,
        "rep-анна",
        "Анна",
        "anna@x.ru",
        Capacity::Dedicated,
        true,
        crate::common::T0,
    )
    .expect("rep");
    let ids: Vec<_> = (0..5).map(|_| rapport_domain::DocId::random()).collect();
    let members: Vec<Membership> = ids
        .iter()
        .map(|id| Membership {
            client_id: *id,
            original_rep: Some("rep-анна".into()),
            strength: Strength::Good,
            monopolised: false,
        })
        .collect();
    add_clients(&mut doc, &members, crate::common::T0).expect("clients");
    let full = read_programme(&doc).expect("programme");
    let light = read_members(&doc).expect("members");
    assert_eq!(light.reps, full.reps);
    let mut expected: Vec<_> = full
        .clients
        .keys()
        .map(|k| k.parse().expect("id"))
        .collect();
    expected.sort();
    let mut got = light.clients.clone();
    got.sort();
    assert_eq!(got, expected);
    assert!(
        read_members(&automerge::Automerge::new()).is_err(),
        "not a programme"
    );
}

/// How long one full read of the programme takes: the anchor of the tests above that
/// check an operation is linear (one read per client would take thousands of these).
fn one_read(doc: &automerge::Automerge) -> std::time::Duration {
    let started = std::time::Instant::now();
    let p = rapport_domain::programme::read_programme(doc).expect("programme");
    let took = started.elapsed();
    std::hint::black_box(p);
    took.max(std::time::Duration::from_micros(100))
}
