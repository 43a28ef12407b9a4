//! The default VIP-анкета: the paper form's questions in Russian and English.

use std::collections::BTreeMap;

use super::questions::{ChoiceOption, Question, QuestionKind, Section, Template};
use crate::lang::Localized;

/// Builds a question (position is set by the template order).
fn q(
    id: &str,
    section: Section,
    kind: QuestionKind,
    required: bool,
    ru: &str,
    en: &str,
) -> Question {
    Question {
        id: id.to_owned(),
        section,
        kind,
        required,
        wording: Localized::new(ru, en),
        position: 0.0,
        retired: false,
    }
}

fn opt(id: &str, ru: &str, en: &str) -> ChoiceOption {
    ChoiceOption {
        id: id.to_owned(),
        label: Localized::new(ru, en),
    }
}

/// The default VIP-анкета: the paper form's sections with real questions in
/// Russian and English, as the seed of a new programme.
pub fn default_template() -> Template {
    use QuestionKind as K;
    use Section as S;
    let speed = K::QualityCheck {
        service: Localized::new("Доступ в интернет", "Internet access"),
        metric: Localized::new(
            "Скорость передачи данных (договорная / измеренная)",
            "Data rate (contracted / measured)",
        ),
        unit: "Мбит/с".to_owned(),
        at_most: false,
    };
    let questions = vec![
        q(
            "company.meeting_place",
            S::Company,
            K::Text,
            false,
            "Место встречи",
            "Meeting place",
        ),
        q(
            "contacts.key_people",
            S::KeyContacts,
            K::Contacts,
            true,
            "Кто из ключевых лиц отвечает за сотрудничество с нами? Проверьте и обновите контакты.",
            "Which key people are responsible for working with us? Check and update their contacts.",
        ),
        q(
            "contacts.new_people",
            S::KeyContacts,
            K::YesNo,
            false,
            "Появились ли у клиента новые ответственные лица?",
            "Has the client got new people in charge?",
        ),
        q(
            "carnegie.proud_of",
            S::Carnegie,
            K::Text,
            true,
            "Чем ваша компания гордится больше всего?",
            "What is your company most proud of?",
        ),
        q(
            "carnegie.success_story",
            S::Carnegie,
            K::Text,
            false,
            "Расскажите о самом большом успехе компании за последний год.",
            "Tell us about the company's biggest success in the last year.",
        ),
        q(
            "carnegie.market_position",
            S::Carnegie,
            K::Text,
            false,
            "Как вы оцениваете положение компании на рынке?",
            "How do you see the company's position in its market?",
        ),
        q(
            "carnegie.plans",
            S::Carnegie,
            K::Text,
            true,
            "Каковы планы развития компании на ближайшие год-два?",
            "What are the company's plans for the next year or two?",
        ),
        q(
            "carnegie.challenges",
            S::Carnegie,
            K::Text,
            false,
            "Какие задачи сейчас самые важные для вашего бизнеса?",
            "Which challenges matter most to your business right now?",
        ),
        q(
            "cooperation.services_used",
            S::Cooperation,
            K::Text,
            true,
            "Какими нашими услугами вы пользуетесь и для чего?",
            "Which of our services do you use, and for what?",
        ),
        q(
            "cooperation.satisfaction",
            S::Cooperation,
            K::Choice {
                options: vec![
                    opt("very_satisfied", "Полностью довольны", "Very satisfied"),
                    opt("satisfied", "Скорее довольны", "Satisfied"),
                    opt("neutral", "Нейтрально", "Neutral"),
                    opt("dissatisfied", "Недовольны", "Dissatisfied"),
                ],
            },
            true,
            "Насколько вы довольны нашим сотрудничеством?",
            "How satisfied are you with our cooperation?",
        ),
        q(
            "cooperation.support_contact",
            S::Cooperation,
            K::YesNo,
            false,
            "Знаете ли вы, к кому обращаться в службу поддержки?",
            "Do you know whom to contact in our support team?",
        ),
        q(
            "cooperation.improve",
            S::Cooperation,
            K::Text,
            false,
            "Что нам стоит улучшить в работе с вами?",
            "What should we improve in working with you?",
        ),
        q(
            "quality.speed",
            S::Quality,
            speed,
            true,
            "Получаете ли вы данные на скорости не ниже договорной? Запишите договорную и измеренную скорость.",
            "Do you receive data at no less than the contracted speed? Record contracted and measured speed.",
        ),
        q(
            "quality.outage_details",
            S::Quality,
            K::Text,
            false,
            "Если были перебои в последний месяц — когда и как долго?",
            "If there were outages in the last month: when, and for how long?",
        ),
        q(
            "quality.last_incident",
            S::Quality,
            K::Date,
            false,
            "Дата последнего заметного сбоя",
            "Date of the last noticeable outage",
        ),
        q(
            "expansion.more_volume",
            S::Expansion,
            K::YesNo,
            false,
            "Планируете ли вы увеличить объём услуг (скорость, число офисов, каналы)?",
            "Do you plan to increase the volume of services (speed, offices, links)?",
        ),
        q(
            "expansion.new_offices",
            S::Expansion,
            K::Number,
            false,
            "Сколько новых офисов или точек планируется открыть в этом году?",
            "How many new offices or sites do you plan to open this year?",
        ),
        q(
            "expansion.budget_month",
            S::Expansion,
            K::Date,
            false,
            "Когда у вас планируется бюджет на следующий год?",
            "When do you plan next year's budget?",
        ),
        q(
            "new_offers.interest",
            S::NewOffers,
            K::Choice {
                options: vec![
                    opt("cloud", "Облачные сервисы", "Cloud services"),
                    opt("telephony", "IP-телефония", "IP telephony"),
                    opt(
                        "security",
                        "Информационная безопасность",
                        "Information security",
                    ),
                    opt("none", "Пока ничего", "Nothing for now"),
                ],
            },
            false,
            "Какие новые направления вам интересны?",
            "Which new directions interest you?",
        ),
        q(
            "new_offers.needs",
            S::NewOffers,
            K::Text,
            false,
            "Какие задачи вы хотели бы решить с нашей помощью?",
            "Which problems would you like us to help you solve?",
        ),
        q(
            "new_offers.presentation_agreed",
            S::NewOffers,
            K::YesNo,
            false,
            "Договорились ли о презентации новых продуктов?",
            "Was a presentation of new products agreed?",
        ),
        q(
            "referrals.who",
            S::Referrals,
            K::Referrals,
            false,
            "Кто из ваших партнёров или знакомых мог бы заинтересоваться нашими услугами?",
            "Which of your partners or acquaintances might be interested in our services?",
        ),
        q(
            "referrals.may_mention",
            S::Referrals,
            K::YesNo,
            false,
            "Можно ли сослаться на вас при обращении?",
            "May we mention you when we contact them?",
        ),
        q(
            "referrals.comment",
            S::Referrals,
            K::Text,
            false,
            "Комментарий менеджера по итогам встречи",
            "Rep's comment on the meeting",
        ),
    ];
    let mut template = Template::default();
    let mut per_section: BTreeMap<Section, f64> = BTreeMap::new();
    for mut question in questions {
        let pos = per_section.entry(question.section).or_insert(0.0);
        *pos += 1.0;
        question.position = *pos;
        template.questions.insert(question.id.clone(), question);
    }
    template
}
