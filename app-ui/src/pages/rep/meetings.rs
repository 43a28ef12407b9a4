//! "Мои встречи": the rep's meetings on the device, offline — overdue, today, this
//! week, later, and past ones; planning a meeting with a client, moving or cancelling
//! one, choosing a time when two devices moved it differently; and the calendar file.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::meetings::{MeetingCard, MeetingClient, MeetingFieldConflict};
use rapport_api::{
    ApiError, DocId, Lang, MeetingEdit, MeetingInput, MeetingState, MeetingsView, Request, Response,
};

use super::{DocSyncPill, localized};
use crate::components::{ErrorBox, Field, Loading, follow};
use crate::format::{parse_time, this_week, today_iso, when};
use crate::state::{Ctx, use_ctx};
use crate::translations::i18n::*;

/// Sends one meeting edit; `Ok` once it is on disk.
async fn send(ctx: Ctx, client_id: DocId, edit: MeetingEdit) -> Result<(), ApiError> {
    match ctx.node(Request::EditMeeting { client_id, edit }).await? {
        Response::MeetingSaved(_) => Ok(()),
        _ => Err(ApiError::new(
            "ui_unexpected",
            "the device answered something else",
        )),
    }
}

/// The time typed, or an error in the rep's words.
fn meeting_at(
    i18n: leptos_i18n::I18nContext<Locale>,
    date: &str,
    time: &str,
) -> Result<String, ApiError> {
    let bad = |message: String| ApiError::new("invalid_date_time", message);
    if date.is_empty() {
        return Err(bad(t_string!(i18n, rep.meetings.need_date).to_string()));
    }
    let time =
        parse_time(time).ok_or_else(|| bad(t_string!(i18n, rep.meetings.need_time).to_string()))?;
    Ok(format!("{date}T{time}"))
}

/// One part of the loaded view, changing only when that part changes.
fn part<T>(data: RwSignal<Option<MeetingsView>>, get: fn(&MeetingsView) -> T) -> Signal<T>
where
    T: Clone + Default + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| data.with(|d| d.as_ref().map(get).unwrap_or_default())).into()
}

/// "Мои встречи".
#[component]
pub fn Meetings() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let data = RwSignal::new(None::<MeetingsView>);
    let error = RwSignal::new(None::<ApiError>);
    let reload = move || {
        spawn_local(async move {
            match ctx.node(Request::Meetings { today: today_iso() }).await {
                Ok(Response::Meetings(view)) => {
                    data.set(Some(view));
                    error.set(None);
                }
                Ok(_) => {}
                Err(err) => error.set(Some(err)),
            }
        });
    };
    // Load now, and again whenever sync brings news.
    Effect::new(move |_| {
        ctx.docs_changed.track();
        reload();
    });
    let clients = part(data, |v| v.clients.clone());
    let meetings = part(data, |v| v.meetings.clone());
    let today = part(data, |v| v.today.clone());
    let calendar_error = RwSignal::new(None::<ApiError>);
    // Where the app saved the calendar (a browser shows its downloads itself).
    let saved = RwSignal::new(None::<String>);
    let calendar = move |_| {
        calendar_error.set(None);
        saved.set(None);
        let lang = match i18n.get_locale_untracked() {
            Locale::en => Lang::En,
            Locale::ru => Lang::Ru,
        };
        spawn_local(async move {
            let done = match ctx.node(Request::MeetingsCalendar { lang }).await {
                Ok(Response::File(file)) => {
                    crate::save::save_file(&file.name, &file.content_type, file.text.as_bytes())
                        .await
                }
                Ok(_) => Ok(None),
                Err(err) => Err(err),
            };
            match done {
                Ok(path) => saved.set(path),
                Err(err) => calendar_error.set(Some(err)),
            }
        });
    };
    view! {
        <section class="rep-meetings">
            <header class="rep-head row">
                <h1>{t!(i18n, rep.meetings.title)}</h1>
                <button class="button ghost" data-testid="meetings-calendar" on:click=calendar>
                    {t!(i18n, rep.meetings.calendar)}
                </button>
            </header>
            {move || saved.get().map(|path| {
                let said = t_string!(i18n, rep.meetings.saved, path = path.clone()).to_string();
                view! { <p class="muted" role="status" data-testid="calendar-saved" data-path=path>{said}</p> }
            })}
            <ErrorBox error=localized(calendar_error) />
            <ErrorBox error=localized(error) />
            // Built once, when the first list arrives, and fed the later ones: a sync
            // that brings news must not close (and empty) a form the rep is filling in.
            <Show
                when=move || data.with(Option::is_some)
                fallback=move || error.with(Option::is_none).then(|| view! { <Loading /> })
            >
                <Plan clients on_saved=Callback::new(move |()| reload()) />
                <Groups meetings today clients on_saved=Callback::new(move |()| reload()) />
            </Show>
        </section>
    }
}

