//! The lists a visit collects: referrals, sales opportunities and follow-ups (key
//! contacts are [`super::contacts`]), each an [`entry_list`] with a form to add an
//! entry.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::{ApiError, FollowUpState, OpportunityInput, ReferralInput, VisitEdit};
use rapport_domain::OpportunityKind;

use super::{VisitCtx, use_visit};
use crate::components::{EntryForm, EntryList, ErrorBox, Field, entry_list};
use crate::format::{amount, day};
use crate::pages::rep::localized;
use crate::translations::i18n::*;

/// Sends an entry edit; on success closes the form and shows the visit again.
pub(super) fn save_entry(
    v: VisitCtx,
    edit: VisitEdit,
    error: RwSignal<Option<ApiError>>,
    on_saved: impl FnOnce() + 'static,
) {
    spawn_local(async move {
        match v.edit(edit).await {
            Ok(_) => {
                error.set(None);
                on_saved();
                v.reload();
            }
            Err(err) => error.set(Some(err)),
        }
    });
}

// --- Referrals --------------------------------------------------------------------

/// The entries of a visit's map (referrals, opportunities), oldest first.
fn sorted<T: Clone, K: Ord>(
    v: VisitCtx,
    map: impl Fn(&rapport_api::VisitDetail) -> Vec<T>,
    created: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut list = v.detail.with(|d| d.as_ref().map(&map).unwrap_or_default());
    list.sort_by_key(|e| created(e));
    list
}

/// Acquaintances of the client who could become clients.
#[component]
pub(super) fn Referrals() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let adding = RwSignal::new(None::<()>);
    let list = EntryList {
        rows: Memo::new(move |_| {
            sorted(
                v,
                |d| d.visit.referrals.values().cloned().collect(),
                |r: &rapport_domain::visit::Referral| r.created_ms,
            )
        }),
        empty: (move || t_string!(i18n, rep.referrals.none).to_string()).into(),
        form: adding,
        blank: (),
        add_testid: "referral-add",
        add_label: (move || t_string!(i18n, rep.referrals.add).to_string()).into(),
    };
    let row = |r: rapport_domain::visit::Referral| {
        let reach = [r.company.clone(), r.contact.clone(), r.note.clone()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        view! {
            <li class="rep-entry" data-testid="referral-row">
                <div>
                    <strong>{r.name}</strong>
                    <div class="muted">{reach}</div>
                </div>
            </li>
        }
    };
    view! {
        <div class="rep-entries">
            {entry_list(list, row, move |()| view! { <ReferralForm adding /> })}
        </div>
    }
}

#[component]
fn ReferralForm(adding: RwSignal<Option<()>>) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let name = RwSignal::new(String::new());
    let company = RwSignal::new(String::new());
    let contact = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let save = move |()| {
        let edit = VisitEdit::Referral {
            id: None,
            referral: ReferralInput {
                name: name.get_untracked().trim().to_owned(),
                company: company.get_untracked().trim().to_owned(),
                contact: contact.get_untracked().trim().to_owned(),
                note: note.get_untracked().trim().to_owned(),
            },
        };
        save_entry(v, edit, error, move || adding.set(None));
    };
    view! {
        <EntryForm testid="referral-form" save_testid="referral-save" error=localized(error)
            save_label=move || t_string!(i18n, rep.referrals.save).to_string()
            on_save=save on_cancel=move |()| adding.set(None)>
            <Field inline=true testid="referral-name" value=name>{t!(i18n, rep.referrals.name)}</Field>
            <Field inline=true testid="referral-company" value=company>{t!(i18n, rep.referrals.company)}</Field>
            <Field inline=true testid="referral-contact" value=contact>{t!(i18n, rep.referrals.contact)}</Field>
            <Field inline=true testid="referral-note" value=note>{t!(i18n, rep.referrals.note)}</Field>
        </EntryForm>
    }
}

// --- Opportunities ------------------------------------------------------------------

fn kind_text(i18n: leptos_i18n::I18nContext<Locale>, kind: OpportunityKind) -> String {
    match kind {
        OpportunityKind::Growth => t_string!(i18n, rep.opportunities.growth).to_string(),
        OpportunityKind::CrossSell => t_string!(i18n, rep.opportunities.cross_sell).to_string(),
    }
}

