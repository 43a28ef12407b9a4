//! Times reading a filled visit into typed form: autosurgeon's own hydration (one
//! seek per field and per entry) against `read_visit` (one pass per map), and the
//! server's schema check (`check_and_read`), on the same document.
//!
//! `cargo run --release -p rapport-domain --example visit_read`

use std::time::Instant;

use automerge::{ActorId, Automerge};
use rapport_domain::visit::{
    ContactInput, OpportunityInput, OpportunityKind, ReferralInput, ScalarAnswer, Visit, VisitInit,
    new_visit, put_contact_update, put_opportunity, put_referral, set_scalar_answer,
    set_text_answer,
};
use rapport_domain::{DocId, QuestionKind, Template, check_and_read, default_template};

const READS: u32 = 3_000;

/// A visit with every question answered, three contacts, two opportunities, two
/// referrals, and twenty later edits of one text answer.
fn filled_visit(template: &Template) -> Automerge {
    let init = VisitInit {
        id: DocId::random(),
        programme_id: DocId::random(),
        client_id: DocId::random(),
        date: "2026-12-01".to_owned(),
        rep_id: "rep-1".to_owned(),
    };
    let mut doc = new_visit(ActorId::random(), &init, template, 1).expect("a new visit");
    let mut now = 10;
    for q in template.active() {
        now += 1;
        let scalar = match &q.kind {
            QuestionKind::Text => {
                set_text_answer(
                    &mut doc,
                    template,
                    &q.id,
                    "Ответ клиента, две-три фразы о главном",
                    now,
                )
                .expect("a text answer");
                continue;
            }
            QuestionKind::YesNo => ScalarAnswer::YesNo(true),
            QuestionKind::Number => ScalarAnswer::Number(3.0),
            QuestionKind::Date => ScalarAnswer::Date("2026-11-30".to_owned()),
            QuestionKind::Choice { options } => ScalarAnswer::Choice(options[0].id.clone()),
            _ => continue,
        };
        set_scalar_answer(&mut doc, template, &q.id, &scalar, now).expect("an answer");
    }
    for i in 0..3 {
        let contact = ContactInput {
            updates_contact_id: None,
            name: format!("Иван Петров {i}"),
            role: "финансовый директор".to_owned(),
            phone: "+7 900 000-00-00".to_owned(),
            email: "ivan@example.ru".to_owned(),
        };
        put_contact_update(&mut doc, None, &contact, 100 + i).expect("a contact");
    }
    for i in 0..2 {
        let opportunity = OpportunityInput {
            kind: OpportunityKind::Growth,
            description: format!("Второй канал связи для филиала {i}"),
            product: "Интернет".to_owned(),
            estimated_value: 120_000.0,
            currency: "RUB".to_owned(),
        };
        put_opportunity(&mut doc, None, &opportunity, 110 + i).expect("an opportunity");
        let referral = ReferralInput {
            name: format!("Анна Смирнова {i}"),
            company: "ООО «Пример»".to_owned(),
            contact: "+7 901 000-00-00".to_owned(),
            note: "Ждёт звонка".to_owned(),
        };
        put_referral(&mut doc, None, &referral, 120 + i).expect("a referral");
    }
    let text = template
        .active()
        .into_iter()
        .find(|q| q.kind == QuestionKind::Text)
        .expect("a text question")
        .id
        .clone();
    for i in 0..20 {
        set_text_answer(&mut doc, template, &text, &format!("Правка {i}"), 200 + i)
            .expect("an edit");
    }
    doc
}

/// Microseconds per call of `read`, over [`READS`] calls.
fn time(read: impl Fn()) -> f64 {
    let started = Instant::now();
    for _ in 0..READS {
        read();
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(READS)
}

fn main() {
    let template = default_template();
    let doc = filled_visit(&template);
    let per_field: Visit = autosurgeon::hydrate(&doc).expect("autosurgeon reads it");
    assert_eq!(
        per_field,
        rapport_domain::visit::read_visit(&doc).expect("it reads")
    );
    for round in 1..=3 {
        let seeks = time(|| {
            std::hint::black_box(autosurgeon::hydrate::<_, Visit>(&doc).expect("it reads"));
        });
        let one_pass = time(|| {
            std::hint::black_box(rapport_domain::visit::read_visit(&doc).expect("it reads"));
        });
        let check = time(|| {
            std::hint::black_box(check_and_read(&doc).expect("it passes"));
        });
        println!(
            "round {round}: autosurgeon's hydrate {seeks:.1} µs, read_visit {one_pass:.1} µs ({:.2}× faster), check_and_read {check:.1} µs",
            seeks / one_pass
        );
    }
}
