//! Meetings planned with a client: planning, moving, cancelling, what two devices moving
//! one meeting offline leave, the state a meeting is in, and its calendar file.

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use rapport_domain::client::{add_contact, new_client, read_client};
use rapport_domain::meeting::{
    CalendarEvent, calendar, cancel_meeting, meeting, meeting_conflicts, move_meeting, plan_meeting,
};
use rapport_domain::programme::{read_programme, set_meeting_warning_days};
use rapport_domain::{ContactInput, MeetingInput, MeetingState, Segment, check_document};

use crate::common::{T0, actor, client_doc, doc_id, programme_doc, programme_id};

fn input(at: &str, place: &str) -> MeetingInput {
    MeetingInput {
        at: at.to_owned(),
        place: place.to_owned(),
        contact_id: None,
    }
}

#[test]
fn a_meeting_is_planned_with_a_contact_moved_and_cancelled() {
    let mut doc = client_doc();
    let anna = add_contact(
        &mut doc,
        &ContactInput {
            name: "Анна Кузнецова".into(),
            role: "Финансовый директор".into(),
            ..Default::default()
        },
        T0 + 1,
    )
    .unwrap();
    let id = plan_meeting(
        &mut doc,
        programme_id(),
        "anna",
        &MeetingInput {
            contact_id: Some(anna.clone()),
            ..input("2026-03-10T10:30", "  Офис клиента, Тверская 1  ")
        },
        T0 + 2,
    )
    .unwrap();
    let m = meeting(&doc, &id).unwrap();
    assert_eq!((m.day(), m.time()), ("2026-03-10", "10:30"));
    assert_eq!(m.place, "Офис клиента, Тверская 1");
    assert_eq!(m.contact_id.as_deref(), Some(anna.as_str()));
    assert_eq!(
        (m.rep_id.as_str(), m.programme_id),
        ("anna", programme_id())
    );

    move_meeting(
        &mut doc,
        &id,
        &input("2026-03-12T15:00", "Видеозвонок"),
        T0 + 3,
    )
    .unwrap();
    let m = meeting(&doc, &id).unwrap();
    assert_eq!(
        (m.at.as_str(), m.place.as_str()),
        ("2026-03-12T15:00", "Видеозвонок")
    );
    assert_eq!(m.contact_id, None);

    cancel_meeting(&mut doc, &id, T0 + 4).unwrap();
    assert!(meeting(&doc, &id).unwrap().cancelled);
    // Moved again, it is planned again.
    move_meeting(
        &mut doc,
        &id,
        &input("2026-03-13T15:00", "Видеозвонок"),
        T0 + 5,
    )
    .unwrap();
    assert!(!meeting(&doc, &id).unwrap().cancelled);

    let client = read_client(&doc).unwrap();
    assert_eq!(client.meetings.len(), 1);
    check_document(&doc).unwrap();

    // Bad edits: typed errors that say what to fix, nothing written.
    let heads = doc.get_heads();
    let bad_time = plan_meeting(
        &mut doc,
        programme_id(),
        "anna",
        &input("10.03.2026 10:30", ""),
        T0,
    )
    .unwrap_err();
    assert_eq!(bad_time.code(), "invalid_date_time");
    assert!(
        bad_time.to_string().contains("YYYY-MM-DDTHH:MM"),
        "{bad_time}"
    );
    let nobody = MeetingInput {
        contact_id: Some("nobody".into()),
        ..input("2026-03-10T10:30", "")
    };
    assert_eq!(
        plan_meeting(&mut doc, programme_id(), "anna", &nobody, T0)
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        plan_meeting(
            &mut doc,
            programme_id(),
            "anna",
            &input("2026-03-10T10:30", &"д".repeat(501)),
            T0
        )
        .unwrap_err()
        .code(),
        "too_long"
    );
    assert_eq!(
        cancel_meeting(&mut doc, "nobody", T0).unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        move_meeting(&mut doc, "nobody", &input("2026-03-10T10:30", ""), T0)
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(doc.get_heads(), heads);
}

#[test]
fn two_devices_moving_one_meeting_offline_keep_both_times_until_one_is_chosen() {
    let mut base = client_doc();
    let id = plan_meeting(
        &mut base,
        programme_id(),
        "anna",
        &input("2026-03-10T10:30", "Офис"),
        T0 + 1,
    )
    .unwrap();
    let mut tablet = base.fork().with_actor(actor(2));
    let mut laptop = base.fork().with_actor(actor(3));
    move_meeting(&mut tablet, &id, &input("2026-03-11T09:00", "Офис"), T0 + 2).unwrap();
    move_meeting(&mut laptop, &id, &input("2026-03-12T16:00", "Офис"), T0 + 3).unwrap();
    tablet.merge(&mut laptop).unwrap();

    let conflicts = meeting_conflicts(&tablet).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        (
            conflicts[0].meeting_id.as_str(),
            conflicts[0].field.as_str()
        ),
        (id.as_str(), "at")
    );
    let mut values: Vec<&str> = conflicts[0]
        .values
        .iter()
        .map(|v| v.value.as_str())
        .collect();
    values.sort_unstable();
    assert_eq!(values, ["2026-03-11T09:00", "2026-03-12T16:00"]);
    let authors: Vec<&str> = conflicts[0]
        .values
        .iter()
        .map(|v| v.actor.as_str())
        .collect();
    assert!(
        authors.contains(&actor(2).to_hex_string().as_str()),
        "{authors:?}"
    );
    assert!(
        authors.contains(&actor(3).to_hex_string().as_str()),
        "{authors:?}"
    );
    check_document(&tablet).unwrap();

    // Choosing a time settles the conflict, on this device and wherever it syncs.
    move_meeting(&mut tablet, &id, &input("2026-03-12T16:00", "Офис"), T0 + 4).unwrap();
    assert!(meeting_conflicts(&tablet).unwrap().is_empty());
    laptop.merge(&mut tablet).unwrap();
    assert!(meeting_conflicts(&laptop).unwrap().is_empty());
    assert_eq!(meeting(&laptop, &id).unwrap().at, "2026-03-12T16:00");
}

