//! Programme settings: name, period, and the lead as the programme shows them.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::lead::{Programme, Settings as SettingsBody};

use rapport_api::routes;

use super::{Loaded, Success, use_pid};
use crate::components::{Actions, ErrorBox, Field, Loading};
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// Programme settings.
#[component]
pub fn Settings() -> impl IntoView {
    let pid = use_pid();
    let programme = Loaded::new(routes::programme(&pid));
    // The form is filled once from the first answer; later reloads must not overwrite
    // what the lead is typing.
    let first = Memo::new(move |_| programme.data.with(Option::is_some));
    view! {
        <ErrorBox error=programme.error />
        {move || {
            if first.get() {
                programme
                    .data
                    .get_untracked()
                    .map(|p| view! { <SettingsForm programme=p loaded=programme /> }.into_any())
            } else {
                Some(view! { <Loading /> }.into_any())
            }
        }}
    }
}

#[component]
fn SettingsForm(programme: Programme, loaded: Loaded<Programme>) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let name = RwSignal::new(programme.name);
    let start = RwSignal::new(programme.period.start);
    let end = RwSignal::new(programme.period.end);
    let lead_name = RwSignal::new(programme.lead.name);
    let lead_email = RwSignal::new(programme.lead.email);
    let warning_days = RwSignal::new(programme.meeting_warning_days.to_string());
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(days) = warning_days
            .get_untracked()
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=366).contains(d))
        else {
            error.set(Some(ApiError::new(
                "out_of_range",
                t_string!(i18n, lead.settings.warning_days_range).to_string(),
            )));
            return;
        };
        let body = SettingsBody {
            name: name.get_untracked().trim().to_owned(),
            start: start.get_untracked(),
            end: end.get_untracked(),
            lead_name: lead_name.get_untracked().trim().to_owned(),
            lead_email: lead_email.get_untracked().trim().to_owned(),
            meeting_warning_days: Some(days),
        };
        busy.set(true);
        error.set(None);
        done.set(None);
        let route = routes::update_programme(&pid.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(_) => {
                    done.set(Some(t_string!(i18n, lead.settings.saved).to_string()));
                    loaded.reload();
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.settings.title)}</h2>
            <form on:submit=submit class="form-grid">
                <Field id="settings-name" value=name required=true class="wide">{t!(i18n, lead.settings.name)}</Field>
                <Field id="settings-start" value=start required=true kind="date">{t!(i18n, lead.settings.start)}</Field>
                <Field id="settings-end" value=end required=true kind="date">{t!(i18n, lead.settings.end)}</Field>
                <Field id="settings-lead-name" value=lead_name required=true>{t!(i18n, lead.settings.lead_name)}</Field>
                <Field id="settings-lead-email" value=lead_email required=true kind="email">
                    {t!(i18n, lead.settings.lead_email)}
                </Field>
                <Field id="settings-warning-days" value=warning_days required=true kind="number" inputmode="numeric">
                    {t!(i18n, lead.settings.warning_days)}
                </Field>
                <ErrorBox error=error />
                <Success text=done />
                <Actions testid="settings-save" busy=busy />
            </form>
        </section>
    }
}
