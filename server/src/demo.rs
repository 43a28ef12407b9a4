//! The demo programme: what `rapport-server serve --demo` creates on an empty store, so
//! a newcomer sees a programme under way at once: clients assigned, each demo rep's
//! tablet paired, visits completed, in progress, awaiting review, returned and
//! accepted, a failed quality check with its follow-up, referrals, opportunities, and
//! one conflict between a rep's tablet and laptop. Everything is made through the same
//! domain functions, pairing records and commit path as real use, and every visit is
//! written by its rep's own device actors, so history names the real authors.

use automerge::Automerge;
use rapport_domain::client::{add_contact, new_client, read_client, set_notes};
use rapport_domain::meeting::{cancel_meeting, plan_meeting};
use rapport_domain::programme::{
    add_client, apply_suggestion, new_programme, put_rep, read_programme, register_device,
    set_relationship,
};
use rapport_domain::visit::{
    OpportunityInput, ReferralInput, complete_visit, new_visit, put_contact_update,
    put_opportunity, put_referral, read_visit, record_quality_check, review_visit,
    set_scalar_answer, set_text_answer,
};
use rapport_domain::{
    Capacity, ContactInput, DocId, DomainError, Lead, MeetingInput, OpportunityKind, Period,
    ProgrammeInit, QualityAnswer, ReviewInput, ScalarAnswer, Segment, Strength, Template, Verdict,
    VisitInit, default_template, suggest_assignments,
};

use crate::accounts::create_lead;
use crate::auth::{edit_actor, hash_secret, new_token, random_bytes};
use crate::db::DeviceRecord;
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
    let read = read_programme(&programme).map_err(domain)?;
    // Each rep's tablet (and Smirnova's laptop too), paired as a real device is.
    let mut devices = std::collections::BTreeMap::new();
    for (rep, name, _, _) in reps {
        let label = format!("Планшет: {name}");
        let actor = pair_demo_device(state, &lead, programme_id, rep, &label, now).await?;
        register_device(
            &mut programme,
            &crate::auth::registered_actor(&actor),
            rep,
            &label,
            now,
        )
        .map_err(domain)?;
        devices.insert(rep, actor);
    }
    let laptop_label = format!("Ноутбук: {}", reps[0].1);
    let laptop =
        pair_demo_device(state, &lead, programme_id, reps[0].0, &laptop_label, now).await?;
    register_device(
        &mut programme,
        &crate::auth::registered_actor(&laptop),
        reps[0].0,
        &laptop_label,
        now,
    )
    .map_err(domain)?;
    // The first clients of the list, each with its rep, are visited in one way each;
    // the conflict needs a rep with two devices.
    let mut unvisited: Vec<(DocId, String)> = docs
        .iter()
        .filter_map(|(id, _)| {
            let rep = read.assignments.get(&id.to_string())?.current_rep.clone()?;
            Some((*id, rep))
        })
        .collect();
    let ctx = DemoVisits {
        programme: programme_id,
        template: &read.template,
        lead_actor: &lead.actor,
        lead_name: &lead.name,
        now,
    };
    for story in Story::ALL {
        let Some(at) = unvisited
            .iter()
            .position(|(_, rep)| story != Story::Conflict || rep == reps[0].0)
        else {
            continue;
        };
        let (client, rep) = unvisited.remove(at);
        let device = devices.get(rep.as_str()).cloned().unwrap_or_default();
        let laptop = (rep == reps[0].0).then_some(laptop.as_str());
        let (id, visit) = ctx
            .visit(story, client, &rep, &device, laptop)
            .map_err(domain)?;
        docs.push((id, visit));
    }
    plan_demo_meetings(&mut docs, &unvisited, &devices, programme_id, now).map_err(domain)?;
    docs.push((programme_id, programme));
    create_docs(state, docs).await?;
    Ok(Some(format!(
        "Demo programme created. Sign in as {DEMO_EMAIL} with the password {password}\n\
         (shown once; set your own with `rapport-server create-lead` for real use)."
    )))
}

