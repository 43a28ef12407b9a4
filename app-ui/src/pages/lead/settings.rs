//! Programme settings: name, period, and the lead as the programme shows them.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::lead::{Programme, Settings as SettingsBody};

use super::{LeadPage, Loaded, Success, Tab, api, use_pid};
use crate::components::{ErrorBox, Loading};
use crate::i18n::*;
use crate::state::use_ctx;

/// Programme settings.
#[component]
pub fn Settings() -> impl IntoView {
    view! {
        <LeadPage tab=Tab::Settings>
            <SettingsBodyView />
        </LeadPage>
    }
}

#[component]
fn SettingsBodyView() -> impl IntoView {
    let pid = use_pid();
    let programme = Loaded::<Programme>::new(api(&pid, ""));
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
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = SettingsBody {
            name: name.get_untracked().trim().to_owned(),
            start: start.get_untracked(),
            end: end.get_untracked(),
            lead_name: lead_name.get_untracked().trim().to_owned(),
            lead_email: lead_email.get_untracked().trim().to_owned(),
        };
        busy.set(true);
        error.set(None);
        done.set(None);
        let path = api(&pid.get_value(), "");
        spawn_local(async move {
            match ctx.lead::<Programme>("PUT", &path, Some(&body)).await {
                Ok(_) => {
                    done.set(Some(t_string!(i18n, lead.settings.saved).to_string()));
                    loaded.reload();
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    let field = move |id: &'static str, kind: &'static str, value: RwSignal<String>| {
        view! {
            <input id=id type=kind required data-testid=id
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
        }
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.settings.title)}</h2>
            <form on:submit=submit class="form-grid">
                <div class="wide">
                    <label for="settings-name">{t!(i18n, lead.settings.name)}</label>
                    {field("settings-name", "text", name)}
                </div>
                <div>
                    <label for="settings-start">{t!(i18n, lead.settings.start)}</label>
                    {field("settings-start", "date", start)}
                </div>
                <div>
                    <label for="settings-end">{t!(i18n, lead.settings.end)}</label>
                    {field("settings-end", "date", end)}
                </div>
                <div>
                    <label for="settings-lead-name">{t!(i18n, lead.settings.lead_name)}</label>
                    {field("settings-lead-name", "text", lead_name)}
                </div>
                <div>
                    <label for="settings-lead-email">{t!(i18n, lead.settings.lead_email)}</label>
                    {field("settings-lead-email", "email", lead_email)}
                </div>
                <ErrorBox error=error />
                <Success text=done />
                <div class="row form-actions">
                    <button class="button" type="submit" data-testid="settings-save" disabled=move || busy.get()>
                        {t!(i18n, common.save)}
                    </button>
                </div>
            </form>
        </section>
    }
}
