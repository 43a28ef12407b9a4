//! Programme status from a small programme with exact expected numbers;
//! assignments written to the programme document.

use automerge::Automerge;
use rapport_domain::client::new_client;
use rapport_domain::programme::{
    add_client, apply_suggestion, override_assignment, put_rep, read_programme, set_relationship,
};
use rapport_domain::status::{ClientSummary, OpportunityTotal, ProgrammeRoster, VisitSummary};
use rapport_domain::template::read_template;
use rapport_domain::visit::{
    OpportunityInput, ReferralInput, add_follow_up, complete_visit, put_contact_update,
    put_opportunity, put_referral, read_visit, record_quality_check, set_scalar_answer,
    set_text_answer, update_follow_up,
};
use rapport_domain::{
    Capacity, ContactInput, FollowUpState, OpportunityKind, QualityAnswer, Reason, ScalarAnswer,
    Segment, Strength, Template, programme_status, suggest_assignments,
};

use crate::common::{T0, actor, doc_id, programme_doc, visit_doc_by};

pub(crate) fn fill_required(doc: &mut Automerge, t: &Template, actual_speed: f64) {
    put_contact_update(
        doc,
        None,
        &ContactInput {
            name: "Анна Кузнецова".to_owned(),
            ..Default::default()
        },
        T0,
    )
    .unwrap();
    set_text_answer(doc, t, "carnegie.proud_of", "Надёжностью", T0).unwrap();
    set_text_answer(doc, t, "carnegie.plans", "Рост", T0).unwrap();
    set_text_answer(doc, t, "cooperation.services_used", "Интернет", T0).unwrap();
    set_scalar_answer(
        doc,
        t,
        "cooperation.satisfaction",
        &ScalarAnswer::Choice("satisfied".to_owned()),
        T0,
    )
    .unwrap();
    record_quality_check(
        doc,
        t,
        "quality.speed",
        &QualityAnswer {
            target: 100.0,
            actual: actual_speed,
            outage_last_month: false,
            note: String::new(),
            at_most: false,
        },
        T0,
    )
    .unwrap();
}

fn opportunity(kind: OpportunityKind, value: f64) -> OpportunityInput {
    OpportunityInput {
        kind,
        description: "Расширение канала".to_owned(),
        product: "Интернет 1 Гбит/с".to_owned(),
        estimated_value: value,
        currency: "RUB".to_owned(),
    }
}

fn referral(name: &str) -> ReferralInput {
    ReferralInput {
        name: name.to_owned(),
        company: "ООО Берёзка".to_owned(),
        contact: "+7 900 000-00-00".to_owned(),
        note: String::new(),
    }
}