/// The meetings' groups, in the order shown.
const GROUPS: [&str; 5] = ["overdue", "today", "week", "later", "past"];

/// The group a meeting is shown in, as of `today` (the week ends on `sunday`).
fn group_of(card: &MeetingCard, today: &str, sunday: &str) -> &'static str {
    let day = card.at.get(..10).unwrap_or_default();
    match card.state {
        MeetingState::Overdue => "overdue",
        MeetingState::Planned if day <= today => "today",
        MeetingState::Planned if day <= sunday => "week",
        MeetingState::Planned => "later",
        MeetingState::Held | MeetingState::Cancelled => "past",
    }
}

/// A line of the meetings list: a group's heading, or a meeting.
#[derive(Clone, PartialEq)]
enum Line {
    Group(&'static str),
    Meeting(MeetingCard),
}

impl Line {
    fn key(&self) -> String {
        match self {
            Line::Group(group) => format!("group:{group}"),
            Line::Meeting(card) => card.meeting_id.clone(),
        }
    }
}

/// The meetings, grouped: overdue, today, this week, later, and past (held or cancelled).
/// One keyed list of headings and meetings: each meeting is drawn once and follows the
/// list, even into another group (moved on another device, held, or a new day), so a
/// sync that brings news keeps a move being typed open.
#[component]
fn Groups(
    meetings: Signal<Vec<MeetingCard>>,
    today: Signal<String>,
    clients: Signal<Vec<MeetingClient>>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let lines = Memo::new(move |_| {
        let (_, sunday) = this_week();
        let today = today.get();
        meetings.with(|all| {
            let mut lines = Vec::with_capacity(all.len() + GROUPS.len());
            for group in GROUPS {
                let mut list: Vec<&MeetingCard> = all
                    .iter()
                    .filter(|m| group_of(m, &today, &sunday) == group)
                    .collect();
                if list.is_empty() {
                    continue;
                }
                // The past newest first; the rest soonest first (as they came).
                if group == "past" {
                    list.reverse();
                }
                lines.push(Line::Group(group));
                lines.extend(list.into_iter().cloned().map(Line::Meeting));
            }
            lines
        })
    });
    let key = |m: &MeetingCard| m.meeting_id.clone();
    let line = move |line: Line| match line {
        Line::Group(group) => {
            let title = move || match group {
                "overdue" => t_string!(i18n, rep.meetings.overdue).to_string(),
                "today" => t_string!(i18n, rep.meetings.today).to_string(),
                "week" => t_string!(i18n, rep.meetings.this_week).to_string(),
                "later" => t_string!(i18n, rep.meetings.later).to_string(),
                _ => t_string!(i18n, rep.meetings.past).to_string(),
            };
            view! { <h2 class="meeting-group" data-testid="meeting-group" data-group=group>{title}</h2> }
                .into_any()
        }
        Line::Meeting(card) => {
            let card = follow(meetings, key, card);
            let client = Signal::derive(move || {
                let id = card.with(|c| c.client_id);
                clients.with(|all| all.iter().find(|c| c.client_id == id).cloned())
            });
            view! { <MeetingItem card client on_saved /> }.into_any()
        }
    };
    view! {
        <Show when=move || meetings.with(Vec::is_empty)>
            <p class="card muted" data-testid="meetings-empty">{t!(i18n, rep.meetings.none)}</p>
        </Show>
        <div class="rep-meeting-list">
            <For each=move || lines.get() key=Line::key children=line />
        </div>
    }
}

/// The state as a pill.
fn state_pill(i18n: leptos_i18n::I18nContext<Locale>, state: MeetingState) -> impl IntoView {
    let (class, name) = match state {
        MeetingState::Planned => ("pill", "planned"),
        MeetingState::Held => ("pill ok", "held"),
        MeetingState::Overdue => ("pill bad", "overdue"),
        MeetingState::Cancelled => ("pill", "cancelled"),
    };
    let text = move || match state {
        MeetingState::Planned => t_string!(i18n, rep.meetings.state_planned).to_string(),
        MeetingState::Held => t_string!(i18n, rep.meetings.state_held).to_string(),
        MeetingState::Overdue => t_string!(i18n, rep.meetings.state_overdue).to_string(),
        MeetingState::Cancelled => t_string!(i18n, rep.meetings.state_cancelled).to_string(),
    };
    view! { <span class=class data-testid="meeting-state" data-state=name>{text}</span> }
}

/// One meeting: when, where, with whom, its state; move, cancel, and a conflict card.
#[component]
fn MeetingItem(
    card: Signal<MeetingCard>,
    client: Signal<Option<MeetingClient>>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let editing = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    // A meeting's id and client never change: the list is keyed by the id.
    let (meeting_id, client_id) = card.with_untracked(|c| (c.meeting_id.clone(), c.client_id));
    let meeting_id = StoredValue::new(meeting_id);
    // The meeting as it is now, for a move of one field or the form's first values.
    let current = move || {
        card.with_untracked(|c| MeetingInput {
            at: c.at.clone(),
            place: c.place.clone(),
            contact_id: c.contact_id.clone(),
        })
    };
    let open =
        move || card.with(|c| !matches!(c.state, MeetingState::Held | MeetingState::Cancelled));
    let run = move |edit: MeetingEdit| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match send(ctx, client_id, edit).await {
                Ok(()) => {
                    editing.set(false);
                    on_saved.run(());
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    let cancel = move |_| {
        run(MeetingEdit::Cancel {
            meeting_id: meeting_id.get_value(),
        });
    };
    let choose = Callback::new(move |(field, value): (String, String)| {
        let mut input = current();
        match field.as_str() {
            "at" => input.at = value,
            "place" => input.place = value,
            "contact_id" => input.contact_id = (!value.is_empty()).then_some(value),
            _ => {}
        }
        run(MeetingEdit::Move {
            meeting_id: meeting_id.get_value(),
            meeting: input,
        });
    });
    let contacts = Signal::derive(move || {
        client.with(|c| c.as_ref().map(|c| c.contacts.clone()).unwrap_or_default())
    });
    view! {
        <article class="card rep-meeting" data-testid="meeting" data-meeting-id=meeting_id.get_value()
            data-client-id=client_id.to_string()>
            <div class="row">
                <strong class="meeting-when" data-testid="meeting-when">{move || card.with(|c| when(&c.at))}</strong>
                {move || state_pill(i18n, card.with(|c| c.state))}
                {move || view! { <DocSyncPill sync=card.with(|c| c.sync.clone()) /> }}
            </div>
            <h3 class="rep-company">{move || card.with(|c| c.company.clone())}</h3>
            {move || card.with(|c| (!c.place.is_empty()).then(|| view! { <p data-testid="meeting-place">{c.place.clone()}</p> }))}
            {move || card.with(|c| c.contact.clone()).map(|c| view! { <p class="muted" data-testid="meeting-contact">{c}</p> })}
            {move || card
                .with(|c| c.conflicts.clone())
                .into_iter()
                .map(|conflict| view! { <ConflictCard conflict choose busy /> })
                .collect_view()}
            <ErrorBox error=localized(error) />
            <Show when=move || open() && !editing.get()>
                <div class="row">
                    <button class="button ghost" data-testid="move-meeting" on:click=move |_| editing.set(true)>
                        {t!(i18n, rep.meetings.move_it)}
                    </button>
                    <button class="button ghost" data-testid="cancel-meeting" disabled=move || busy.get() on:click=cancel>
                        {t!(i18n, rep.meetings.cancel_it)}
                    </button>
                </div>
            </Show>
            {move || editing.get().then(|| {
                let on_submit = Callback::new(move |input: MeetingInput| {
                    run(MeetingEdit::Move {
                        meeting_id: meeting_id.get_value(),
                        meeting: input,
                    });
                });
                view! {
                    <MeetingForm initial=current() contacts on_submit busy
                        on_cancel=Callback::new(move |()| editing.set(false)) testid="save-move" />
                }
            })}
        </article>
    }
}

/// Two devices changed one field differently: every value with who wrote it, and a
/// button to keep each.
#[component]
fn ConflictCard(
    conflict: MeetingFieldConflict,
    choose: Callback<(String, String)>,
    busy: RwSignal<bool>,
) -> impl IntoView {
    let i18n = use_i18n();
    let field = conflict.field.clone();
    let title = move || match field.as_str() {
        "at" => t_string!(i18n, rep.meetings.conflict_at).to_string(),
        "place" => t_string!(i18n, rep.meetings.conflict_place).to_string(),
        _ => t_string!(i18n, rep.meetings.conflict_other).to_string(),
    };
    let field = conflict.field.clone();
    view! {
        <div class="rep-conflict" role="alert" data-testid="meeting-conflict" data-field=conflict.field.clone()>
            <p class="rep-conflict-title">{title}</p>
            <ul class="rep-conflict-values">
                {conflict
                    .values
                    .into_iter()
                    .map(|v| {
                        let shown = if field == "at" { when(&v.value) } else { v.value.clone() };
                        let pick = (field.clone(), v.value.clone());
                        view! {
                            <li class="rep-conflict-value">
                                <span data-testid="conflict-value">{shown}</span>
                                <span class="muted">{v.author.clone()}</span>
                                <button class="button" data-testid="choose-value" data-value=v.value.clone()
                                    disabled=move || busy.get()
                                    on:click=move |_| choose.run(pick.clone())>
                                    {t!(i18n, rep.meetings.keep)}
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </div>
    }
}

/// Date, time, place and contact of a meeting; `on_submit` with them once they read.
#[component]
fn MeetingForm(
    initial: MeetingInput,
    /// The client's contacts; they may change while the form is open (a sync, or
    /// another client chosen) without the form losing what is typed.
    contacts: Signal<Vec<rapport_api::meetings::ContactOption>>,
    on_submit: Callback<MeetingInput>,
    #[prop(optional, into)] on_cancel: Option<Callback<()>>,
    busy: RwSignal<bool>,
    testid: &'static str,
) -> impl IntoView {
    let i18n = use_i18n();
    let date = RwSignal::new(initial.at.get(..10).unwrap_or_default().to_owned());
    let time = RwSignal::new(initial.at.get(11..).unwrap_or_default().to_owned());
    let place = RwSignal::new(initial.place);
    let contact = RwSignal::new(initial.contact_id.unwrap_or_default());
    let error = RwSignal::new(None::<ApiError>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match meeting_at(i18n, &date.get_untracked(), &time.get_untracked()) {
            Ok(at) => {
                error.set(None);
                let contact = contact.get_untracked();
                on_submit.run(MeetingInput {
                    at,
                    place: place.get_untracked().trim().to_owned(),
                    contact_id: (!contact.is_empty()).then_some(contact),
                });
            }
            Err(err) => error.set(Some(err)),
        }
    };
    let options = move || {
        contacts
            .get()
            .into_iter()
            .map(|c| {
                let label = if c.role.is_empty() {
                    c.name
                } else {
                    format!("{}, {}", c.name, c.role)
                };
                let id = c.id.clone();
                let selected = move || contact.with(|chosen| *chosen == id);
                view! { <option value=c.id prop:selected=selected>{label}</option> }
            })
            .collect_view()
    };
    view! {
        <form class="meeting-form" on:submit=submit>
            <Field testid="meeting-date" kind="date" value=date required=true inline=true>
                {t!(i18n, rep.meetings.date)}
            </Field>
            <Field testid="meeting-time" value=time required=true inline=true placeholder="10:30">
                {t!(i18n, rep.meetings.time)}
            </Field>
            <Field testid="meeting-place-input" value=place inline=true>
                {t!(i18n, rep.meetings.place)}
            </Field>
            <label>
                {t!(i18n, rep.meetings.contact)}
                <select data-testid="meeting-contact-input" prop:value=move || contact.get()
                    on:change=move |ev| contact.set(event_target_value(&ev))>
                    <option value="">{t!(i18n, rep.meetings.no_contact)}</option>
                    {options}
                </select>
            </label>
            <ErrorBox error=error />
            <div class="row form-actions">
                <button class="button" type="submit" data-testid=testid disabled=move || busy.get()>
                    {t!(i18n, common.save)}
                </button>
                {on_cancel.map(|cancel| view! {
                    <button class="button ghost" type="button" on:click=move |_| cancel.run(())>
                        {t!(i18n, common.cancel)}
                    </button>
                })}
            </div>
        </form>
    }
}

/// Planning a meeting: the client, then when, where and with whom.
#[component]
fn Plan(clients: Signal<Vec<MeetingClient>>, on_saved: Callback<()>) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let open = RwSignal::new(false);
    let chosen = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let on_submit = Callback::new(move |input: MeetingInput| {
        let Ok(client_id) = chosen.get_untracked().parse::<DocId>() else {
            error.set(Some(ApiError::new(
                "empty_required_field",
                t_string!(i18n, rep.meetings.need_client).to_string(),
            )));
            return;
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match send(ctx, client_id, MeetingEdit::Plan { meeting: input }).await {
                Ok(()) => {
                    open.set(false);
                    chosen.set(String::new());
                    on_saved.run(());
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    });
    let contacts = Signal::derive(move || {
        chosen.with(|id| {
            clients.with(|all| {
                all.iter()
                    .find(|c| c.client_id.to_string() == *id)
                    .map(|c| c.contacts.clone())
                    .unwrap_or_default()
            })
        })
    });
    view! {
        <div class="card meeting-plan">
            <Show when=move || !open.get()>
                <button class="button" data-testid="plan-meeting" on:click=move |_| open.set(true)>
                    {t!(i18n, rep.meetings.plan)}
                </button>
            </Show>
            <Show when=move || open.get()>
                <label>
                    {t!(i18n, rep.meetings.client)}
                    <select data-testid="meeting-client" prop:value=move || chosen.get()
                        on:change=move |ev| chosen.set(event_target_value(&ev))>
                        <option value="">{t!(i18n, rep.meetings.choose_client)}</option>
                        {move || clients
                            .get()
                            .into_iter()
                            .map(|c| {
                                let id = c.client_id.to_string();
                                let selected = {
                                    let id = id.clone();
                                    move || chosen.with(|chosen| *chosen == id)
                                };
                                view! { <option value=id prop:selected=selected>{c.company.clone()}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                // One form while it is open: choosing (another) client or a sync changes
                // the contacts offered, never what is typed.
                <MeetingForm initial=MeetingInput { at: String::new(), place: String::new(), contact_id: None }
                    contacts on_submit busy testid="save-meeting"
                    on_cancel=Callback::new(move |()| open.set(false)) />
                <ErrorBox error=localized(error) />
            </Show>
        </div>
    }
}
