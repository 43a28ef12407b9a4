//! The programme's merged status: headline numbers and charts that move as devices
//! sync: reloaded on each event of the server's live status (in a browser and in the
//! desktop app alike), polled every 5 s only while there is no stream (a server out of
//! reach).

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use rapport_api::lead::{OpportunityKind, ProgrammeStatus, ReferralView};

use rapport_api::routes;

use super::{I18n, Loaded, use_pid};
use crate::components::follow_status;
use crate::components::{ErrorBox, Loading};
use crate::format::amount;
use crate::translations::i18n::*;

/// How often the dashboard asks again while it has no live stream.
const POLL: Duration = Duration::from_secs(5);

/// The programme status dashboard.
#[component]
pub fn Dashboard() -> impl IntoView {
    let i18n = use_i18n();
    let pid = use_pid();
    let status = Loaded::new(routes::status(&pid));
    // Referrals per rep are not in the status: count them from the referral list.
    let referrals = Loaded::new(routes::referrals(&pid));
    let live = follow_status(&pid, POLL, move || {
        status.reload();
        referrals.reload();
    });
    view! {
        <div data-testid="dashboard" class="dashboard" data-live=move || live.get().to_string()>
            <ErrorBox error=status.error />
            {move || {
                // Labels and chart rows are built in the page's language: rebuild on a switch.
                let _ = i18n.get_locale();
                match status.data.get() {
                None => view! { <Loading /> }.into_any(),
                Some(s) => view! { <StatusView status=s referrals=referrals.data /> }.into_any(),
            }}}
        </div>
    }
}

#[component]
fn StatusView(
    status: ProgrammeStatus,
    referrals: RwSignal<Option<Vec<ReferralView>>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let s = status;
    let stats = view! {
        <div class="stats">
            <Stat id="stat-clients-total" value=s.clients_total label=move || t_string!(i18n, lead.dashboard.clients_total).to_string() />
            <Stat id="stat-clients-unassigned" value=s.clients_unassigned label=move || t_string!(i18n, lead.dashboard.clients_unassigned).to_string() />
            <Stat id="stat-visits-completed" value=s.visits.completed label=move || t_string!(i18n, lead.dashboard.visits_completed).to_string() />
            <Stat id="stat-visits-draft" value=s.visits.draft label=move || t_string!(i18n, lead.dashboard.visits_draft).to_string() />
            <Stat id="stat-visits-awaiting-review" value=s.visits.awaiting_review label=move || t_string!(i18n, lead.dashboard.awaiting_review).to_string() />
            <Stat id="stat-visits-returned" value=s.visits.returned label=move || t_string!(i18n, lead.dashboard.returned).to_string() />
            <Stat id="stat-visits-accepted" value=s.visits.accepted label=move || t_string!(i18n, lead.dashboard.accepted).to_string() />
            <Stat id="stat-referrals" value=s.referrals label=move || t_string!(i18n, lead.dashboard.referrals).to_string() />
            <Stat id="stat-opportunities" value=s.opportunities_count label=move || t_string!(i18n, lead.dashboard.opportunities).to_string() />
            <Stat id="stat-overdue" value=s.overdue_follow_ups label=move || t_string!(i18n, lead.dashboard.overdue).to_string() />
        </div>
        <p class="muted">
            {t!(i18n, lead.dashboard.contacts_refreshed, count = s.contacts_refreshed)}
            " · "
            {t!(i18n, lead.dashboard.edited_after, count = s.visits.edited_after_completion)}
        </p>
    };

    // Coverage: of each rep's assigned clients, visited (completed), with a draft, not yet.
    let coverage: Vec<BarRow> = s
        .reps
        .iter()
        .map(|r| {
            let done = r.visited_clients.min(r.assigned_clients);
            let draft = r.drafts.min(r.assigned_clients - done);
            let rest = r.assigned_clients - done - draft;
            BarRow {
                label: r.name.clone(),
                parts: vec![
                    ("done", done as f64),
                    ("draft", draft as f64),
                    ("rest", rest as f64),
                ],
                text: format!("{done} / {draft} / {rest} ({:.0} %)", r.coverage_percent),
            }
        })
        .collect();
    let visits = vec![
        BarRow {
            label: t_string!(i18n, lead.dashboard.state_completed).to_string(),
            parts: vec![("done", s.visits.completed as f64)],
            text: s.visits.completed.to_string(),
        },
        BarRow {
            label: t_string!(i18n, lead.dashboard.state_draft).to_string(),
            parts: vec![("draft", s.visits.draft as f64)],
            text: s.visits.draft.to_string(),
        },
        BarRow {
            label: t_string!(i18n, lead.dashboard.state_edited).to_string(),
            parts: vec![("bad", s.visits.edited_after_completion as f64)],
            text: s.visits.edited_after_completion.to_string(),
        },
    ];
    let opportunities: Vec<BarRow> = s
        .opportunities
        .iter()
        .map(|o| BarRow {
            label: format!("{} · {}", kind_text(i18n, o.kind), o.currency),
            parts: vec![("done", o.total_estimated_value)],
            text: format!(
                "{} {} ({})",
                amount(o.total_estimated_value),
                o.currency,
                o.count
            ),
        })
        .collect();
    let quality = s.quality_failures.clone();
    let rep_names: BTreeMap<String, String> = s
        .reps
        .iter()
        .map(|r| (r.rep_id.clone(), r.name.clone()))
        .collect();

    view! {
        {stats}
        <div class="charts">
            <Chart id="chart-coverage" title=move || t_string!(i18n, lead.dashboard.chart_coverage).to_string()
                legend=move || t_string!(i18n, lead.dashboard.legend_coverage).to_string() rows=coverage />
            <Chart id="chart-visits" title=move || t_string!(i18n, lead.dashboard.chart_visits).to_string()
                legend=String::new rows=visits />
            <section class="card chart-card" data-testid="chart-quality">
                <h2>{t!(i18n, lead.dashboard.chart_quality)}</h2>
                {if quality.is_empty() {
                    view! { <p class="muted">{t!(i18n, lead.dashboard.quality_none)}</p> }.into_any()
                } else {
                    quality_bars(i18n, quality).into_any()
                }}
            </section>
            <Chart id="chart-opportunities" title=move || t_string!(i18n, lead.dashboard.chart_opportunities).to_string()
                legend=String::new rows=opportunities />
            {move || {
                let rows = referrals_by_rep(referrals.get().unwrap_or_default(), &rep_names);
                view! {
                    <Chart id="chart-referrals" title=move || t_string!(i18n, lead.dashboard.chart_referrals).to_string()
                        legend=String::new rows=rows />
                }
            }}
        </div>
    }
}

