//! Reps: who works on the programme and how much of their time it gets.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::lead::{Capacity, RepInput, RepView};
use rapport_api::routes;

use super::{Loaded, Success, use_pid};
use crate::col;
use crate::components::{Actions, CardHead, Check, Col, ErrorBox, Field, keyed_table, loaded_live};
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// The form's fields, shared by adding and editing.
#[derive(Clone, Copy)]
struct RepFields {
    name: RwSignal<String>,
    email: RwSignal<String>,
    /// Percent of the rep's time; 100 means dedicated to the programme.
    percent: RwSignal<u32>,
    active: RwSignal<bool>,
}

impl RepFields {
    fn new(rep: Option<&RepView>) -> Self {
        Self {
            name: RwSignal::new(rep.map(|r| r.name.clone()).unwrap_or_default()),
            email: RwSignal::new(rep.map(|r| r.email.clone()).unwrap_or_default()),
            percent: RwSignal::new(rep.map_or(50, |r| r.capacity.percent())),
            active: RwSignal::new(rep.is_none_or(|r| r.active)),
        }
    }

    /// Puts `rep` as it is now into the fields (an edit row opening again).
    fn fill(self, rep: &RepView) {
        self.name.set(rep.name.clone());
        self.email.set(rep.email.clone());
        self.percent.set(rep.capacity.percent());
        self.active.set(rep.active);
    }

    fn input(self) -> RepInput {
        let percent = self.percent.get_untracked();
        RepInput {
            name: self.name.get_untracked().trim().to_owned(),
            email: self.email.get_untracked().trim().to_owned(),
            capacity: if percent >= 100 {
                Capacity::Dedicated
            } else {
                Capacity::Share { percent }
            },
            active: self.active.get_untracked(),
        }
    }
}

#[component]
fn RepFieldsView(fields: RepFields, prefix: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    let f = fields;
    view! {
        <Field id=format!("{prefix}-name") value=f.name required=true
            placeholder=move || t_string!(i18n, lead.reps.name_placeholder).to_string()>
            {t!(i18n, lead.reps.name)}
        </Field>
        <Field id=format!("{prefix}-email") value=f.email kind="email">{t!(i18n, lead.reps.email)}</Field>
        <div>
            <label for=format!("{prefix}-capacity")>
                {t!(i18n, lead.reps.capacity)}
                <span class="hint">{t!(i18n, lead.reps.capacity_hint)}</span>
            </label>
            <input id=format!("{prefix}-capacity") type="number" min="1" max="100" required
                data-testid=format!("{prefix}-capacity")
                prop:value=move || f.percent.get().to_string()
                on:input=move |ev| {
                    if let Ok(n) = event_target_value(&ev).trim().parse::<u32>() {
                        f.percent.set(n.clamp(1, 100));
                    }
                } />
        </div>
        <div>
            <Check testid=format!("{prefix}-active") value=f.active>{t!(i18n, lead.reps.active)}</Check>
        </div>
    }
}

/// Reps with capacity.
#[component]
pub fn Reps() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let reps = Loaded::new(routes::reps(&pid.get_value()));
    let open = RwSignal::new(false);
    let fields = RepFields::new(None);
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = fields.input();
        error.set(None);
        let route = routes::create_rep(&pid.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(_) => {
                    done.set(Some(
                        t_string!(i18n, lead.reps.added, name = body.name).to_string(),
                    ));
                    fields.name.set(String::new());
                    fields.email.set(String::new());
                    open.set(false);
                    reps.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    // Keyed by id: a reload (after adding a rep, say) keeps an open edit row open.
    let list = move |list: Signal<Vec<RepView>>| {
        let cols = vec![
            col!(i18n, lead.reps.name),
            col!(i18n, lead.reps.email),
            col!(i18n, num lead.reps.capacity),
            col!(i18n, num lead.reps.assigned),
            col!(i18n, lead.reps.state),
            Col::blank(),
        ];
        keyed_table(
            cols,
            list,
            |r: &RepView| r.id.clone(),
            move |rep| view! { <RepRow rep reps done /> },
            t!(i18n, lead.reps.none),
            None,
        )
    };
    view! {
        <section class="card">
            <CardHead title=move || t_string!(i18n, lead.reps.title).to_string() testid="rep-add"
                label=move || t_string!(i18n, lead.reps.add).to_string() open=open on_toggle=move |()| done.set(None) />
            <p class="muted">{t!(i18n, lead.reps.intro)}</p>
            <Success text=done />
            <Show when=move || open.get()>
                <form on:submit=submit class="form-grid">
                    <RepFieldsView fields=fields prefix="rep" />
                    <ErrorBox error=error />
                    <Actions testid="rep-save" cancel=move |()| open.set(false) />
                </form>
            </Show>
            {loaded_live(reps, list)}
        </section>
    }
}

#[component]
fn RepRow(
    rep: Signal<RepView>,
    reps: Loaded<Vec<RepView>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let editing = RwSignal::new(false);
    let fields = RepFields::new(Some(&rep.get_untracked()));
    let error = RwSignal::new(None::<ApiError>);
    let id = StoredValue::new(rep.with_untracked(|r| r.id.clone()));
    let toggle = move |_| {
        if !editing.get_untracked() {
            rep.with_untracked(|r| fields.fill(r));
        }
        editing.update(|e| *e = !*e);
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = fields.input();
        error.set(None);
        let route = routes::edit_rep(&pid.get_value(), &id.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(r) => {
                    done.set(Some(
                        t_string!(i18n, lead.reps.saved, name = r.name).to_string(),
                    ));
                    editing.set(false);
                    reps.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let active = move || rep.with(|r| r.active);
    view! {
        <tr data-testid="rep-row" data-rep-id=id.get_value() data-active=move || active().to_string()
            data-capacity=move || rep.with(|r| r.capacity.percent().to_string())>
            <td><strong>{move || rep.with(|r| r.name.clone())}</strong></td>
            <td>{move || rep.with(|r| r.email.clone())}</td>
            <td class="num">
                {move || match rep.with(|r| r.capacity) {
                    Capacity::Dedicated => t_string!(i18n, lead.reps.dedicated).to_string(),
                    Capacity::Share { percent } => format!("{percent} %"),
                }}
            </td>
            <td class="num">{move || rep.with(|r| r.assigned_clients)}</td>
            <td>
                {move || if active() {
                    view! { <span class="pill ok">{t!(i18n, lead.reps.is_active)}</span> }.into_any()
                } else {
                    view! { <span class="pill warn">{t!(i18n, lead.reps.inactive)}</span> }.into_any()
                }}
            </td>
            <td>
                <button class="button ghost" data-testid="rep-edit" aria-expanded=move || editing.get().to_string()
                    on:click=toggle>
                    {t!(i18n, lead.reps.edit)}
                </button>
            </td>
        </tr>
        <Show when=move || editing.get()>
            <tr class="edit-row">
                <td colspan="6">
                    <form on:submit=save class="form-grid">
                        <RepFieldsView fields=fields prefix="rep-edit" />
                        <ErrorBox error=error />
                        <Actions testid="rep-edit-save" cancel=move |()| editing.set(false) />
                    </form>
                </td>
            </tr>
        </Show>
    }
}
