//! Meetings planned on the reps' devices, as the lead sees them, against the real server
//! in-process: the device plans, moves and cancels offline and syncs; two devices moving
//! one meeting offline leave a conflict card on both until one time is chosen; the
//! lead's report counts planned, held and overdue per rep, filters by rep and week, and
//! flags unplanned clients as the programme's end nears (a setting); the calendar files
//! of the lead and of the device; the clients list and export show the next meeting.
//! Every refusal says what to fix. SQLite always, PostgreSQL when configured.

use rapport_api::meetings::MeetingCard;
use rapport_api::{FileOut, Lang, MeetingEdit, MeetingInput, MeetingsView, Request, Response};
use rapport_domain::{DocId, MeetingState};
use rapport_testkit::{Backend, TestDevice, TestServer, eventually};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

async fn ask(device: &TestDevice, request: Request) -> Response {
    let what = format!("{request:?}");
    device
        .core()
        .handle(request)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn plan(device: &TestDevice, client: DocId, at: &str, place: &str) -> String {
    let edit = MeetingEdit::Plan {
        meeting: MeetingInput {
            at: at.to_owned(),
            place: place.to_owned(),
            contact_id: None,
        },
    };
    match ask(
        device,
        Request::EditMeeting {
            client_id: client,
            edit,
        },
    )
    .await
    {
        Response::MeetingSaved(s) => s.meeting_id,
        other => panic!("planning answered {other:?}"),
    }
}

async fn move_to(device: &TestDevice, client: DocId, meeting_id: &str, at: &str, place: &str) {
    let edit = MeetingEdit::Move {
        meeting_id: meeting_id.to_owned(),
        meeting: MeetingInput {
            at: at.to_owned(),
            place: place.to_owned(),
            contact_id: None,
        },
    };
    let answer = ask(
        device,
        Request::EditMeeting {
            client_id: client,
            edit,
        },
    )
    .await;
    assert!(matches!(answer, Response::MeetingSaved(_)), "{answer:?}");
}

async fn my_meetings(device: &TestDevice, today: &str) -> MeetingsView {
    match ask(
        device,
        Request::Meetings {
            today: today.to_owned(),
        },
    )
    .await
    {
        Response::Meetings(v) => v,
        other => panic!("meetings answered {other:?}"),
    }
}

fn card<'a>(view: &'a MeetingsView, id: &str) -> &'a MeetingCard {
    view.meetings
        .iter()
        .find(|m| m.meeting_id == id)
        .unwrap_or_else(|| panic!("meeting {id} in {view:?}"))
}