#[test]
fn one_device_moving_the_time_and_another_the_place_merge_without_a_conflict() {
    let mut base = client_doc();
    let id = plan_meeting(
        &mut base,
        programme_id(),
        "anna",
        &input("2026-03-10T10:30", "Офис"),
        T0 + 1,
    )
    .unwrap();
    let mut tablet = base.fork().with_actor(actor(2));
    let mut laptop = base.fork().with_actor(actor(3));
    move_meeting(&mut tablet, &id, &input("2026-03-11T09:00", "Офис"), T0 + 2).unwrap();
    move_meeting(
        &mut laptop,
        &id,
        &input("2026-03-10T10:30", "Кафе «Пушкин»"),
        T0 + 3,
    )
    .unwrap();
    tablet.merge(&mut laptop).unwrap();
    assert!(meeting_conflicts(&tablet).unwrap().is_empty());
    let m = meeting(&tablet, &id).unwrap();
    assert_eq!(
        (m.at.as_str(), m.place.as_str()),
        ("2026-03-11T09:00", "Кафе «Пушкин»")
    );
}

#[test]
fn a_meeting_is_held_once_a_visit_is_dated_on_its_day_or_later_and_overdue_when_its_day_passed() {
    let mut doc = client_doc();
    let id = plan_meeting(
        &mut doc,
        programme_id(),
        "anna",
        &input("2026-03-10T10:30", ""),
        T0,
    )
    .unwrap();
    let m = meeting(&doc, &id).unwrap();
    assert_eq!(
        MeetingState::of(&m, [], "2026-03-09"),
        MeetingState::Planned
    );
    assert_eq!(
        MeetingState::of(&m, [], "2026-03-10"),
        MeetingState::Planned
    );
    assert_eq!(
        MeetingState::of(&m, [], "2026-03-11"),
        MeetingState::Overdue
    );
    // An earlier visit does not hold a later meeting.
    assert_eq!(
        MeetingState::of(&m, ["2026-03-01"], "2026-03-11"),
        MeetingState::Overdue
    );
    assert_eq!(
        MeetingState::of(&m, ["2026-03-01", "2026-03-10"], "2026-03-11"),
        MeetingState::Held
    );
    assert_eq!(
        MeetingState::of(&m, ["2026-03-12"], "2026-03-09"),
        MeetingState::Held
    );
    cancel_meeting(&mut doc, &id, T0 + 1).unwrap();
    let m = meeting(&doc, &id).unwrap();
    assert_eq!(
        MeetingState::of(&m, ["2026-03-10"], "2026-03-11"),
        MeetingState::Cancelled
    );
}