/// The reps' meetings, planned by their tablets: one held on the day of each visit; of
/// the clients not visited, one meeting tomorrow, one later this week or next, one
/// overdue (its day passed with no visit), one cancelled; the rest have none yet (the
/// lead's list of unplanned clients).
fn plan_demo_meetings(
    docs: &mut [(DocId, Automerge)],
    unvisited: &[(DocId, String)],
    devices: &std::collections::BTreeMap<&str, String>,
    programme: DocId,
    now: i64,
) -> Result<(), DomainError> {
    let visits: Vec<(DocId, String, String)> = docs
        .iter()
        .filter_map(|(_, doc)| read_visit(doc).ok())
        .map(|v| (v.client_id, v.rep_id, v.date))
        .collect();
    let planned = visits
        .into_iter()
        .map(|(c, rep, date)| (c, rep, format!("{date}T10:00"), false));
    let ahead = [
        (-1, "11:00", false),
        (-3, "15:30", false),
        (2, "10:00", false),
        (-6, "12:00", true),
    ];
    let ahead = unvisited
        .iter()
        .zip(ahead)
        .map(|((c, rep), (days, time, cancel))| {
            (
                *c,
                rep.clone(),
                format!("{}T{time}", days_before(now, days)),
                cancel,
            )
        });
    for (client, rep, at, cancel) in planned.chain(ahead) {
        let Some(device) = devices.get(rep.as_str()) else {
            continue;
        };
        let Some((_, doc)) = docs.iter_mut().find(|(id, _)| *id == client) else {
            continue;
        };
        doc.set_actor(edit_actor(device));
        let contact_id = read_client(doc)?.contacts.into_keys().next();
        let input = MeetingInput {
            at,
            place: "Офис клиента".to_owned(),
            contact_id,
        };
        let id = plan_meeting(doc, programme, &rep, &input, now)?;
        if cancel {
            cancel_meeting(doc, &id, now)?;
        }
    }
    Ok(())
}

/// Registers a demo device for `rep` as pairing does (a one-time code made by the lead
/// and used at once), without its token ever leaving the server: the demo's devices
/// only author the demo's visits. Returns its actor (hex).
async fn pair_demo_device(
    state: &AppState,
    lead: &crate::db::LeadRow,
    programme: DocId,
    rep: &str,
    label: &str,
    now: i64,
) -> HttpResult<String> {
    let code = new_token("");
    state
        .db
        .insert_pairing_code(
            &hash_secret(&code),
            programme,
            Some(rep),
            label,
            &lead.id,
            now,
            now + 60_000,
        )
        .await?;
    let actor = hex::encode(random_bytes::<16>());
    let token = hash_secret(&new_token(crate::auth::DEVICE_PREFIX));
    let candidate = DeviceRecord::candidate(&actor, label, token, now);
    state
        .db
        .redeem_pairing_code(&hash_secret(&code), &candidate, now)
        .await?
        .ok_or_else(|| HttpError::internal("demo pairing", "the fresh code was refused"))?;
    Ok(actor)
}

/// How far one demo visit got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Story {
    /// Completed, a growth opportunity and two referrals; the lead accepted it.
    Accepted,
    /// Completed; the connection's speed fails its contract, which opened a follow-up.
    QualityFailed,
    /// Completed and returned by the lead with comments.
    Returned,
    /// Started, a few answers in.
    InProgress,
    /// Completed; the rep's tablet and laptop answered one question differently.
    Conflict,
}

impl Story {
    const ALL: [Story; 5] = [
        Story::Accepted,
        Story::QualityFailed,
        Story::Returned,
        Story::InProgress,
        Story::Conflict,
    ];
}

/// What the demo's visits share.
struct DemoVisits<'a> {
    programme: DocId,
    template: &'a Template,
    lead_actor: &'a str,
    lead_name: &'a str,
    now: i64,
}

/// A day `days` before `now`, `YYYY-MM-DD` (UTC).
fn days_before(now: i64, days: i64) -> String {
    crate::clock::day_of(now - days * 86_400_000)
}

