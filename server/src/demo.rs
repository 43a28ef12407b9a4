//! The demo programme: what `rapport-server serve --demo` creates on an empty store, so
//! a newcomer sees a working programme at once. Everything is made through the same
//! domain functions and commit path as real use.

use rapport_domain::client::{add_contact, new_client, set_notes};
use rapport_domain::programme::{
    add_client, apply_suggestion, new_programme, put_rep, read_programme, register_device,
    set_relationship,
};
use rapport_domain::{
    Capacity, ContactInput, DocId, Lead, Period, ProgrammeInit, Segment, Strength,
    default_template, suggest_assignments,
};

use crate::accounts::create_lead;
use crate::auth::edit_actor;
use crate::edit::create_docs;
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

/// The demo lead's sign-in name.
pub const DEMO_EMAIL: &str = "lead@demo.rapport";

/// (company, segment, original rep index, relationship, monopolised, contact, role, phone)
type DemoClient = (
    &'static str,
    Segment,
    Option<usize>,
    Strength,
    bool,
    &'static str,
    &'static str,
    &'static str,
);

const CLIENTS: [DemoClient; 12] = [
    (
        "ООО «Северный ветер»",
        Segment::Corporate,
        Some(0),
        Strength::Excellent,
        false,
        "Ольга Викторовна Белова",
        "директор по закупкам",
        "+7 495 123-45-01",
    ),
    (
        "АО «Уральские самоцветы»",
        Segment::Corporate,
        Some(0),
        Strength::Good,
        false,
        "Павел Андреевич Зуев",
        "ИТ-директор",
        "+7 343 222-10-02",
    ),
    (
        "ООО «Волга-Логистик»",
        Segment::Corporate,
        Some(1),
        Strength::Excellent,
        true,
        "Наталья Сергеевна Орлова",
        "генеральный директор",
        "+7 846 310-20-03",
    ),
    (
        "ПАО «Сибирская пивоварня»",
        Segment::Corporate,
        Some(1),
        Strength::Weak,
        false,
        "Игорь Валентинович Кедров",
        "финансовый директор",
        "+7 383 555-30-04",
    ),
    (
        "ООО «Балтийский хлеб»",
        Segment::Corporate,
        Some(2),
        Strength::Excellent,
        false,
        "Светлана Юрьевна Громова",
        "руководитель офиса",
        "+7 812 640-40-05",
    ),
    (
        "ЗАО «Медтехника Плюс»",
        Segment::Corporate,
        Some(2),
        Strength::Unknown,
        false,
        "Дмитрий Олегович Лисицын",
        "главный инженер",
        "+7 495 700-50-06",
    ),
    (
        "ООО «Кубань-Агро»",
        Segment::Corporate,
        None,
        Strength::Unknown,
        false,
        "Елена Петровна Сухова",
        "коммерческий директор",
        "+7 861 250-60-07",
    ),
    (
        "ООО «Типография «Слово»",
        Segment::Corporate,
        Some(0),
        Strength::Weak,
        true,
        "Андрей Ильич Мельников",
        "владелец",
        "+7 495 980-70-08",
    ),
    (
        "АО «Казанский приборный завод»",
        Segment::Corporate,
        None,
        Strength::Unknown,
        false,
        "Рустам Ильдарович Сафин",
        "начальник отдела связи",
        "+7 843 570-80-09",
    ),
    (
        "ООО «Дальневосточная рыба»",
        Segment::Corporate,
        Some(1),
        Strength::Good,
        false,
        "Виктор Семёнович Ли",
        "директор филиала",
        "+7 423 240-90-10",
    ),
    (
        "ИП Соколова Анна Михайловна",
        Segment::KeyPrivate,
        Some(2),
        Strength::Excellent,
        false,
        "Анна Михайловна Соколова",
        "владелица",
        "+7 916 111-00-11",
    ),
    (
        "ООО «Горный воздух»",
        Segment::Corporate,
        None,
        Strength::Unknown,
        false,
        "Тимур Асланович Бжассо",
        "управляющий",
        "+7 878 220-11-12",
    ),
];

/// Creates the demo programme and lead when the store has no lead yet. Returns the
/// text to print once (with the lead's password), or `None` when there was data.
pub async fn seed_if_empty(state: &AppState) -> HttpResult<Option<String>> {
    if state.db.count_leads().await? > 0 {
        return Ok(None);
    }
    let password = crate::auth::new_token("")[..16].to_owned();
    let lead = create_lead(state, DEMO_EMAIL, "Елена Руководитель", &password).await?;
    let now = crate::clock::now_ms();
    let actor = || edit_actor(&lead.actor);
    let domain = |e: rapport_domain::DomainError| HttpError::from(e);

    let programme_id = DocId::random();
    let year = crate::clock::today()[..4].parse::<i32>().unwrap_or(2026);
    let mut programme = new_programme(
        actor(),
        &ProgrammeInit {
            id: programme_id,
            name: format!("VIP-программа {year} (демо)"),
            period: Period {
                start: format!("{year}-01-01"),
                end: format!("{year}-12-31"),
            },
            lead: Lead {
                name: lead.name.clone(),
                email: lead.email.clone(),
            },
        },
        &default_template(),
        now,
    )
    .map_err(domain)?;
    register_device(
        &mut programme,
        &crate::auth::registered_actor(&lead.actor),
        "lead",
        &lead.name,
        now,
    )
    .map_err(domain)?;
    let reps = [
        (
            "rep-smirnova",
            "Анна Смирнова",
            "smirnova@demo.rapport",
            Capacity::Dedicated,
        ),
        (
            "rep-petrov",
            "Игорь Петров",
            "petrov@demo.rapport",
            Capacity::Share { percent: 50 },
        ),
        (
            "rep-kuznetsova",
            "Мария Кузнецова",
            "kuznetsova@demo.rapport",
            Capacity::Share { percent: 50 },
        ),
    ];
    for (id, name, email, capacity) in reps {
        put_rep(&mut programme, id, name, email, capacity, true, now).map_err(domain)?;
    }
    let mut docs = Vec::new();
    for (company, segment, original, strength, monopolised, contact, role, phone) in CLIENTS {
        let id = DocId::random();
        let original = original.map(|i| reps[i].0);
        let mut client =
            new_client(actor(), id, company, segment, original, now).map_err(domain)?;
        add_contact(
            &mut client,
            &ContactInput {
                updates_contact_id: None,
                name: contact.to_owned(),
                role: role.to_owned(),
                phone: phone.to_owned(),
                email: String::new(),
            },
            now,
        )
        .map_err(domain)?;
        if monopolised {
            set_notes(
                &mut client,
                "Менеджер не допускает коллег к клиенту — переназначить.",
                now,
            )
            .map_err(domain)?;
        }
        add_client(&mut programme, id, now).map_err(domain)?;
        set_relationship(&mut programme, id, original, strength, monopolised, now)
            .map_err(domain)?;
        docs.push((id, client));
    }
    let read = read_programme(&programme).map_err(domain)?;
    let suggestion = suggest_assignments(&read.rep_capacities(), &read.clients_for_assignment())
        .map_err(|e| HttpError::internal("demo assignment", e))?;
    apply_suggestion(&mut programme, &suggestion, "lead", now).map_err(domain)?;
    docs.push((programme_id, programme));
    create_docs(state, docs).await?;
    Ok(Some(format!(
        "Demo programme created. Sign in as {DEMO_EMAIL} with the password {password}\n\
         (shown once; set your own with `rapport-server create-lead` for real use)."
    )))
}