/// Growth of what the client buys and new products: the sales the visit found.
#[component]
pub(super) fn Opportunities() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let adding = RwSignal::new(None::<()>);
    let list = EntryList {
        rows: Memo::new(move |_| {
            sorted(
                v,
                |d| d.visit.opportunities.values().cloned().collect(),
                |o: &rapport_domain::Opportunity| o.created_ms,
            )
        }),
        empty: (move || t_string!(i18n, rep.opportunities.none).to_string()).into(),
        form: adding,
        blank: (),
        add_testid: "opportunity-add",
        add_label: (move || t_string!(i18n, rep.opportunities.add).to_string()).into(),
    };
    let row = move |o: rapport_domain::Opportunity| {
        let kind = o.kind;
        let value = format!("{} {}", amount(o.estimated_value), o.currency);
        let product = o.product.clone();
        view! {
            <li class="rep-entry" data-testid="opportunity-row">
                <div>
                    <span class="pill">{move || kind_text(i18n, kind)}</span>
                    " "
                    <strong>{o.description}</strong>
                    <div class="muted">
                        {(!product.is_empty()).then(|| format!("{product} · "))}
                        {value}
                    </div>
                </div>
            </li>
        }
    };
    view! {
        <div class="rep-entries rep-opportunities">
            <h3>{t!(i18n, rep.opportunities.title)}</h3>
            {entry_list(list, row, move |()| view! { <OpportunityForm adding /> })}
        </div>
    }
}

/// The value as typed (spaces and a decimal comma allowed); empty is 0.
fn parse_value(text: &str) -> Option<f64> {
    if text.trim().is_empty() {
        return Some(0.0);
    }
    text.trim()
        .replace([' ', '\u{a0}', '\u{202f}'], "")
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

#[component]
fn OpportunityForm(adding: RwSignal<Option<()>>) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let kind = RwSignal::new("growth".to_owned());
    let description = RwSignal::new(String::new());
    let product = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let currency = RwSignal::new("RUB".to_owned());
    let error = RwSignal::new(None::<ApiError>);
    let save = move |()| {
        let Some(estimated_value) = parse_value(&value.get_untracked()) else {
            error.set(Some(ApiError::new(
                "negative_value",
                t_string!(i18n, rep.errors.bad_number).to_string(),
            )));
            return;
        };
        let edit = VisitEdit::Opportunity {
            id: None,
            opportunity: OpportunityInput {
                kind: if kind.get_untracked() == "cross_sell" {
                    OpportunityKind::CrossSell
                } else {
                    OpportunityKind::Growth
                },
                description: description.get_untracked().trim().to_owned(),
                product: product.get_untracked().trim().to_owned(),
                estimated_value,
                currency: currency.get_untracked().trim().to_uppercase(),
            },
        };
        save_entry(v, edit, error, move || adding.set(None));
    };
    view! {
        <EntryForm testid="opportunity-form" save_testid="opportunity-save" error=localized(error)
            save_label=move || t_string!(i18n, rep.opportunities.save).to_string()
            on_save=save on_cancel=move |()| adding.set(None)>
            <label>
                {t!(i18n, rep.opportunities.kind)}
                <select data-testid="opportunity-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="growth" selected=true>{t!(i18n, rep.opportunities.growth)}</option>
                    <option value="cross_sell">{t!(i18n, rep.opportunities.cross_sell)}</option>
                </select>
            </label>
            <Field inline=true testid="opportunity-description" value=description>
                {t!(i18n, rep.opportunities.description)}
            </Field>
            <Field inline=true testid="opportunity-product" value=product>{t!(i18n, rep.opportunities.product)}</Field>
            <div class="rep-quality-numbers">
                <Field inline=true testid="opportunity-value" value=value inputmode="decimal">
                    {t!(i18n, rep.opportunities.value)}
                </Field>
                <Field inline=true testid="opportunity-currency" value=currency>{t!(i18n, rep.opportunities.currency)}</Field>
            </div>
        </EntryForm>
    }
}

// --- Follow-ups -------------------------------------------------------------------

