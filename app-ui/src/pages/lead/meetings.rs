//! The reps' meetings: per rep planned, held, overdue and cancelled; the meetings of a
//! week or a rep; clients with no meeting planned, flagged as the programme's end
//! nears; and each rep's calendar file.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::lead::{LeadMeeting, MeetingFilter, MeetingsReport, RepMeetings, RepView};
use rapport_api::{ApiError, MeetingState, routes};

use super::{I18n, Loaded, use_pid};
use crate::col;
use crate::components::{DateInput, ErrorBox, loaded, table};
use crate::format::{day, this_week, when};
use crate::state::{Ctx, use_ctx};
use crate::translations::i18n::*;

fn state_text(i18n: I18n, s: MeetingState) -> String {
    match s {
        MeetingState::Planned => t_string!(i18n, lead.meetings.planned).to_string(),
        MeetingState::Held => t_string!(i18n, lead.meetings.held).to_string(),
        MeetingState::Overdue => t_string!(i18n, lead.meetings.overdue).to_string(),
        MeetingState::Cancelled => t_string!(i18n, lead.meetings.cancelled).to_string(),
    }
}

/// Where the app saved the last calendar file, and why one could not be saved.
type Saved = (RwSignal<Option<String>>, RwSignal<Option<ApiError>>);

/// The calendar file of `rep` (or everyone's), saved.
fn save_calendar(ctx: Ctx, pid: String, rep: Option<String>, done: Saved) {
    let (saved, error) = done;
    error.set(None);
    saved.set(None);
    spawn_local(async move {
        let route = routes::meetings_calendar(&pid, rep.as_deref());
        let name = match &rep {
            Some(rep) => format!("rapport-meetings-{rep}.ics"),
            None => "rapport-meetings.ics".to_owned(),
        };
        let done = match ctx.download(route).await {
            Ok(reply) => crate::save::save_file(&name, &reply.content_type, &reply.body).await,
            Err(err) => Err(err),
        };
        match done {
            Ok(path) => saved.set(path),
            Err(err) => error.set(Some(err)),
        }
    });
}

/// The meetings page.
#[component]
pub fn Meetings() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let report = Loaded::new(routes::meetings(
        &pid.get_value(),
        &MeetingFilter::default(),
    ));
    let reps = Loaded::new(routes::reps(&pid.get_value()));
    let rep = RwSignal::new(String::new());
    let week = RwSignal::new(String::new());
    let apply = move || {
        let filter = MeetingFilter {
            rep: Some(rep.get_untracked()).filter(|r| !r.is_empty()),
            week: Some(week.get_untracked()).filter(|w| !w.is_empty()),
        };
        report.load(routes::meetings(&pid.get_value(), &filter));
    };
    let this = move |_| {
        week.set(this_week().0);
        apply();
    };
    let all_weeks = move |_| {
        week.set(String::new());
        apply();
    };
    let calendar: Saved = (RwSignal::new(None), RwSignal::new(None));
    let rep_options = move || {
        reps.data
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|r: RepView| view! { <option value=r.id>{r.name}</option> })
            .collect_view()
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.meetings.title)}</h2>
            <form class="form-grid filters" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); apply(); }>
                <div>
                    <label for="meetings-rep">{t!(i18n, lead.meetings.rep)}</label>
                    <select id="meetings-rep" data-testid="meetings-rep" prop:value=move || rep.get()
                        on:change=move |ev| { rep.set(event_target_value(&ev)); apply(); }>
                        <option value="">{t!(i18n, lead.meetings.all_reps)}</option>
                        {rep_options}
                    </select>
                </div>
                <div>
                    <label for="meetings-week">{t!(i18n, lead.meetings.week)}</label>
                    <DateInput id=Some("meetings-week".to_owned()) testid=Some("meetings-week".to_owned())
                        value=week on_commit=Callback::new(move |_| apply()) />
                </div>
                <div class="row form-actions">
                    <button class="button ghost" type="button" data-testid="meetings-this-week" on:click=this>
                        {t!(i18n, lead.meetings.this_week)}
                    </button>
                    <button class="button ghost" type="button" data-testid="meetings-all-weeks" on:click=all_weeks>
                        {t!(i18n, lead.meetings.all_weeks)}
                    </button>
                    <button class="button ghost" type="button" data-testid="meetings-calendar-all"
                        on:click=move |_| save_calendar(ctx, pid.get_value(), None, calendar)>
                        {t!(i18n, lead.meetings.calendar_all)}
                    </button>
                </div>
            </form>
            {move || calendar.0.get().map(|path| {
                let said = t_string!(i18n, lead.export.saved, path = path.clone()).to_string();
                view! { <p class="muted" role="status" data-testid="calendar-saved" data-path=path>{said}</p> }
            })}
            <ErrorBox error=calendar.1 />
            {loaded(report, move |r| view! { <Report report=r calendar /> })}
        </section>
    }
}

