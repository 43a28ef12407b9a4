//! The reps' meetings as the lead sees them: per rep planned, held, overdue; the
//! meetings of a week; clients with no meeting planned while the programme's end is
//! near; and the calendar file of a rep's meetings. Read from the client documents'
//! projections, so it shows what the devices have synced.

use std::collections::HashMap;

use rapport_api::lead::{LeadMeeting, MeetingFilter, MeetingsReport, RepMeetings, UnplannedClient};
use rapport_domain::meeting::{CalendarEvent, calendar as ics};
use rapport_domain::{Client, DocId, Lang, Meeting, MeetingState, VisitState};

use crate::error::{HttpError, HttpResult};
use crate::programmes::ProgrammeData;

fn parse_day(field: &str, value: &str) -> HttpResult<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value.trim(), format).map_err(|_| {
        HttpError::invalid(
            "invalid_date",
            format!("{field}: {value:?} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-07"),
        )
    })
}

fn day(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Monday and Sunday of the week of `date`.
fn week_of(date: time::Date) -> (String, String) {
    let monday = date - time::Duration::days(i64::from(date.weekday().number_days_from_monday()));
    (day(monday), day(monday + time::Duration::days(6)))
}

/// Each meeting of the programme with its client and state, and the dates of the
/// programme's visits per client.
struct Meetings<'a> {
    data: &'a ProgrammeData,
    visit_dates: HashMap<DocId, Vec<&'a str>>,
}

impl<'a> Meetings<'a> {
    fn new(data: &'a ProgrammeData) -> Self {
        let mut visit_dates: HashMap<DocId, Vec<&str>> = HashMap::new();
        for v in &data.visits {
            visit_dates.entry(v.client_id).or_default().push(&v.date);
        }
        Self { data, visit_dates }
    }