#[test]
fn a_client_document_made_before_meetings_existed_reads_and_takes_a_meeting() {
    let mut doc = new_client(
        actor(1),
        doc_id(7),
        "АО «Вектор»",
        Segment::KeyPrivate,
        None,
        T0,
    )
    .unwrap();
    // What a client document of an earlier build holds: no `meetings` at all.
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.delete(ROOT, "meetings")?;
        Ok(())
    })
    .unwrap();
    let old: Automerge = Automerge::load(&doc.save()).unwrap();
    assert!(read_client(&old).unwrap().meetings.is_empty());
    check_document(&old).unwrap();
    let mut doc = old.fork().with_actor(actor(2));
    let id = plan_meeting(
        &mut doc,
        programme_id(),
        "boris",
        &input("2026-04-01T11:00", "Склад"),
        T0 + 1,
    )
    .unwrap();
    assert_eq!(read_client(&doc).unwrap().meetings[&id].place, "Склад");

    // Two devices that each plan the first meeting of such a document concurrently both
    // make the `meetings` map: both meetings stay readable, and both can be moved.
    let mut a = old.fork().with_actor(actor(3));
    let mut b = old.fork().with_actor(actor(4));
    plan_meeting(
        &mut a,
        programme_id(),
        "boris",
        &input("2026-04-01T11:00", "А"),
        T0 + 2,
    )
    .unwrap();
    plan_meeting(
        &mut b,
        programme_id(),
        "boris",
        &input("2026-04-02T11:00", "Б"),
        T0 + 3,
    )
    .unwrap();
    a.merge(&mut b).unwrap();
    check_document(&a).unwrap();
    let both = read_client(&a).unwrap().meetings;
    let mut places: Vec<&str> = both.values().map(|m| m.place.as_str()).collect();
    places.sort_unstable();
    assert_eq!(places, ["А", "Б"]);
    for id in both.keys() {
        move_meeting(&mut a, id, &input("2026-04-03T12:00", "В"), T0 + 4).unwrap();
        cancel_meeting(&mut a, id, T0 + 5).unwrap();
    }
    assert!(
        read_client(&a)
            .unwrap()
            .meetings
            .values()
            .all(|m| m.cancelled && m.place == "В")
    );
}

#[test]
fn the_programme_says_how_near_its_end_unplanned_clients_are_flagged() {
    let mut doc = programme_doc();
    assert_eq!(read_programme(&doc).unwrap().meeting_warning_days, 14);
    set_meeting_warning_days(&mut doc, 30, T0 + 1).unwrap();
    assert_eq!(read_programme(&doc).unwrap().meeting_warning_days, 30);
    for bad in [0, 367] {
        let err = set_meeting_warning_days(&mut doc, bad, T0 + 2).unwrap_err();
        assert_eq!(err.code(), "out_of_range");
    }
    assert_eq!(read_programme(&doc).unwrap().meeting_warning_days, 30);
}

#[test]
fn a_calendar_file_has_one_event_per_meeting_in_cyrillic_folded_and_escaped() {
    let events = [
        CalendarEvent {
            uid: "m-1".into(),
            at: "2026-03-10T10:30".into(),
            summary: "VIP-визит: ООО «Ромашка», головной офис на Тверской улице".into(),
            location: "Москва, ул. Тверская, д. 1; 3 этаж".into(),
            description: "Анна Кузнецова, финансовый директор".into(),
            cancelled: false,
        },
        CalendarEvent {
            uid: "m-2".into(),
            at: "2026-03-11T09:00".into(),
            summary: "VIP-визит: АО «Вектор»".into(),
            location: String::new(),
            description: String::new(),
            cancelled: true,
        },
    ];
    let ics = calendar("Встречи: Борис Петров", &events, T0);
    assert!(
        ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
        "{ics}"
    );
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "a line of {} octets: {line}", line.len());
        assert!(!line.contains('\n'));
    }
    let unfolded = ics.replace("\r\n ", "");
    assert_eq!(unfolded.matches("BEGIN:VEVENT").count(), 2);
    assert!(unfolded.contains("X-WR-CALNAME:Встречи: Борис Петров\r\n"));
    assert!(unfolded.contains("DTSTART:20260310T103000\r\n"));
    assert!(unfolded.contains("DTSTAMP:20260302T090000Z\r\n"));
    assert!(
        unfolded
            .contains("SUMMARY:VIP-визит: ООО «Ромашка»\\, головной офис на Тверской улице\r\n")
    );
    assert!(unfolded.contains("LOCATION:Москва\\, ул. Тверская\\, д. 1\\; 3 этаж\r\n"));
    assert!(unfolded.contains("UID:m-2@rapport\r\nDTSTAMP"));
    assert!(unfolded.contains("STATUS:CANCELLED\r\n"));
    assert_eq!(unfolded.matches("STATUS:CONFIRMED").count(), 1);
}
