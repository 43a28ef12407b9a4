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
use crate::components::{ErrorBox, Field, Loading};
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
            {move || match data.get() {
                None if error.get().is_none() => view! { <Loading /> }.into_any(),
                None => ().into_any(),
                Some(view) => view! { <Plan clients=view.clients.clone() on_saved=Callback::new(move |()| reload()) /> <Groups view on_saved=Callback::new(move |()| reload()) /> }.into_any(),
            }}
        </section>
    }
}

/// The meetings, grouped: overdue, today, this week, later, and past (held or cancelled).
#[component]
fn Groups(view: MeetingsView, on_saved: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let (_, sunday) = this_week();
    let today = view.today.clone();
    let mut groups: [(&'static str, Vec<MeetingCard>); 5] = [
        ("overdue", Vec::new()),
        ("today", Vec::new()),
        ("week", Vec::new()),
        ("later", Vec::new()),
        ("past", Vec::new()),
    ];
    for m in view.meetings {
        let day = m.at.get(..10).unwrap_or_default().to_owned();
        let slot = match m.state {
            MeetingState::Overdue => 0,
            MeetingState::Planned if day <= today => 1,
            MeetingState::Planned if day <= sunday => 2,
            MeetingState::Planned => 3,
            MeetingState::Held | MeetingState::Cancelled => 4,
        };
        groups[slot].1.push(m);
    }
    // The past newest first; the rest soonest first (as they came).
    groups[4].1.reverse();
    let clients = view.clients;
    let empty = groups.iter().all(|(_, list)| list.is_empty());
    view! {
        {empty.then(|| view! { <p class="card muted" data-testid="meetings-empty">{t!(i18n, rep.meetings.none)}</p> })}
        {groups
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(group, list)| {
                let title = move || match group {
                    "overdue" => t_string!(i18n, rep.meetings.overdue).to_string(),
                    "today" => t_string!(i18n, rep.meetings.today).to_string(),
                    "week" => t_string!(i18n, rep.meetings.this_week).to_string(),
                    "later" => t_string!(i18n, rep.meetings.later).to_string(),
                    _ => t_string!(i18n, rep.meetings.past).to_string(),
                };
                let clients = clients.clone();
                view! {
                    <h2 class="meeting-group" data-testid="meeting-group" data-group=group>{title}</h2>
                    <ul class="rep-meeting-list">
                        {list
                            .into_iter()
                            .map(|card| {
                                let contacts = clients
                                    .iter()
                                    .find(|c| c.client_id == card.client_id)
                                    .cloned();
                                view! { <MeetingItem card client=contacts on_saved /> }
                            })
                            .collect_view()}
                    </ul>
                }
            })
            .collect_view()}
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
    card: MeetingCard,
    client: Option<MeetingClient>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let editing = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let client_id = card.client_id;
    let meeting_id = StoredValue::new(card.meeting_id.clone());
    let current = StoredValue::new(MeetingInput {
        at: card.at.clone(),
        place: card.place.clone(),
        contact_id: card.contact_id.clone(),
    });
    let open = !matches!(card.state, MeetingState::Held | MeetingState::Cancelled);
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
        let mut input = current.get_value();
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
    let conflicts = card.conflicts.clone();
    let contacts = client.map(|c| c.contacts).unwrap_or_default();
    view! {
        <li class="card rep-meeting" data-testid="meeting" data-meeting-id=card.meeting_id.clone()
            data-client-id=client_id.to_string()>
            <div class="row">
                <strong class="meeting-when" data-testid="meeting-when">{when(&card.at)}</strong>
                {state_pill(i18n, card.state)}
                <DocSyncPill sync=card.sync.clone() />
            </div>
            <h3 class="rep-company">{card.company.clone()}</h3>
            {(!card.place.is_empty()).then(|| view! { <p data-testid="meeting-place">{card.place.clone()}</p> })}
            {card.contact.clone().map(|c| view! { <p class="muted" data-testid="meeting-contact">{c}</p> })}
            {conflicts
                .into_iter()
                .map(|conflict| view! { <ConflictCard conflict choose busy /> })
                .collect_view()}
            <ErrorBox error=localized(error) />
            {open.then(|| view! {
                <Show when=move || !editing.get()>
                    <div class="row">
                        <button class="button ghost" data-testid="move-meeting" on:click=move |_| editing.set(true)>
                            {t!(i18n, rep.meetings.move_it)}
                        </button>
                        <button class="button ghost" data-testid="cancel-meeting" disabled=move || busy.get() on:click=cancel>
                            {t!(i18n, rep.meetings.cancel_it)}
                        </button>
                    </div>
                </Show>
            })}
            {
                let contacts = contacts.clone();
                move || editing.get().then(|| {
                    let on_submit = Callback::new(move |input: MeetingInput| {
                        run(MeetingEdit::Move {
                            meeting_id: meeting_id.get_value(),
                            meeting: input,
                        });
                    });
                    view! {
                        <MeetingForm initial=current.get_value() contacts=contacts.clone() on_submit busy
                            on_cancel=Callback::new(move |()| editing.set(false)) testid="save-move" />
                    }
                })
            }
        </li>
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
    contacts: Vec<rapport_api::meetings::ContactOption>,
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
    let options = contacts
        .into_iter()
        .map(|c| {
            let label = if c.role.is_empty() {
                c.name
            } else {
                format!("{}, {}", c.name, c.role)
            };
            view! { <option value=c.id>{label}</option> }
        })
        .collect_view();
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
fn Plan(clients: Vec<MeetingClient>, on_saved: Callback<()>) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let open = RwSignal::new(false);
    let chosen = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let clients = StoredValue::new(clients);
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
                        {clients
                            .get_value()
                            .into_iter()
                            .map(|c| {
                                view! { <option value=c.client_id.to_string()>{c.company.clone()}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                {move || {
                    let id = chosen.get();
                    let contacts = clients
                        .get_value()
                        .into_iter()
                        .find(|c| c.client_id.to_string() == id)
                        .map(|c| c.contacts)
                        .unwrap_or_default();
                    view! {
                        <MeetingForm initial=MeetingInput { at: String::new(), place: String::new(), contact_id: None }
                            contacts on_submit busy testid="save-meeting"
                            on_cancel=Callback::new(move |()| open.set(false)) />
                    }
                }}
                <ErrorBox error=localized(error) />
            </Show>
        </div>
    }
}