    /// Every meeting of the programme: client, id, meeting.
    fn all(&self) -> impl Iterator<Item = (&'a Client, &'a String, &'a Meeting)> + '_ {
        let programme = self.data.programme.id;
        self.data.clients.iter().flat_map(move |c| {
            c.meetings
                .iter()
                .filter(move |(_, m)| m.programme_id == programme)
                .map(move |(id, m)| (c, id, m))
        })
    }

    fn state(&self, client: DocId, m: &Meeting, today: &str) -> MeetingState {
        let dates = self.visit_dates.get(&client).map_or(&[][..], Vec::as_slice);
        MeetingState::of(m, dates.iter().copied(), today)
    }

    fn rep_name(&self, rep: &str) -> String {
        self.data
            .programme
            .reps
            .get(rep)
            .map_or_else(|| rep.to_owned(), |r| r.name.clone())
    }
}

/// The next meeting planned with each client of the programme (not held, not
/// cancelled, as of `today`), `YYYY-MM-DDTHH:MM`.
pub fn next_meetings(data: &ProgrammeData, today: &str) -> HashMap<DocId, String> {
    let all = Meetings::new(data);
    let mut next: HashMap<DocId, String> = HashMap::new();
    for (client, _, m) in all.all() {
        if all.state(client.id, m, today) != MeetingState::Planned {
            continue;
        }
        let slot = next.entry(client.id).or_insert_with(|| m.at.clone());
        if m.at < *slot {
            slot.clone_from(&m.at);
        }
    }
    next
}

/// The meetings report as of `today`, filtered by rep and week.
pub fn report(
    data: &ProgrammeData,
    filter: &MeetingFilter,
    today: &str,
) -> HttpResult<MeetingsReport> {
    let programme = &data.programme;
    let rep = filter.rep.as_deref().filter(|r| !r.is_empty());
    if let Some(rep) = rep
        && !programme.reps.contains_key(rep)
    {
        return Err(HttpError::not_found(&format!(
            "the rep {rep:?} in this programme"
        )));
    }
    let week = filter
        .week
        .as_deref()
        .filter(|w| !w.is_empty())
        .map(|w| parse_day("week", w).map(week_of))
        .transpose()?;
    let all = Meetings::new(data);
    let mut per_rep: HashMap<&str, RepMeetings> = programme
        .reps
        .iter()
        .filter(|(id, _)| rep.is_none_or(|r| r == id.as_str()))
        .map(|(id, r)| {
            (
                id.as_str(),
                RepMeetings {
                    rep_id: id.clone(),
                    name: r.name.clone(),
                    planned: 0,
                    held: 0,
                    overdue: 0,
                    cancelled: 0,
                    unplanned_clients: 0,
                },
            )
        })
        .collect();
    let mut meetings = Vec::new();
    let mut planned_clients = std::collections::HashSet::new();
    for (client, id, m) in all.all() {
        let state = all.state(client.id, m, today);
        if state == MeetingState::Planned {
            planned_clients.insert(client.id);
        }
        let in_week = week
            .as_ref()
            .is_none_or(|(monday, sunday)| (monday.as_str()..=sunday.as_str()).contains(&m.day()));
        let Some(counts) = per_rep.get_mut(m.rep_id.as_str()) else {
            continue;
        };
        if !in_week {
            continue;
        }
        match state {
            MeetingState::Planned => counts.planned += 1,
            MeetingState::Held => counts.held += 1,
            MeetingState::Overdue => counts.overdue += 1,
            MeetingState::Cancelled => counts.cancelled += 1,
        }
        meetings.push(LeadMeeting {
            meeting_id: id.clone(),
            client_id: client.id.to_string(),
            company: client.company.clone(),
            rep_id: m.rep_id.clone(),
            rep_name: all.rep_name(&m.rep_id),
            at: m.at.clone(),
            place: m.place.clone(),
            contact: client.contact_label(m.contact_id.as_ref()),
            state,
        });
    }
    let visited: std::collections::HashSet<DocId> = data
        .visits
        .iter()
        .filter(|v| v.state == VisitState::Completed && v.programme_id == programme.id)
        .map(|v| v.client_id)
        .collect();
    let mut unplanned = Vec::new();
    for client in &data.clients {
        let key = client.id.to_string();
        let Some(owner) = programme
            .assignments
            .get(&key)
            .and_then(|a| a.current_rep.as_deref())
        else {
            continue;
        };
        if visited.contains(&client.id) || planned_clients.contains(&client.id) {
            continue;
        }
        let Some(counts) = per_rep.get_mut(owner) else {
            continue;
        };
        counts.unplanned_clients += 1;
        unplanned.push(UnplannedClient {
            client_id: key,
            company: client.company.clone(),
            rep_id: owner.to_owned(),
            rep_name: all.rep_name(owner),
        });
    }
    meetings.sort_by(|a, b| (&a.at, &a.company).cmp(&(&b.at, &b.company)));
    unplanned.sort_by_cached_key(|u| (u.company.to_lowercase(), u.client_id.clone()));
    let mut reps: Vec<RepMeetings> = per_rep.into_values().collect();
    reps.sort_by_cached_key(|r| (r.name.to_lowercase(), r.rep_id.clone()));
    let end = parse_day("programme end", &programme.period.end)?;
    let warn_from = end - time::Duration::days(i64::from(programme.meeting_warning_days));
    Ok(MeetingsReport {
        end_near: day(warn_from).as_str() <= today,
        today: today.to_owned(),
        week,
        programme_end: programme.period.end.clone(),
        warning_days: programme.meeting_warning_days,
        reps,
        meetings,
        unplanned,
    })
}

/// The meetings of `rep` (or of every rep) as an iCalendar file, titles in Russian.
pub fn calendar(data: &ProgrammeData, rep: Option<&str>, now_ms: i64) -> HttpResult<String> {
    let all = Meetings::new(data);
    if let Some(rep) = rep
        && !data.programme.reps.contains_key(rep)
    {
        return Err(HttpError::not_found(&format!(
            "the rep {rep:?} in this programme"
        )));
    }
    let mut events: Vec<CalendarEvent> = all
        .all()
        .filter(|(_, _, m)| rep.is_none_or(|r| r == m.rep_id))
        .map(|(client, id, m)| {
            let contact = client.contact_label(m.contact_id.as_ref());
            let mut event = CalendarEvent::of(id, m, &client.company, contact, Lang::Ru);
            if rep.is_none() {
                event.description = [all.rep_name(&m.rep_id), event.description]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
            }
            event
        })
        .collect();
    events.sort_by(|a, b| (&a.at, &a.uid).cmp(&(&b.at, &b.uid)));
    let name = match rep {
        Some(rep) => format!("Встречи: {}", all.rep_name(rep)),
        None => format!("Встречи: {}", data.programme.name),
    };
    Ok(ics(&name, &events, now_ms))
}
