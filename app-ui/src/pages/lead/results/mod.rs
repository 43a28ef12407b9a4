//! What the visits produced: follow-ups (work to do, with owners and due dates;
//! [`follow_ups`]), referrals, and sales opportunities, each with its export.

mod follow_ups;

pub use follow_ups::FollowUps;

use std::collections::BTreeMap;

use leptos::prelude::*;
use rapport_api::lead::{OpportunityKind, OpportunityView, ReferralView, RepView};
use rapport_api::routes;

use super::{ExportLinks, I18n, Loaded, use_pid, wire};
use crate::col;
use crate::components::{loaded, table};
use crate::format::{amount, day};
use crate::translations::i18n::*;

// --- Referrals ----------------------------------------------------------------------

/// Rep names by id, for tables that carry only ids.
fn rep_names(reps: Loaded<Vec<RepView>>) -> Memo<BTreeMap<String, String>> {
    Memo::new(move |_| {
        reps.data
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect()
    })
}

/// Referrals.
#[component]
pub fn Referrals() -> impl IntoView {
    let i18n = use_i18n();
    let pid = use_pid();
    let list = Loaded::new(routes::referrals(&pid));
    let names = rep_names(Loaded::new(routes::reps(&pid)));
    let rows = move |items: Vec<ReferralView>| {
        let rows = items
            .into_iter()
            .map(|r| {
                let rep = names
                    .with(|n| n.get(&r.rep_id).cloned())
                    .unwrap_or(r.rep_id.clone());
                view! {
                    <tr data-testid="referral-row" data-referral-id=r.id.clone()>
                        <td><strong>{r.name}</strong></td>
                        <td>{r.company}</td>
                        <td>{r.contact}</td>
                        <td>{r.note}</td>
                        <td>{r.client_company}</td>
                        <td>{rep}</td>
                        <td>{day(&r.visit_date)}</td>
                    </tr>
                }
            })
            .collect();
        let cols = vec![
            col!(i18n, lead.referrals.name),
            col!(i18n, lead.referrals.company),
            col!(i18n, lead.referrals.contact),
            col!(i18n, lead.referrals.note),
            col!(i18n, lead.referrals.from_client),
            col!(i18n, lead.referrals.rep),
            col!(i18n, lead.referrals.date),
        ];
        table(cols, rows, t!(i18n, lead.referrals.none), None)
    };
    // The export buttons above the list, which loads after them (see `Clients`).
    view! {
        <ExportLinks files=&["referrals.csv", "referrals.xlsx"] />
        <section class="card">
            <h2>{t!(i18n, lead.referrals.title)}</h2>
            {loaded(list, rows)}
        </section>
    }
}

// --- Opportunities --------------------------------------------------------------------

fn kind_text(i18n: I18n, kind: OpportunityKind) -> String {
    match kind {
        OpportunityKind::Growth => t_string!(i18n, lead.kind.growth).to_string(),
        OpportunityKind::CrossSell => t_string!(i18n, lead.kind.cross_sell).to_string(),
    }
}

/// Opportunities.
#[component]
pub fn Opportunities() -> impl IntoView {
    let i18n = use_i18n();
    let pid = use_pid();
    let list = Loaded::new(routes::opportunities(&pid));
    let names = rep_names(Loaded::new(routes::reps(&pid)));
    let totals = move || {
        let mut by: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for o in list.data.get().unwrap_or_default() {
            let entry = by.entry(o.currency).or_default();
            entry.0 += o.value;
            entry.1 += 1;
        }
        by.into_iter()
            .map(|(currency, (total, count))| {
                view! {
                    <li data-testid="opportunity-total" data-currency=currency.clone() data-value=total.to_string()>
                        <strong>{amount(total)} " " {currency.clone()}</strong>
                        " · "
                        {move || t_string!(i18n, lead.opportunities.count, count = count).to_string()}
                    </li>
                }
            })
            .collect_view()
    };
    let rows = move |items: Vec<OpportunityView>| {
        let rows = items
            .into_iter()
            .map(|o| {
                let rep = names.with(|n| n.get(&o.rep_id).cloned()).unwrap_or(o.rep_id.clone());
                let kind = o.kind;
                view! {
                    <tr data-testid="opportunity-row" data-opportunity-id=o.id.clone() data-kind=wire(&o.kind)>
                        <td><strong>{o.client_company}</strong></td>
                        <td>{move || kind_text(i18n, kind)}</td>
                        <td>{o.description}</td>
                        <td>{o.product}</td>
                        <td class="num">{amount(o.value)} " " {o.currency}</td>
                        <td>{rep}</td>
                        <td>{day(&o.visit_date)}</td>
                    </tr>
                }
            })
            .collect();
        let cols = vec![
            col!(i18n, lead.opportunities.client),
            col!(i18n, lead.opportunities.kind),
            col!(i18n, lead.opportunities.what),
            col!(i18n, lead.opportunities.product),
            col!(i18n, num lead.opportunities.value),
            col!(i18n, lead.opportunities.rep),
            col!(i18n, lead.opportunities.date),
        ];
        table(cols, rows, t!(i18n, lead.opportunities.none), None)
    };
    view! {
        <ExportLinks files=&["opportunities.csv", "opportunities.xlsx"] />
        <section class="card">
            <h2>{t!(i18n, lead.opportunities.title)}</h2>
            <h3>{t!(i18n, lead.opportunities.totals)}</h3>
            <ul class="totals">{totals}</ul>
            {loaded(list, rows)}
        </section>
    }
}
