//! Devices: one-time pairing codes for reps' tablets, and the paired devices with revoke
//! and the documents the server refuses from each (kept on the device, never synced;
//! [`refused`]); the code also as a QR code a tablet scans to pair ([`qr`]).
//!
//! The list is read again every few seconds while the page is open: the lead who just
//! gave a rep a code sees the tablet arrive, and sees each device's last sync and
//! refusals move, without reloading. Rows are keyed by device and follow their data,
//! so a revoke question open on a device stays open when that device syncs.

mod qr;
mod refused;

use std::collections::HashMap;
use std::time::Duration;

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
use crate::timer::every;
use crate::translations::i18n::*;

/// How often the open page reads the device list again.
const DEVICES_POLL: Duration = Duration::from_secs(5);

/// Pairing codes and devices.
#[component]
pub fn Devices() -> impl IntoView {
    let pid = use_pid();
    let reps = Loaded::new(routes::reps(&pid));
    let devices = Loaded::new(routes::devices(&pid));
    every(DEVICES_POLL, move || devices.reload());
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
    // The devices when the code was made, and whether each was revoked: a device of the
    // code's rep that is new, or revoked then and active now (a tablet paired again
    // keeps its id), has come with a code.
    let before = StoredValue::new(None::<HashMap<String, bool>>);
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
                    before.set_value(devices.data.with_untracked(|list| {
                        list.as_ref().map(|list| {
                            list.iter()
                                .map(|d| (d.id.clone(), d.revoked_ms.is_some()))
                                .collect()
                        })
                    }));
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
    // The device that came with the shown code, once the list has it.
    let paired = Memo::new(move |_| {
        let rep = code.with(|c| c.as_ref().map(|c| c.rep_id.clone()))?;
        before.with_value(|before| {
            let before = before.as_ref()?;
            devices.data.with(|list| {
                list.iter().flatten().find_map(|d| {
                    let came = d.rep_id == rep
                        && d.revoked_ms.is_none()
                        && before.get(&d.id).is_none_or(|&was_revoked| was_revoked);
                    came.then(|| (d.id.clone(), d.label.clone()))
                })
            })
        })
    });
    let shown = move || {
        if let Some((id, label)) = paired.get() {
            return Some(
                view! {
                    <div class="pairing-result" role="status" data-testid="pairing-paired" data-device-id=id>
                        <p><strong>{move || t_string!(i18n, lead.devices.paired, label = label.as_str()).to_string()}</strong></p>
                        <p class="muted">{t!(i18n, lead.devices.paired_code_used)}</p>
                    </div>
                }
                .into_any(),
            );
        }
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
            .into_any()
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
    // Keyed by device: a row is built once and follows its device's data, so a revoke
    // question stays open through the page's reloads.
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
            |d: &DeviceView| d.id.clone(),
            move |device| view! { <DeviceRow device reps devices done /> },
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
    device: Signal<DeviceView>,
    reps: Loaded<Vec<RepView>>,
    devices: Loaded<Vec<DeviceView>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let id = StoredValue::new(device.with_untracked(|d| d.id.clone()));
    let revoked_at = Memo::new(move |_| device.with(|d| d.revoked_ms));
    let who = move || {
        device.with(|d| match &d.rep_id {
            Some(id) => reps.data.with(|r| {
                r.iter()
                    .flatten()
                    .find(|r| &r.id == id)
                    .map_or_else(|| id.clone(), |r| r.name.clone())
            }),
            None => t_string!(i18n, lead.devices.lead_device).to_string(),
        })
    };
    let revoke = move |()| {
        let route = routes::revoke_device(&pid.get_value(), &id.get_value());
        spawn_local(async move {
            match ctx.fetch(route).await {
                Ok(_) => {
                    confirming.set(false);
                    let label = device.with_untracked(|d| d.label.clone());
                    done.set(Some(
                        t_string!(i18n, lead.devices.revoked_done, label = label).to_string(),
                    ));
                    devices.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let state = move || match revoked_at.get() {
        Some(at) => view! {
            <span class="pill bad">{t!(i18n, lead.devices.state_revoked)} " " {date_time(at)}</span>
        }
        .into_any(),
        None => {
            view! { <span class="pill ok">{t!(i18n, lead.devices.state_active)}</span> }.into_any()
        }
    };
    let last = move || {
        device
            .with(|d| d.last_seen_ms)
            .map(date_time)
            .unwrap_or_else(|| t_string!(i18n, lead.devices.never).to_string())
    };
    let refused = Memo::new(move |_| device.with(|d| d.refused.clone()));
    view! {
        <tr data-testid="device-row" data-device-id=id.get_value()
            data-revoked=move || revoked_at.get().is_some().to_string()
            data-last-seen=move || device.with(|d| d.last_seen_ms.unwrap_or(0)).to_string()>
            <td>{who}</td>
            <td>{move || device.with(|d| d.label.clone())}</td>
            <td>{last}</td>
            <td>{state}</td>
            <td>
                {move || revoked_at.get().is_none().then(|| view! {
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
        {move || {
            let docs = refused.get();
            (!docs.is_empty()).then(|| view! { <refused::RefusedRow device_id=id.get_value() docs /> })
        }}
    }
}