/// The report: the warning, per rep, the meetings, the unplanned clients.
#[component]
fn Report(report: MeetingsReport, calendar: Saved) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let unplanned = report.unplanned.len();
    let end = day(&report.programme_end);
    let days = report.warning_days;
    let ended = report.today > report.programme_end;
    let warning = (report.end_near && unplanned > 0).then(|| {
        let end = end.clone();
        let text = move || {
            if ended {
                t_string!(
                    i18n,
                    lead.meetings.end_passed,
                    end = end.clone(),
                    count = unplanned
                )
                .to_string()
            } else {
                t_string!(
                    i18n,
                    lead.meetings.end_near,
                    end = end.clone(),
                    days = days,
                    count = unplanned
                )
                .to_string()
            }
        };
        view! { <p class="notice" role="alert" data-testid="meetings-end-near">{text}</p> }
    });
    let week = report.week.clone().map(|(monday, sunday)| {
        view! { <p class="muted" data-testid="meetings-week-shown">{format!("{} — {}", day(&monday), day(&sunday))}</p> }
    });
    let rep_rows = report
        .reps
        .into_iter()
        .map(|r: RepMeetings| {
            let rep_id = r.rep_id.clone();
            view! {
                <tr data-testid="rep-meetings" data-rep-id=r.rep_id.clone()>
                    <td><strong>{r.name}</strong></td>
                    <td class="num" data-testid="rep-planned">{r.planned}</td>
                    <td class="num" data-testid="rep-held">{r.held}</td>
                    <td class="num" data-testid="rep-overdue">{r.overdue}</td>
                    <td class="num">{r.cancelled}</td>
                    <td class="num" data-testid="rep-unplanned">{r.unplanned_clients}</td>
                    <td>
                        <button class="button ghost" data-testid="rep-calendar"
                            on:click=move |_| save_calendar(ctx, pid.get_value(), Some(rep_id.clone()), calendar)>
                            ".ics"
                        </button>
                    </td>
                </tr>
            }
        })
        .collect();
    let rep_cols = vec![
        col!(i18n, lead.meetings.rep),
        col!(i18n, num lead.meetings.planned),
        col!(i18n, num lead.meetings.held),
        col!(i18n, num lead.meetings.overdue),
        col!(i18n, num lead.meetings.cancelled),
        col!(i18n, num lead.meetings.unplanned),
        col!(i18n, lead.meetings.calendar),
    ];
    let meeting_rows = report
        .meetings
        .into_iter()
        .map(|m: LeadMeeting| {
            let state = m.state;
            let class = match state {
                MeetingState::Overdue => "pill bad",
                MeetingState::Held => "pill ok",
                _ => "pill",
            };
            view! {
                <tr data-testid="meeting-row" data-meeting-id=m.meeting_id.clone()>
                    <td>{when(&m.at)}</td>
                    <td><strong>{m.company}</strong></td>
                    <td>{m.rep_name}</td>
                    <td>{m.place}</td>
                    <td>{m.contact.unwrap_or_default()}</td>
                    <td><span class=class data-testid="meeting-state" data-state=format!("{state:?}").to_lowercase()>
                        {move || state_text(i18n, state)}
                    </span></td>
                </tr>
            }
        })
        .collect();
    let meeting_cols = vec![
        col!(i18n, lead.meetings.when),
        col!(i18n, lead.meetings.client),
        col!(i18n, lead.meetings.rep),
        col!(i18n, lead.meetings.place),
        col!(i18n, lead.meetings.contact),
        col!(i18n, lead.meetings.state),
    ];
    let unplanned_rows = report
        .unplanned
        .into_iter()
        .map(|u| {
            view! {
                <tr data-testid="unplanned-row" data-client-id=u.client_id.clone()>
                    <td><strong>{u.company}</strong></td>
                    <td>{u.rep_name}</td>
                </tr>
            }
        })
        .collect();
    let unplanned_cols = vec![
        col!(i18n, lead.meetings.client),
        col!(i18n, lead.meetings.rep),
    ];
    view! {
        {warning}
        {week}
        {table(rep_cols, rep_rows, t!(i18n, lead.meetings.no_reps), None)}
        <h3>{t!(i18n, lead.meetings.list)}</h3>
        {table(meeting_cols, meeting_rows, t!(i18n, lead.meetings.none), Some("meetings-none"))}
        <h3>{t!(i18n, lead.meetings.unplanned_title)}</h3>
        {table(unplanned_cols, unplanned_rows, t!(i18n, lead.meetings.all_planned), None)}
    }
}
