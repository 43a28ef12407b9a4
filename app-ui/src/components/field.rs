//! Labelled form fields bound to signals: text-like inputs and text areas ([`Field`]),
//! drop-downs ([`Select`]) and check boxes ([`Check`]). The label is the children,
//! so it can carry a hint; it names the control for screen readers (`for`/`id`, or the
//! control inside the label).

use leptos::prelude::*;

/// A labelled input (`kind`: `text`, `email`, `tel`, `date`, `number`…, or `textarea`)
/// bound to `value`.
///
/// In a form grid (the lead's pages) it is `<div class=class><label for=id>…</label>
/// <input id=id>`; `inline` puts the input inside its label instead (the rep's forms).
/// `testid` defaults to `id`.
#[component]
pub fn Field(
    /// The control's id (and test id unless `testid` is given).
    #[prop(into, optional)]
    id: Option<String>,
    /// The test id, when it is not the id.
    #[prop(into, optional)]
    testid: Option<String>,
    /// The text bound to the control.
    value: RwSignal<String>,
    /// The input type, or `textarea`.
    #[prop(default = "text")]
    kind: &'static str,
    /// Whether the form needs it.
    #[prop(optional)]
    required: bool,
    /// A grey example inside the empty control.
    #[prop(into, optional)]
    placeholder: Option<TextProp>,
    /// The class of the wrapping `<div>` (`wide`).
    #[prop(optional)]
    class: Option<&'static str>,
    /// The keyboard a phone shows (`decimal`).
    #[prop(optional)]
    inputmode: Option<&'static str>,
    /// The input inside its label, without a wrapping `<div>`.
    #[prop(optional)]
    inline: bool,
    /// The label's words.
    children: Children,
) -> impl IntoView {
    let testid = testid.or_else(|| id.clone());
    let control = if kind == "textarea" {
        view! {
            <textarea id=id.clone() required=required data-testid=testid
                placeholder=placeholder.clone().map(|p| move || p.get())
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))>
            </textarea>
        }
        .into_any()
    } else {
        view! {
            <input id=id.clone() type=kind required=required data-testid=testid inputmode=inputmode
                placeholder=placeholder.clone().map(|p| move || p.get())
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
        }
        .into_any()
    };
    if inline {
        view! { <label>{children()} {control}</label> }.into_any()
    } else {
        view! {
            <div class=class>
                <label for=id>{children()}</label>
                {control}
            </div>
        }
        .into_any()
    }
}

/// A labelled drop-down bound to `value` (the chosen option's value); `options` are
/// its `<option>`s.
#[component]
pub fn Select(
    /// The control's id (and test id unless `testid` is given).
    #[prop(into)]
    id: String,
    /// The test id, when it is not the id.
    #[prop(into, optional)]
    testid: Option<String>,
    /// The chosen option's value.
    value: RwSignal<String>,
    /// The `<option>`s (may change as data arrives).
    #[prop(into)]
    options: ViewFn,
    /// The class of the wrapping `<div>`.
    #[prop(optional)]
    class: Option<&'static str>,
    /// The label's words.
    children: Children,
) -> impl IntoView {
    view! {
        <div class=class>
            <label for=id.clone()>{children()}</label>
            <select id=id.clone() data-testid=testid.unwrap_or(id)
                prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))>
                {move || options.run()}
            </select>
        </div>
    }
}

/// A check box inside its label, bound to `value`.
#[component]
pub fn Check(
    /// The test id.
    #[prop(into)]
    testid: String,
    /// Whether it is ticked.
    value: RwSignal<bool>,
    /// The label's words.
    children: Children,
) -> impl IntoView {
    view! {
        <label class="choice">
            <input type="checkbox" data-testid=testid
                prop:checked=move || value.get() on:change=move |ev| value.set(event_target_checked(&ev)) />
            {children()}
        </label>
    }
}

/// A form's buttons: "Save" (submits; test id `testid`, off while `busy`) and, given
/// `cancel`, "Cancel".
#[component]
pub fn Actions(
    /// The save button's test id.
    testid: &'static str,
    /// What "Cancel" does; no cancel button without it.
    #[prop(into, optional)]
    cancel: Option<Callback<()>>,
    /// Whether a save is on its way (the button is off).
    #[prop(into, optional)]
    busy: Signal<bool>,
) -> impl IntoView {
    let i18n = crate::translations::i18n::use_i18n();
    view! {
        <div class="row form-actions">
            <button class="button" type="submit" data-testid=testid disabled=move || busy.get()>
                {crate::translations::i18n::t!(i18n, common.save)}
            </button>
            {cancel.map(|cancel| view! {
                <button class="button ghost" type="button" on:click=move |_| cancel.run(())>
                    {crate::translations::i18n::t!(i18n, common.cancel)}
                </button>
            })}
        </div>
    }
}