#[test]
fn status_of_a_small_programme_has_exact_numbers() {
    let mut p = programme_doc();
    let t = read_template(&p).unwrap();
    put_rep(
        &mut p,
        "anna",
        "Анна",
        "anna@example.ru",
        Capacity::Dedicated,
        true,
        T0,
    )
    .unwrap();
    put_rep(
        &mut p,
        "boris",
        "Борис",
        "boris@example.ru",
        Capacity::Share { percent: 50 },
        true,
        T0,
    )
    .unwrap();
    put_rep(
        &mut p,
        "vera",
        "Вера",
        "vera@example.ru",
        Capacity::Dedicated,
        true,
        T0,
    )
    .unwrap();
    for c in 1..=6 {
        add_client(&mut p, doc_id(c), T0).unwrap();
    }
    for (c, rep) in [
        (1, "anna"),
        (2, "anna"),
        (3, "boris"),
        (4, "boris"),
        (5, "vera"),
    ] {
        override_assignment(
            &mut p,
            doc_id(c),
            rep,
            Reason::LeadDecision {
                note: "план".to_owned(),
            },
            "lead",
            T0 + 1,
        )
        .unwrap();
    }
    let programme = read_programme(&p).unwrap();
    let clients: Vec<_> = (1..=6)
        .map(|c| {
            rapport_domain::client::read_client(
                &new_client(
                    actor(1),
                    doc_id(c),
                    &format!("Клиент {c}"),
                    Segment::Corporate,
                    None,
                    T0,
                )
                .unwrap(),
            )
            .unwrap()
        })
        .collect();

    // c1: completed by anna, failing quality check, growth opportunity, 2 referrals, 2 contacts.
    let mut v1 = visit_doc_by(&t, 1, 0xC1, "anna", actor(2));
    fill_required(&mut v1, &t, 40.0);
    put_contact_update(
        &mut v1,
        None,
        &ContactInput {
            name: "Игорь Волков".to_owned(),
            ..Default::default()
        },
        T0,
    )
    .unwrap();
    put_opportunity(
        &mut v1,
        None,
        &opportunity(OpportunityKind::Growth, 100_000.0),
        T0,
    )
    .unwrap();
    put_referral(&mut v1, None, &referral("Сергей"), T0).unwrap();
    put_referral(&mut v1, None, &referral("Мария"), T0).unwrap();
    complete_visit(&mut v1, &t, T0 + 10).unwrap();
    // c2: draft by anna, cross-sell, an overdue follow-up, 1 contact.
    let mut v2 = visit_doc_by(&t, 2, 0xC2, "anna", actor(2));
    put_contact_update(
        &mut v2,
        None,
        &ContactInput {
            name: "Пётр Орлов".to_owned(),
            ..Default::default()
        },
        T0,
    )
    .unwrap();
    put_opportunity(
        &mut v2,
        None,
        &opportunity(OpportunityKind::CrossSell, 50_000.0),
        T0,
    )
    .unwrap();
    add_follow_up(&mut v2, None, "Выслать КП", "anna", Some("2026-03-05"), T0).unwrap();
    // c3: completed by boris, edited afterwards, growth, 1 referral, a follow-up done.
    let mut v3 = visit_doc_by(&t, 3, 0xC3, "boris", actor(3));
    fill_required(&mut v3, &t, 120.0);
    put_opportunity(
        &mut v3,
        None,
        &opportunity(OpportunityKind::Growth, 20_000.0),
        T0,
    )
    .unwrap();
    let f = add_follow_up(&mut v3, None, "Позвонить", "boris", Some("2026-03-01"), T0).unwrap();
    update_follow_up(&mut v3, &f, Some(FollowUpState::Done), None, None, T0).unwrap();
    complete_visit(&mut v3, &t, T0 + 10).unwrap();
    put_referral(&mut v3, None, &referral("Ольга"), T0).unwrap();
    // c5: draft by vera.
    let v5 = visit_doc_by(&t, 5, 0xC5, "vera", actor(4));
    // A visit of another programme is ignored.
    let mut other = visit_doc_by(&t, 4, 0xC4, "boris", actor(3));
    fill_required(&mut other, &t, 10.0);
    let mut other = read_visit(&other).unwrap();
    other.programme_id = doc_id(0xEE);

    let visits: Vec<_> = [&v1, &v2, &v3, &v5]
        .iter()
        .map(|d| read_visit(d).unwrap())
        .chain([other])
        .collect();
    let clients: Vec<_> = clients.iter().map(ClientSummary::of).collect();
    let visits: Vec<_> = visits.iter().map(VisitSummary::of).collect();
    let programme = ProgrammeRoster::of(&programme);
    let s = programme_status(&programme, &clients, &visits, "2026-03-20");

    let reps: Vec<(&str, u32, u32, u32, u32, u32, f64)> = s
        .reps
        .iter()
        .map(|r| {
            (
                r.rep_id.as_str(),
                r.capacity_percent,
                r.assigned_clients,
                r.visited_clients,
                r.drafts,
                r.completed_visits,
                r.coverage_percent,
            )
        })
        .collect();
    assert_eq!(
        reps,
        [
            ("anna", 100, 2, 1, 1, 1, 50.0),
            ("boris", 50, 2, 1, 0, 1, 50.0),
            ("vera", 100, 1, 0, 1, 0, 0.0)
        ]
    );
    assert_eq!((s.clients_total, s.clients_unassigned), (6, 1));
    assert_eq!(
        (
            s.visits.draft,
            s.visits.completed,
            s.visits.edited_after_completion
        ),
        (2, 2, 1)
    );
    assert_eq!(s.quality_failures.len(), 1);
    assert_eq!(s.quality_failures[0].company, "Клиент 1");
    assert_eq!(s.quality_failures[0].actual, 40.0);
    assert_eq!(s.open_follow_ups.len(), 2);
    assert_eq!(s.overdue_follow_ups, 1);
    assert_eq!(s.open_follow_ups[0].description, "Выслать КП");
    assert!(s.open_follow_ups[0].overdue);
    assert_eq!(
        s.opportunities,
        [
            OpportunityTotal {
                kind: OpportunityKind::Growth,
                currency: "RUB".to_owned(),
                count: 2,
                total_estimated_value: 120_000.0
            },
            OpportunityTotal {
                kind: OpportunityKind::CrossSell,
                currency: "RUB".to_owned(),
                count: 1,
                total_estimated_value: 50_000.0
            },
        ]
    );
    assert_eq!(s.opportunities_count, 3);
    assert_eq!(s.referrals, 3);
    assert_eq!(s.contacts_refreshed, 4);
    // The server serves it as JSON.
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"coverage_percent\":50.0"), "{json}");
}

