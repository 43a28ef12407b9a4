//! Devices: one-time pairing codes for reps' tablets, and the paired devices with revoke
//! and the documents the server refuses from each (kept on the device, never synced;
//! [`refused`]); the code also as a QR code a tablet scans to pair ([`qr`]).

mod qr;
mod refused;

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::lead::{DeviceView, NewPairingCode, PairingCode, RepView};
use rapport_api::routes;

use super::{Loaded, Success, use_pid};
use crate::col;
use crate::components::{Col, Confirm, ErrorBox, Field, Select, keyed_table, loaded_live};
use crate::format::date_time;
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// Pairing codes and devices.
#[component]
pub fn Devices() -> impl IntoView {
    let pid = use_pid();
    let reps = Loaded::new(routes::reps(&pid));
    let devices = Loaded::new(routes::devices(&pid));
    view! {
        <PairingForm reps=reps devices=devices />
        <DeviceList reps=reps devices=devices />
    }
}

#[component]
fn PairingForm(reps: Loaded<Vec<RepView>>, devices: Loaded<Vec<DeviceView>>) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let rep = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let code = RwSignal::new(None::<PairingCode>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let rep_id = rep.get_untracked();
        let body = NewPairingCode {
            rep_id: (!rep_id.is_empty()).then_some(rep_id),
            label: label.get_untracked().trim().to_owned(),
            expires_in_minutes: None,
        };
        busy.set(true);
        error.set(None);
        let route = routes::create_pairing_code(&pid.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(c) => {
                    code.set(Some(c));
                    devices.reload();
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    let options = move || {
        let reps = reps
            .data
            .get()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.active);
        view! {
            <option value="">{t!(i18n, lead.devices.lead_device)}</option>
            {reps.map(|r| view! { <option value=r.id.clone()>{r.name}</option> }).collect_view()}
        }
    };
    let shown = move || {
        code.get().map(|c| {
            let rep_name = c
                .rep_id
                .as_ref()
                .and_then(|id| {
                    reps.data
                        .with(|l| l.as_ref().and_then(|l| l.iter().find(|r| &r.id == id).map(|r| r.name.clone())))
                })
                .unwrap_or_else(|| t_string!(i18n, lead.devices.lead_device).to_string());
            view! {
                <div class="pairing-result" role="status">
                    <p>{t!(i18n, lead.devices.code_for)} " " <strong>{rep_name}</strong></p>
                    <p class="pairing-code" data-testid="pairing-code" data-code=c.code.clone()>{c.code.clone()}</p>
                    <p class="muted">
                        {t!(i18n, lead.devices.expires)} " " {date_time(c.expires_ms)} ". "
                        {t!(i18n, lead.devices.code_once)}
                    </p>
                    <qr::PairingQr code=c.code.clone() />
                </div>
            }
        })
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.devices.pair_title)}</h2>
            <p class="muted">{t!(i18n, lead.devices.pair_intro)}</p>
            <form on:submit=submit class="form-grid">
                <Select id="pairing-rep" value=rep options=options>{t!(i18n, lead.devices.rep)}</Select>
                <Field id="pairing-label" value=label
                    placeholder=move || t_string!(i18n, lead.devices.label_placeholder).to_string()>
                    {t!(i18n, lead.devices.label)}
                </Field>
                <div class="row form-actions">
                    <button class="button" type="submit" data-testid="pairing-create" disabled=move || busy.get()>
                        {t!(i18n, lead.devices.create)}
                    </button>
                </div>
            </form>
            <ErrorBox error=error />
            {shown}
        </section>
    }
}

#[component]
fn DeviceList(reps: Loaded<Vec<RepView>>, devices: Loaded<Vec<DeviceView>>) -> impl IntoView {
    let i18n = use_i18n();
    let done = RwSignal::new(None::<String>);
    // Keyed by id and content: a reload rebuilds only the rows that changed, so a
    // revoke question open on one device stays open when another is revoked.
    let list = move |list: Signal<Vec<DeviceView>>| {
        let cols = vec![
            col!(i18n, lead.devices.rep),
            col!(i18n, lead.devices.label),
            col!(i18n, lead.devices.last_sync),
            col!(i18n, lead.devices.state),
            Col::blank(),
        ];
        keyed_table(
            cols,
            list,
            |d: &DeviceView| (d.id.clone(), serde_json::to_string(d).unwrap_or_default()),
            move |device| {
                view! { <DeviceRow device=device.get_untracked() reps devices done /> }
            },
            t!(i18n, lead.devices.none),
            None,
        )
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.devices.list_title)}</h2>
            <Success text=done />
            {loaded_live(devices, list)}
        </section>
    }
}

#[component]
fn DeviceRow(
    device: DeviceView,
    reps: Loaded<Vec<RepView>>,
    devices: Loaded<Vec<DeviceView>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let id = StoredValue::new(device.id.clone());
    let label = StoredValue::new(device.label.clone());
    let revoked = device.revoked_ms.is_some();
    let rep_id = device.rep_id.clone();
    let who = move || match &rep_id {
        Some(id) => reps.data.with(|r| {
            r.iter()
                .flatten()
                .find(|r| &r.id == id)
                .map_or_else(|| id.clone(), |r| r.name.clone())
        }),
        None => t_string!(i18n, lead.devices.lead_device).to_string(),
    };
    let revoke = move |()| {
        let route = routes::revoke_device(&pid.get_value(), &id.get_value());
        spawn_local(async move {
            match ctx.fetch(route).await {
                Ok(_) => {
                    confirming.set(false);
                    done.set(Some(
                        t_string!(i18n, lead.devices.revoked_done, label = label.get_value())
                            .to_string(),
                    ));
                    devices.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let state = match device.revoked_ms {
        Some(at) => view! {
            <span class="pill bad">{t!(i18n, lead.devices.state_revoked)} " " {date_time(at)}</span>
        }
        .into_any(),
        None => {
            view! { <span class="pill ok">{t!(i18n, lead.devices.state_active)}</span> }.into_any()
        }
    };
    let last = device
        .last_seen_ms
        .map(date_time)
        .unwrap_or_else(|| t_string!(i18n, lead.devices.never).to_string());
    let refused = (!device.refused.is_empty())
        .then(|| view! { <refused::RefusedRow device_id=device.id.clone() docs=device.refused.clone() /> });
    view! {
        <tr data-testid="device-row" data-device-id=device.id.clone() data-revoked=revoked.to_string()>
            <td>{who}</td>
            <td>{device.label.clone()}</td>
            <td>{last}</td>
            <td>{state}</td>
            <td>
                {(!revoked).then(|| view! {
                    {move || (!confirming.get()).then(|| view! {
                        <button class="button ghost" data-testid="device-revoke" on:click=move |_| confirming.set(true)>
                            {t!(i18n, lead.devices.revoke)}
                        </button>
                    })}
                    <Confirm open=confirming yes_testid="device-revoke-confirm" cancel_testid="device-revoke-cancel"
                        yes_label=move || t_string!(i18n, lead.devices.revoke_yes).to_string() on_yes=revoke>
                        {t!(i18n, lead.devices.revoke_confirm)}
                    </Confirm>
                })}
                <ErrorBox error=error />
            </td>
        </tr>
        {refused}
    }
}
