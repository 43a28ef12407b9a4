//! The rep's clients, each with the state of its visit, and a way into the visit.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use rapport_api::{
    ApiError, ClientCard, DeviceInfo, Request, Response, ReviewState, Segment, StartVisit,
    VisitCard, VisitState,
};

use super::{DocSyncPill, localized};
use crate::components::{ErrorBox, Loading};
use crate::format::{day, today_iso};
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// Whether `company` matches what the rep typed: case-insensitive, Cyrillic included
/// (`to_lowercase` is Unicode-aware; "ё" and "е" are the same letter to a searcher).
fn matches(company: &str, query: &str) -> bool {
    let fold = |s: &str| s.to_lowercase().replace('ё', "е");
    let query = fold(query.trim());
    query.is_empty() || fold(company).contains(&query)
}

/// The rep's clients.
#[component]
pub fn Clients() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let navigate = use_navigate();
    let device = RwSignal::new(None::<DeviceInfo>);
    let clients = RwSignal::new(None::<Vec<ClientCard>>);
    let error = RwSignal::new(None::<ApiError>);
    let query = RwSignal::new(String::new());
    // A visit being started, page-wide: a sync that rebuilds the client's row meanwhile
    // must not enable its button again (a second tap would start a second visit).
    let starting = RwSignal::new(false);

    let load = move |navigate: Box<dyn Fn(&str)>| {
        spawn_local(async move {
            match ctx.node(Request::Device).await {
                Ok(Response::Device(info)) => device.set(Some(info)),
                Ok(_) => {}
                Err(err) if err.code == "not_paired" => {
                    navigate("/rep/pair");
                    return;
                }
                Err(err) => {
                    error.set(Some(err));
                    return;
                }
            }
            match ctx.node(Request::Clients).await {
                Ok(Response::Clients(list)) => {
                    clients.set(Some(list));
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
        let navigate = navigate.clone();
        load(Box::new(move |to: &str| navigate(to, Default::default())));
    });

    let shown = Memo::new(move |_| {
        let q = query.get();
        clients.with(|list| {
            list.as_ref().map(|list| {
                list.iter()
                    .filter(|c| matches(&c.company, &q))
                    .cloned()
                    .collect::<Vec<_>>()
            })
        })
    });
    // Loading (`None`), nothing to show (`Some(true)`) or the list: the list itself is
    // built once and keyed, so a sync or a letter typed in the search rebuilds only
    // the rows that changed (and a visit being started keeps its busy button).
    let state = Memo::new(move |_| shown.with(|s| s.as_ref().map(Vec::is_empty)));
    let key = |c: &ClientCard| (c.client_id, serde_json::to_string(c).unwrap_or_default());

    view! {
        <section class="rep-clients">
            <header class="rep-head">
                <h1>{t!(i18n, rep.clients.title)}</h1>
                {move || {
                    device
                        .get()
                        .map(|d| {
                            let programme = d
                                .programme_name
                                .clone()
                                .unwrap_or_else(|| t_string!(i18n, rep.clients.programme_unknown).to_string());
                            let rep = d.rep_name.clone().unwrap_or_default();
                            view! {
                                <p class="muted" data-testid="device-info">
                                    <strong>{programme}</strong>
                                    {(!rep.is_empty()).then(|| format!(" · {rep}"))}
                                </p>
                            }
                        })
                }}
            </header>
            <label for="client-search" class="sr-only">{t!(i18n, rep.clients.search)}</label>
            <input
                id="client-search"
                type="search"
                data-testid="client-search"
                placeholder=move || t_string!(i18n, rep.clients.search).to_string()
                bind:value=query
            />
            <ErrorBox error=localized(error) />
            {move || match state.get() {
                None if error.get().is_none() => view! { <Loading /> }.into_any(),
                None => ().into_any(),
                Some(true) => {
                    let text = move || if clients.with(|c| c.as_ref().is_some_and(|c| c.is_empty())) {
                        t_string!(i18n, rep.clients.none).to_string()
                    } else {
                        t_string!(i18n, rep.clients.no_match).to_string()
                    };
                    view! { <p class="card muted" data-testid="clients-empty">{text}</p> }.into_any()
                }
                Some(false) => {
                    view! {
                        <ul class="rep-client-list">
                            <For each=move || shown.get().unwrap_or_default() key=key
                                children=move |card| view! { <ClientRow card starting /> } />
                        </ul>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// One client: company, segment, visit state, counts, sync, and the way into the visit.
#[component]
fn ClientRow(card: ClientCard, starting: RwSignal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let segment = move || match card.segment {
        Segment::Corporate => t_string!(i18n, rep.segment.corporate).to_string(),
        Segment::KeyPrivate => t_string!(i18n, rep.segment.key_private).to_string(),
    };
    let client_id = card.client_id;
    let open = card.open_follow_ups;
    view! {
        <li class="card rep-client" data-testid="client-row" data-client-id=client_id.to_string()>
            <div class="rep-client-main">
                <h2 class="rep-company">{card.company.clone()}</h2>
                <p class="muted">{segment}</p>
                {(open > 0)
                    .then(|| {
                        view! {
                            <span class="pill warn" data-testid="open-follow-ups" data-value=open.to_string()>
                                {move || t_string!(i18n, rep.clients.open_follow_ups, count = open).to_string()}
                            </span>
                        }
                    })}
                <DocSyncPill sync=card.sync.clone() />
            </div>
            <div class="rep-client-visit">
                {match card.visit {
                    None => view! { <NoVisit client_id busy=starting /> }.into_any(),
                    Some(visit) => view! { <VisitSummary visit /> }.into_any(),
                }}
            </div>
        </li>
    }
}

/// A client not visited yet: the button that starts the visit today (`busy` while any
/// visit is being started).
#[component]
fn NoVisit(client_id: rapport_api::DocId, busy: RwSignal<bool>) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let navigate = use_navigate();
    let error = RwSignal::new(None::<ApiError>);
    let start = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            let request = Request::StartVisit(StartVisit {
                client_id,
                date: today_iso(),
            });
            let mut reply = ctx.node(request.clone()).await;
            if matches!(&reply, Err(e) if e.code == "no_template") {
                // The questionnaire has not come down yet: fetch it now if the network
                // allows, and try once more (offline, the error says what to do).
                let _ = ctx.node(Request::SyncNow).await;
                reply = ctx.node(request).await;
            }
            match reply {
                Ok(Response::Visit(detail)) => {
                    navigate(
                        &format!("/rep/visit/{}", detail.visit.id),
                        Default::default(),
                    );
                }
                Ok(_) => {}
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    view! {
        <p class="pill" data-testid="visit-state" data-state="none">{t!(i18n, rep.clients.not_visited)}</p>
        <button class="button" data-testid="start-visit" disabled=move || busy.get() on:click=start>
            {t!(i18n, rep.clients.start_visit)}
        </button>
        <ErrorBox error=localized(error) />
    }
}

/// The client's latest visit: state, date, counts, and the button that opens it.
#[component]
fn VisitSummary(visit: VisitCard) -> impl IntoView {
    let i18n = use_i18n();
    let date = day(&visit.date);
    let (state, class) = match visit.state {
        VisitState::Draft => ("draft", "pill warn"),
        VisitState::Completed => ("completed", "pill ok"),
    };
    let state_text = {
        let date = date.clone();
        move || match visit.state {
            VisitState::Draft => {
                t_string!(i18n, rep.clients.draft, date = date.clone()).to_string()
            }
            VisitState::Completed => {
                t_string!(i18n, rep.clients.completed, date = date.clone()).to_string()
            }
        }
    };
    let answered = visit.answered;
    let missing = visit.missing_required;
    let conflicts = visit.conflicts;
    let review = visit.review;
    let review_pill = move || {
        let (class, text) = match review {
            ReviewState::Draft => return None,
            ReviewState::AwaitingReview => ("pill", t_string!(i18n, rep.clients.review_awaiting)),
            ReviewState::Returned => ("pill bad", t_string!(i18n, rep.clients.review_returned)),
            ReviewState::Accepted => ("pill ok", t_string!(i18n, rep.clients.review_accepted)),
        };
        Some(view! {
            <p class=class data-testid="visit-review" data-state=review.as_str()>{text.to_string()}</p>
        })
    };
    view! {
        <p class=class data-testid="visit-state" data-state=state>{state_text}</p>
        {review_pill}
        <p class="rep-counts">
            <span data-testid="answered">{move || t_string!(i18n, rep.clients.answered, count = answered).to_string()}</span>
            {(missing > 0)
                .then(|| {
                    view! {
                        <span class="pill warn" data-testid="missing-count">
                            {move || t_string!(i18n, rep.clients.missing, count = missing).to_string()}
                        </span>
                    }
                })}
            {(conflicts > 0)
                .then(|| {
                    view! {
                        <span class="pill bad" data-testid="conflict-count">
                            {move || t_string!(i18n, rep.clients.conflicts, count = conflicts).to_string()}
                        </span>
                    }
                })}
        </p>
        <DocSyncPill sync=visit.sync.clone() />
        <a class="button" data-testid="open-visit" href=format!("/rep/visit/{}", visit.visit_id)>
            {t!(i18n, rep.clients.open_visit)}
        </a>
    }
}