fn referrals_by_rep(list: Vec<ReferralView>, names: &BTreeMap<String, String>) -> Vec<BarRow> {
    let mut by: BTreeMap<String, u32> = BTreeMap::new();
    for r in list {
        let name = names.get(&r.rep_id).cloned().unwrap_or(r.rep_id);
        *by.entry(name).or_default() += 1;
    }
    by.into_iter()
        .map(|(label, n)| BarRow {
            label,
            parts: vec![("done", n as f64)],
            text: n.to_string(),
        })
        .collect()
}

fn kind_text(i18n: I18n, kind: OpportunityKind) -> String {
    match kind {
        OpportunityKind::Growth => t_string!(i18n, lead.kind.growth).to_string(),
        OpportunityKind::CrossSell => t_string!(i18n, lead.kind.cross_sell).to_string(),
    }
}

/// One headline number; `data-value` carries the number for tests.
#[component]
fn Stat(id: &'static str, value: u32, #[prop(into)] label: Signal<String>) -> impl IntoView {
    view! {
        <div class="stat-card" data-testid=id data-value=value.to_string()>
            <span class="stat">{value}</span>
            <span class="stat-label">{label}</span>
        </div>
    }
}

/// One bar of a horizontal bar chart: stacked parts (CSS class, value) and the numbers.
#[derive(Clone, Debug)]
struct BarRow {
    label: String,
    parts: Vec<(&'static str, f64)>,
    text: String,
}

/// A titled horizontal bar chart; the numbers are printed beside each bar.
#[component]
fn Chart(
    id: &'static str,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] legend: Signal<String>,
    rows: Vec<BarRow>,
) -> impl IntoView {
    let i18n = use_i18n();
    let body = if rows.is_empty() {
        view! { <p class="muted">{t!(i18n, lead.dashboard.no_data)}</p> }.into_any()
    } else {
        bars(rows, title).into_any()
    };
    view! {
        <section class="card chart-card" data-testid=id>
            <h2>{title}</h2>
            {move || {
                let legend = legend.get();
                (!legend.is_empty()).then(|| view! { <p class="muted legend">{legend}</p> })
            }}
            {body}
        </section>
    }
}

/// The bars as HTML rows: label, bar, numbers, in the page's own text size at any width
/// (an SVG drawn at one width and scaled to the card shrank its labels to about 9 px
/// on a 1024 px tablet). Bar widths are set through the DOM (`style:`), which the
/// Content-Security-Policy allows, unlike `style` attributes.
fn bars(rows: Vec<BarRow>, title: Signal<String>) -> impl IntoView {
    let max = rows
        .iter()
        .map(|r| r.parts.iter().map(|p| p.1.max(0.0)).sum::<f64>())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let groups = rows
        .into_iter()
        .map(|row| {
            let parts = row
                .parts
                .iter()
                .map(|&(class, value)| {
                    let width = format!("{:.2}%", 100.0 * value.max(0.0) / max);
                    view! { <span class=format!("bar {class}") style:width=width></span> }
                })
                .collect_view();
            let label = shorten(&row.label, 40);
            view! {
                <div class="chart-row" data-testid="chart-row">
                    <span class="chart-label" title=row.label>{label}</span>
                    <span class="chart-track">{parts}</span>
                    <span class="chart-value">{row.text}</span>
                </div>
            }
        })
        .collect_view();
    view! {
        <div class="chart" role="img" aria-label=move || title.get()>
            {groups}
        </div>
    }
}

/// Quality failures: one bar per company (failures), then the list with the numbers.
fn quality_bars(i18n: I18n, failures: Vec<rapport_api::lead::QualityFailure>) -> impl IntoView {
    let mut by: BTreeMap<String, u32> = BTreeMap::new();
    for f in &failures {
        *by.entry(f.company.clone()).or_default() += 1;
    }
    let rows = by
        .into_iter()
        .map(|(label, n)| BarRow {
            label,
            parts: vec![("bad", n as f64)],
            text: n.to_string(),
        })
        .collect();
    let title = Signal::derive(move || t_string!(i18n, lead.dashboard.chart_quality).to_string());
    let items = failures
        .into_iter()
        .map(|f| {
            let outage = if f.outage_last_month {
                t_string!(i18n, lead.dashboard.outage_yes).to_string()
            } else {
                String::new()
            };
            view! {
                <li data-testid="quality-failure">
                    <strong>{f.company}</strong>
                    " · "
                    {t_string!(i18n, lead.dashboard.quality_line, target = f.target, actual = f.actual).to_string()}
                    " "
                    {outage}
                </li>
            }
        })
        .collect_view();
    view! {
        {bars(rows, title)}
        <ul class="quality-list">{items}</ul>
    }
}

/// A chart label that fits its column: whole characters (Cyrillic, emoji), then "…".
fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