impl DemoVisits<'_> {
    /// The visit of `client` by `rep` that `story` tells, written by the rep's device
    /// (`device`, hex actor; `laptop` for the rep's second device).
    fn visit(
        &self,
        story: Story,
        client: DocId,
        rep: &str,
        device: &str,
        laptop: Option<&str>,
    ) -> Result<(DocId, Automerge), DomainError> {
        let t = self.template;
        let id = DocId::random();
        let days = match story {
            Story::Accepted => 20,
            Story::QualityFailed => 12,
            Story::Returned => 9,
            Story::Conflict => 5,
            Story::InProgress => 1,
        };
        // Minutes apart, in the order a meeting goes.
        let mut at = self.now - days * 86_400_000;
        let mut tick = || {
            at += 60_000;
            at
        };
        let init = VisitInit {
            id,
            programme_id: self.programme,
            client_id: client,
            date: days_before(self.now, days),
            rep_id: rep.to_owned(),
        };
        let mut doc = new_visit(edit_actor(device), &init, t, tick())?;
        set_text_answer(
            &mut doc,
            t,
            "company.meeting_place",
            "Переговорная у директора, 3-й этаж",
            tick(),
        )?;
        put_contact_update(
            &mut doc,
            None,
            &ContactInput {
                updates_contact_id: None,
                name: "Светлана Игоревна Орлова".to_owned(),
                role: "финансовый директор".to_owned(),
                phone: "+7 495 765-43-21".to_owned(),
                email: "orlova@example.ru".to_owned(),
            },
            tick(),
        )?;
        set_text_answer(
            &mut doc,
            t,
            "carnegie.proud_of",
            "Запустили собственное производство и вдвое сократили сроки поставки",
            tick(),
        )?;
        if story == Story::InProgress {
            return Ok((id, doc));
        }
        set_text_answer(
            &mut doc,
            t,
            "carnegie.plans",
            "Открыть два филиала в следующем году",
            tick(),
        )?;
        set_text_answer(
            &mut doc,
            t,
            "cooperation.services_used",
            "Интернет 100 Мбит/с в головном офисе, IP-телефония",
            tick(),
        )?;
        let satisfaction = if story == Story::QualityFailed {
            "dissatisfied"
        } else {
            "satisfied"
        };
        set_scalar_answer(
            &mut doc,
            t,
            "cooperation.satisfaction",
            &ScalarAnswer::Choice(satisfaction.to_owned()),
            tick(),
        )?;
        let actual = if story == Story::QualityFailed {
            38.0
        } else {
            104.0
        };
        record_quality_check(
            &mut doc,
            t,
            "quality.speed",
            &QualityAnswer {
                target: 100.0,
                actual,
                outage_last_month: story == Story::QualityFailed,
                note: "Замер speedtest в переговорной".to_owned(),
                at_most: false,
            },
            tick(),
        )?;
        if story == Story::Accepted {
            put_opportunity(
                &mut doc,
                None,
                &OpportunityInput {
                    kind: OpportunityKind::Growth,
                    description: "Канал 1 Гбит/с для нового склада".to_owned(),
                    product: "Интернет".to_owned(),
                    estimated_value: 1_200_000.0,
                    currency: "RUB".to_owned(),
                },
                tick(),
            )?;
            for (name, company) in [
                ("Дмитрий Соколов", "ООО «Балтийский терминал»"),
                ("Наталья Ким", "АО «Сибирские сети»"),
            ] {
                put_referral(
                    &mut doc,
                    None,
                    &ReferralInput {
                        name: name.to_owned(),
                        company: company.to_owned(),
                        contact: "+7 812 000-00-00".to_owned(),
                        note: "Можно сослаться на директора".to_owned(),
                    },
                    tick(),
                )?;
            }
        }
        if let (Story::Conflict, Some(laptop)) = (story, laptop) {
            // Offline on both: the tablet says yes, the laptop no; both values stay.
            let mut other = doc.fork().with_actor(edit_actor(laptop));
            let q = "cooperation.support_contact";
            set_scalar_answer(&mut doc, t, q, &ScalarAnswer::YesNo(true), tick())?;
            set_scalar_answer(&mut other, t, q, &ScalarAnswer::YesNo(false), tick())?;
            doc.merge(&mut other)?;
        }
        complete_visit(&mut doc, t, tick())?;
        let verdict = match story {
            Story::Accepted => Some(ReviewInput {
                verdict: Some(Verdict::Accepted),
                comment: "Отличная встреча, возможность роста зафиксирована.".to_owned(),
                ..ReviewInput::default()
            }),
            Story::Returned => Some(ReviewInput {
                verdict: Some(Verdict::Returned),
                comment: "Уточните планы клиента: сроки и бюджет.".to_owned(),
                answer_comments: [(
                    "carnegie.plans".to_owned(),
                    "Когда откроются филиалы и кто принимает решение?".to_owned(),
                )]
                .into(),
            }),
            _ => None,
        };
        if let Some(input) = verdict {
            doc.set_actor(edit_actor(self.lead_actor));
            let round = hex::encode(random_bytes::<8>());
            review_visit(&mut doc, t, &round, &input, self.lead_name, tick())?;
        }
        Ok((id, doc))
    }
}