/// `YYYY-MM-DD` of today (UTC, as the server judges) moved by `days`.
fn day(days: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_planned_offline_reach_the_lead_and_a_double_move_is_a_conflict_card(
    #[case] backend: Backend,
) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let mut w = ts.rep_with_client("ООО «Ромашка»").await;
    let (token, p, romashka) = (w.lead.token.clone(), w.programme, w.client);
    let vector = ts.add_client(&w.lead, p, "АО «Вектор»", "ivanov").await;
    let sever = ts.add_client(&w.lead, p, "ЗАО «Север»", "ivanov").await;
    w.tablet.sync_until_has(&[vector, sever]).await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let token = token.clone();
        let ts = &ts;
        async move { ts.call(method, &path, Some(&token), body).await }
    };
    let (today, next_month, last_month) = (day(0), day(30), day(-40));

    // Offline on the tablet: a meeting ahead, one held (a visit came after it), one
    // passed with no visit, one cancelled.
    let ahead = plan(
        &w.tablet,
        romashka,
        &format!("{next_month}T10:30"),
        "Тверская, 1",
    )
    .await;
    let held = plan(&w.tablet, romashka, "2026-03-02T09:00", "Офис клиента").await;
    w.tablet.new_visit(romashka); // dated 2026-03-10
    let overdue = plan(&w.tablet, vector, &format!("{last_month}T15:00"), "").await;
    let called_off = plan(&w.tablet, sever, &format!("{next_month}T12:00"), "").await;
    let cancel = MeetingEdit::Cancel {
        meeting_id: called_off.clone(),
    };
    ask(
        &w.tablet,
        Request::EditMeeting {
            client_id: sever,
            edit: cancel,
        },
    )
    .await;
    let view = my_meetings(&w.tablet, &today).await;
    assert_eq!(card(&view, &ahead).state, MeetingState::Planned);
    assert_eq!(card(&view, &held).state, MeetingState::Held);
    assert_eq!(card(&view, &overdue).state, MeetingState::Overdue);
    assert_eq!(card(&view, &called_off).state, MeetingState::Cancelled);
    assert_eq!(card(&view, &ahead).company, "ООО «Ромашка»");
    let planned: Vec<(&str, bool)> = view
        .clients
        .iter()
        .map(|c| (c.company.as_str(), c.planned))
        .collect();
    assert_eq!(
        planned,
        [
            ("АО «Вектор»", false),
            ("ЗАО «Север»", false),
            ("ООО «Ромашка»", true)
        ]
    );

    // Bad edits say what to fix and store nothing.
    let bad = MeetingEdit::Plan {
        meeting: MeetingInput {
            at: "07.12.2026 10:00".into(),
            place: String::new(),
            contact_id: None,
        },
    };
    let err = w
        .tablet
        .core()
        .handle(Request::EditMeeting {
            client_id: romashka,
            edit: bad,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("YYYY-MM-DDTHH:MM"), "{err}");
    let err = w
        .tablet
        .core()
        .handle(Request::Meetings {
            today: "сегодня".into(),
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
    let err = w
        .tablet
        .core()
        .handle(Request::EditMeeting {
            client_id: DocId::random(),
            edit: MeetingEdit::Cancel {
                meeting_id: ahead.clone(),
            },
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client"), "{err}");

    // Back at the office: the lead sees them.
    w.tablet.sync().await;
    let report = eventually("the meetings on the server", || {
        let call = &call;
        async move {
            let (status, body) = call(
                Method::GET,
                format!("/api/v1/programmes/{p}/meetings"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            (body["meetings"].as_array().map_or(0, Vec::len) == 4).then_some(body)
        }
    })
    .await;
    let rep = &report["reps"][0];
    assert_eq!(rep["name"], "Иван Иванов");
    assert_eq!(
        (
            &rep["planned"],
            &rep["held"],
            &rep["overdue"],
            &rep["cancelled"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1)),
        "{report}"
    );
    // Not visited (the visit is a draft) and nothing planned: Вектор and Север.
    let unplanned: Vec<&str> = report["unplanned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["company"].as_str().unwrap())
        .collect();
    assert_eq!(unplanned, ["АО «Вектор»", "ЗАО «Север»"]);
    assert_eq!(rep["unplanned_clients"], 2);
    assert_eq!(
        report["end_near"], true,
        "the programme ended in June: {report}"
    );

    // Filters: the week of the meeting ahead, another week, and the rep.
    let (_, week) = call(
        Method::GET,
        format!("/api/v1/programmes/{p}/meetings?week={next_month}&rep=ivanov"),
        None,
    )
    .await;
    let ids: Vec<&str> = week["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["meeting_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&ahead.as_str()) && !ids.contains(&held.as_str()),
        "{week}"
    );
    assert!(week["week"][0].as_str().unwrap() <= next_month.as_str());
    let (_, quiet) = call(
        Method::GET,
        format!("/api/v1/programmes/{p}/meetings?week=2025-01-01"),
        None,
    )
    .await;
    assert_eq!(quiet["meetings"], json!([]), "{quiet}");
    assert_eq!(quiet["reps"][0]["planned"], 0);
    for (query, http, code) in [
        ("week=01.12.2026", 422, "invalid_date"),
        ("rep=nobody", 404, "not_found"),
    ] {
        let (status, body) = call(
            Method::GET,
            format!("/api/v1/programmes/{p}/meetings?{query}"),
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (http, Some(code)),
            "{body}"
        );
    }

    // The setting: how near the end unplanned clients are flagged.
    let settings = |end: String, days: u32| {
        json!({"name": "VIP-программа 2026 🚀", "start": "2026-03-01", "end": end,
            "lead_name": "Ольга Смирнова", "lead_email": "olga@example.ru",
            "meeting_warning_days": days})
    };
    for (days, near) in [(14, false), (60, true)] {
        let (status, body) = call(
            Method::PUT,
            format!("/api/v1/programmes/{p}"),
            Some(settings(day(30), days)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["meeting_warning_days"], days);
        let (_, report) = call(
            Method::GET,
            format!("/api/v1/programmes/{p}/meetings"),
            None,
        )
        .await;
        assert_eq!(report["end_near"], near, "{days} days: {report}");
        assert_eq!(report["warning_days"], days);
    }
    let (status, body) = call(
        Method::PUT,
        format!("/api/v1/programmes/{p}"),
        Some(settings(day(90), 0)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("out_of_range")),
        "{body}"
    );
    // Refused whole: the new end that came with the bad number is not stored either.
    let (_, programme) = call(Method::GET, format!("/api/v1/programmes/{p}"), None).await;
    assert_eq!(programme["period"]["end"], day(30), "{programme}");
    assert_eq!(programme["meeting_warning_days"], 60, "{programme}");

    // The clients list and its export show the next meeting.
    let (_, clients) = call(Method::GET, format!("/api/v1/programmes/{p}/clients"), None).await;
    let next: Vec<(&str, &Value)> = clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["company"].as_str().unwrap(), &c["next_meeting"]))
        .collect();
    assert_eq!(
        next,
        [
            ("АО «Вектор»", &Value::Null),
            ("ЗАО «Север»", &Value::Null),
            ("ООО «Ромашка»", &json!(format!("{next_month}T10:30")))
        ]
    );
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let (url, token) = (ts.url().to_owned(), token.clone());
        async move {
            let r = http
                .get(format!("{url}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            let content_type = r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            (
                r.status().as_u16(),
                content_type,
                r.text().await.expect("body"),
            )
        }
    };
    let (_, _, csv) = get(format!("/api/v1/programmes/{p}/exports/clients.csv")).await;
    assert!(csv.contains("Встреча запланирована"), "{csv}");
    assert!(csv.contains(&format!("{next_month} 10:30")), "{csv}");

    // The calendar files: the lead's (per rep) and the device's, one event per meeting.
    let (status, content_type, ics) =
        get(format!("/api/v1/programmes/{p}/meetings.ics?rep=ivanov")).await;
    assert_eq!(status, 200, "{ics}");
    assert!(content_type.starts_with("text/calendar"), "{content_type}");
    let unfolded = ics.replace("\r\n ", "");
    assert!(
        unfolded.contains("X-WR-CALNAME:Встречи: Иван Иванов\r\n"),
        "{ics}"
    );
    assert!(
        unfolded.contains("SUMMARY:VIP-визит: ООО «Ромашка»\r\n"),
        "{ics}"
    );
    assert!(unfolded.contains("LOCATION:Тверская\\, 1\r\n"), "{ics}");
    assert_eq!(unfolded.matches("BEGIN:VEVENT").count(), 4);
    assert_eq!(unfolded.matches("STATUS:CANCELLED").count(), 1);
    let (status, _, body) = get(format!("/api/v1/programmes/{p}/meetings.ics?rep=nobody")).await;
    assert_eq!(status, 404, "{body}");
    let Response::File(FileOut { name, text, .. }) =
        ask(&w.tablet, Request::MeetingsCalendar { lang: Lang::Ru }).await
    else {
        panic!("not a file")
    };
    assert!(name.ends_with(".ics"));
    for id in [&ahead, &held, &overdue, &called_off] {
        assert!(text.contains(&format!("UID:{id}@rapport")), "{text}");
        assert!(unfolded.contains(&format!("UID:{id}@rapport")), "{ics}");
    }

    // A second tablet of the rep: both move the meeting ahead offline.
    let mut laptop = ts.device(&w.lead, p, Some("ivanov")).await;
    laptop.sync_until_has(&[romashka]).await;
    let later = day(31);
    move_to(
        &w.tablet,
        romashka,
        &ahead,
        &format!("{next_month}T09:00"),
        "Тверская, 1",
    )
    .await;
    move_to(
        &laptop,
        romashka,
        &ahead,
        &format!("{later}T16:00"),
        "Тверская, 1",
    )
    .await;
    w.tablet.sync().await;
    laptop.sync().await;
    w.tablet.sync().await;
    for device in [&w.tablet, &laptop] {
        let view = my_meetings(device, &today).await;
        let c = card(&view, &ahead);
        assert_eq!(c.conflicts.len(), 1, "{c:?}");
        assert_eq!(c.conflicts[0].field, "at");
        let mut values: Vec<&str> = c.conflicts[0]
            .values
            .iter()
            .map(|v| v.value.as_str())
            .collect();
        values.sort_unstable();
        assert_eq!(
            values,
            [format!("{next_month}T09:00"), format!("{later}T16:00")]
        );
        assert!(
            c.conflicts[0]
                .values
                .iter()
                .all(|v| v.author.contains("Иван Иванов")),
            "{c:?}"
        );
    }
    // The rep chooses on the laptop: the card is gone everywhere after a sync.
    move_to(
        &laptop,
        romashka,
        &ahead,
        &format!("{later}T16:00"),
        "Тверская, 1",
    )
    .await;
    laptop.sync().await;
    w.tablet.sync().await;
    for device in [&w.tablet, &laptop] {
        let view = my_meetings(device, &today).await;
        let c = card(&view, &ahead);
        assert!(c.conflicts.is_empty(), "{c:?}");
        assert_eq!(c.at, format!("{later}T16:00"));
    }
}