#[test]
fn applying_a_suggestion_and_an_override_record_the_history() {
    let mut p = programme_doc();
    put_rep(
        &mut p,
        "anna",
        "Анна",
        "anna@example.ru",
        Capacity::Dedicated,
        true,
        T0,
    )
    .unwrap();
    put_rep(
        &mut p,
        "boris",
        "Борис",
        "boris@example.ru",
        Capacity::Dedicated,
        true,
        T0,
    )
    .unwrap();
    add_client(&mut p, doc_id(1), T0).unwrap();
    add_client(&mut p, doc_id(2), T0).unwrap();
    set_relationship(
        &mut p,
        doc_id(1),
        Some("anna"),
        Strength::Excellent,
        false,
        T0,
    )
    .unwrap();
    set_relationship(
        &mut p,
        doc_id(2),
        Some("anna"),
        Strength::Excellent,
        true,
        T0,
    )
    .unwrap();
    let programme = read_programme(&p).unwrap();
    let suggestion = suggest_assignments(
        &programme.rep_capacities(),
        &programme.clients_for_assignment(),
    )
    .unwrap();
    apply_suggestion(&mut p, &suggestion, "lead", T0 + 1).unwrap();
    // Applying the same suggestion again changes nothing.
    apply_suggestion(&mut p, &suggestion, "lead", T0 + 2).unwrap();
    let programme = read_programme(&p).unwrap();
    let a1 = &programme.assignments[&doc_id(1).to_string()];
    let a2 = &programme.assignments[&doc_id(2).to_string()];
    assert_eq!(a1.current_rep.as_deref(), Some("anna"));
    assert_eq!(a2.current_rep.as_deref(), Some("boris"));
    assert_eq!(
        a2.reason,
        Some(Reason::MonopolisedMoved {
            from: "anna".to_owned(),
            to: "boris".to_owned()
        })
    );
    assert_eq!(a1.history.len(), 1);

    // The lead moves client 1 by hand with a reason.
    let note = Reason::LeadDecision {
        note: "монополизирует клиента".to_owned(),
    };
    override_assignment(&mut p, doc_id(1), "boris", note.clone(), "lead", T0 + 3).unwrap();
    let a1 = read_programme(&p).unwrap().assignments[&doc_id(1).to_string()].clone();
    assert_eq!(a1.current_rep.as_deref(), Some("boris"));
    let hist: Vec<(&str, i64)> = a1
        .history
        .iter()
        .map(|h| (h.rep.as_str(), h.at_ms))
        .collect();
    assert_eq!(hist, [("anna", T0 + 1), ("boris", T0 + 3)]);
    assert_eq!(a1.history[1].reason, note);
    // Unknown rep: refused, nothing written.
    let heads = p.get_heads();
    assert_eq!(
        override_assignment(&mut p, doc_id(1), "gleb", note, "lead", T0)
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(p.get_heads(), heads);
}