fn state_key(state: FollowUpState) -> &'static str {
    match state {
        FollowUpState::Open => "open",
        FollowUpState::InProgress => "in_progress",
        FollowUpState::Done => "done",
    }
}

/// Work to do after the visit (technical work after a failed quality check among it).
#[component]
pub(super) fn FollowUps() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let adding = RwSignal::new(None::<()>);
    let error = RwSignal::new(None::<ApiError>);
    let list = EntryList {
        rows: Memo::new(move |_| {
            sorted(
                v,
                |d| {
                    d.visit
                        .follow_ups
                        .iter()
                        .map(|(id, f)| (id.clone(), f.clone()))
                        .collect()
                },
                |(id, f): &(String, rapport_domain::FollowUp)| (f.created_ms, id.clone()),
            )
        }),
        empty: (move || t_string!(i18n, rep.follow_ups.none).to_string()).into(),
        form: adding,
        blank: (),
        add_testid: "follow-up-add",
        add_label: (move || t_string!(i18n, rep.follow_ups.add).to_string()).into(),
    };
    let row = move |(id, f): (String, rapport_domain::FollowUp)| view! { <FollowUpRow id follow_up=f error /> };
    view! {
        <section class="card rep-section" data-testid="follow-ups">
            <h2>{t!(i18n, rep.follow_ups.title)}</h2>
            {entry_list(list, row, move |()| view! { <FollowUpForm adding /> })}
            <ErrorBox error=localized(error) />
        </section>
    }
}

#[component]
fn FollowUpRow(
    id: String,
    follow_up: rapport_domain::FollowUp,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let current = follow_up.state;
    let change = move |ev: leptos::ev::Event| {
        let state = match event_target_value(&ev).as_str() {
            "in_progress" => FollowUpState::InProgress,
            "done" => FollowUpState::Done,
            _ => FollowUpState::Open,
        };
        v.edit_and_reload(
            VisitEdit::UpdateFollowUp {
                id: id.clone(),
                state: Some(state),
                owner: None,
                due: None,
            },
            error,
        );
    };
    let option = move |state: FollowUpState| {
        let text = move || match state {
            FollowUpState::Open => t_string!(i18n, rep.follow_ups.open).to_string(),
            FollowUpState::InProgress => t_string!(i18n, rep.follow_ups.in_progress).to_string(),
            FollowUpState::Done => t_string!(i18n, rep.follow_ups.done).to_string(),
        };
        view! { <option value=state_key(state) selected=state == current>{text}</option> }
    };
    let owner = follow_up.owner.clone();
    let due = follow_up.due.clone();
    view! {
        <li class="rep-entry" data-testid="follow-up-row" data-state=state_key(current)>
            <div>
                <strong>{follow_up.description.clone()}</strong>
                <div class="muted">
                    {(!owner.is_empty())
                        .then_some(move || t_string!(i18n, rep.follow_ups.owner, owner = owner.clone()).to_string())}
                    {due.map(|d| move || format!(" {}", t_string!(i18n, rep.follow_ups.due, date = day(&d))))}
                </div>
            </div>
            <label class="rep-inline">
                <span class="sr-only">{t!(i18n, rep.follow_ups.state)}</span>
                <select data-testid="follow-up-state" on:change=change>
                    {option(FollowUpState::Open)}
                    {option(FollowUpState::InProgress)}
                    {option(FollowUpState::Done)}
                </select>
            </label>
        </li>
    }
}

#[component]
fn FollowUpForm(adding: RwSignal<Option<()>>) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let save = move |()| {
        let edit = VisitEdit::AddFollowUp {
            description: description.get_untracked().trim().to_owned(),
            owner: String::new(),
            due: None,
        };
        save_entry(v, edit, error, move || adding.set(None));
    };
    view! {
        <EntryForm testid="follow-up-form" save_testid="follow-up-save" error=localized(error)
            save_label=move || t_string!(i18n, rep.follow_ups.save).to_string()
            on_save=save on_cancel=move |()| adding.set(None)>
            <Field inline=true testid="follow-up-description" value=description>
                {t!(i18n, rep.follow_ups.description)}
            </Field>
        </EntryForm>
    }
}
