//! Saved sizes of a fully filled visit (figures for the closing note).

use std::time::{Duration, Instant};

use automerge::Automerge;
use rapport_domain::template::read_template;
use rapport_domain::visit::{
    ContactUpdate, ReferralInput, put_contact_update, put_referral, read_visit,
    record_quality_check, set_scalar_answer, set_text_answer,
};
use rapport_domain::{
    AnswerValue, ContactInput, QualityAnswer, QuestionKind, ScalarAnswer, Template,
};

use crate::common::{T0, programme_doc, visit_doc};

/// A visit with 5 contacts, every answerable question answered, 3 referrals.
pub fn filled_visit(t: &Template) -> Automerge {
    let mut doc = visit_doc(t, 1);
    let mut now = T0;
    let mut tick = || {
        now += 1_000;
        now
    };
    for (i, name) in [
        "Анна Кузнецова",
        "Игорь Волков",
        "Пётр Орлов",
        "Мария Соколова",
        "Денис Попов",
    ]
    .iter()
    .enumerate()
    {
        let input = ContactInput {
            updates_contact_id: None,
            name: (*name).to_owned(),
            role: "Руководитель отдела ИТ".to_owned(),
            phone: format!("+7 495 123-45-6{i}"),
            email: format!("contact{i}@romashka.ru"),
        };
        put_contact_update(&mut doc, None, &input, tick()).unwrap();
    }
    for q in t.active() {
        let now = tick();
        match &q.kind {
            QuestionKind::Text => set_text_answer(
                &mut doc,
                t,
                &q.id,
                "Развиваем сеть филиалов, гордимся командой и клиентами",
                now,
            )
            .unwrap(),
            QuestionKind::YesNo => {
                set_scalar_answer(&mut doc, t, &q.id, &ScalarAnswer::YesNo(true), now).unwrap()
            }
            QuestionKind::Number => {
                set_scalar_answer(&mut doc, t, &q.id, &ScalarAnswer::Number(4.0), now).unwrap()
            }
            QuestionKind::Date => set_scalar_answer(
                &mut doc,
                t,
                &q.id,
                &ScalarAnswer::Date("2026-02-14".to_owned()),
                now,
            )
            .unwrap(),
            QuestionKind::Choice { options } => set_scalar_answer(
                &mut doc,
                t,
                &q.id,
                &ScalarAnswer::Choice(options[0].id.clone()),
                now,
            )
            .unwrap(),
            QuestionKind::QualityCheck { .. } => {
                record_quality_check(
                    &mut doc,
                    t,
                    &q.id,
                    &QualityAnswer {
                        target: 100.0,
                        actual: 97.5,
                        outage_last_month: false,
                        note: "замер на месте".to_owned(),
                        at_most: false,
                    },
                    now,
                )
                .unwrap();
            }
            QuestionKind::Contacts | QuestionKind::Referrals => {}
        }
    }
    for name in ["Сергей Белов", "Ольга Новикова", "Андрей Морозов"]
    {
        let r = ReferralInput {
            name: name.to_owned(),
            company: "ООО Берёзка".to_owned(),
            contact: "+7 900 000-00-00".to_owned(),
            note: "Знакомы по отраслевой выставке".to_owned(),
        };
        put_referral(&mut doc, None, &r, tick()).unwrap();
    }
    doc
}

#[test]
fn saved_sizes() {
    let t: Template = read_template(&programme_doc()).unwrap();
    let mut doc = filled_visit(&t);
    let v = read_visit(&doc).unwrap();
    let contacts: Vec<&ContactUpdate> = v.contact_updates.values().collect();
    assert_eq!((contacts.len(), v.referrals.len()), (5, 3));
    let answered = v.answers.values().filter(|a| a.is_given()).count();
    assert!(answered >= 20, "answered {answered}");
    let filled = doc.save().len();
    println!(
        "saved_sizes: filled visit ({answered} answers, 5 contacts, 3 referrals): {filled} bytes"
    );

    // 2,000 single-character edits (keystrokes) to one text answer, one commit each.
    let q = "carnegie.proud_of";
    let start = Instant::now();
    // Realistic typing: varied Russian words picked by a fixed pseudo-random
    // sequence (periodic text would compress unrealistically well), with a
    // backspace every 25th keystroke.
    const WORDS: &[&str] = &[
        "мы",
        "гордимся",
        "нашими",
        "клиентами",
        "и",
        "командой",
        "которая",
        "за",
        "двадцать",
        "лет",
        "построила",
        "сеть",
        "филиалов",
        "в",
        "Поволжье",
        "🚀",
        "качество",
        "обслуживания",
        "растёт",
        "каждый",
        "квартал",
        "новые",
        "склады",
        "открываются",
        "в",
        "Казани",
        "Самаре",
        "и",
        "Уфе",
        "директор",
        "ценит",
        "надёжность",
        "связи",
        "скорость",
        "важна",
        "для",
        "складского",
        "учёта",
    ];
    let mut typed_chars: Vec<char> = Vec::new();
    let mut queue: Vec<char> = Vec::new();
    let mut seed: u64 = 0x5eed;
    let mut text = String::new();
    for i in 0..2_000u32 {
        if i % 25 == 24 {
            typed_chars.pop();
        } else {
            if queue.is_empty() {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let word = WORDS[usize::try_from(seed >> 33).unwrap() % WORDS.len()];
                queue = format!("{word} ").chars().rev().collect();
            }
            typed_chars.push(queue.pop().unwrap());
        }
        text = typed_chars.iter().collect();
        set_text_answer(&mut doc, &t, q, &text, T0 + 100_000 + i64::from(i)).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "typing took too long"
        );
    }
    let typed = doc.save().len();
    println!(
        "saved_sizes: after 2,000 keystrokes ({} characters left in the answer): {typed} bytes \
         ({:?} for the edits)",
        text.chars().count(),
        start.elapsed()
    );
    assert_eq!(
        read_visit(&Automerge::load(&doc.save()).unwrap())
            .unwrap()
            .answers[q],
        AnswerValue::Text(text)
    );
    assert!(filled < 16 * 1024, "filled visit saves to {filled} bytes");
    assert!(typed < 16 * 1024, "typed visit saves to {typed} bytes");
}

#[test]
fn domain_errors_are_small_enough_to_return_by_value() {
    // Rare failures should not make every `Result` of every edit large: the big
    // library errors are boxed.
    assert!(std::mem::size_of::<rapport_domain::DomainError>() <= 64);
}
