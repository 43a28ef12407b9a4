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
    let control = if kind == "date" {
        view! { <DateInput id=id.clone() testid=testid required=required value=value /> }.into_any()
    } else if kind == "textarea" {
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

/// A date typed in the page's language (`27.11.2026`; placeholder `дд.мм.гггг`), the
/// same whatever the browser's locale (a native date input would show the browser's,
/// `mm/dd/yyyy` in a Russian page), bound to `value` as `YYYY-MM-DD` (`""` when empty).
///
/// Typing sets `value` as soon as the text is a date, without rewriting the text under
/// the fingers; leaving the field writes the date in full and calls `on_commit`. A text
/// that is no date leaves `value` alone and marks the field invalid with a message
/// saying how to write it, so a form will not submit it.
#[component]
pub fn DateInput(
    /// The control's id.
    #[prop(optional_no_strip)]
    id: Option<String>,
    /// The test id.
    #[prop(optional_no_strip)]
    testid: Option<String>,
    /// The id of the element that labels it, when no `<label for>` does.
    #[prop(optional_no_strip)]
    labelledby: Option<String>,
    /// Whether the form needs it.
    #[prop(optional)]
    required: bool,
    /// The date, `YYYY-MM-DD`, or `""`.
    value: RwSignal<String>,
    /// Called with the date when the rep or lead leaves the field with a new date in it.
    #[prop(optional, into)]
    on_commit: Option<Callback<String>>,
) -> impl IntoView {
    use crate::format::{day, parse_day};
    use crate::translations::i18n::*;
    let i18n = use_i18n();
    let text = RwSignal::new(day(&value.get_untracked()));
    // Shown once the field is left with a text that is no date; gone when it is one.
    let wrong = RwSignal::new(false);
    // A date set from outside (a reload, another device's edit) is shown, unless the
    // text already says it.
    Effect::new(move |_| {
        let date = value.get();
        let typed = text.get_untracked();
        let same = parse_day(&typed).as_deref() == Some(date.as_str())
            || (date.is_empty() && parse_day(&typed).is_none());
        if !same {
            text.set(day(&date));
        }
    });
    // The date a text says (`""` for none typed); `None`: the text is no date.
    let date_of = |raw: &str| -> Option<String> {
        if raw.trim().is_empty() {
            Some(String::new())
        } else {
            parse_day(raw)
        }
    };
    let check = move |input: &web_sys::HtmlInputElement| -> Option<String> {
        let raw = input.value();
        let date = date_of(&raw);
        let message = if date.is_some() {
            String::new()
        } else {
            t_string!(i18n, common.date.invalid).to_string()
        };
        input.set_custom_validity(&message);
        if message.is_empty() {
            wrong.set(false);
        }
        text.set(raw);
        date
    };
    let on_input = move |ev: leptos::ev::Event| {
        let input = event_target::<web_sys::HtmlInputElement>(&ev);
        if let Some(date) = check(&input)
            && value.with_untracked(|v| *v != date)
        {
            value.set(date);
        }
    };
    let on_change = move |ev: leptos::ev::Event| {
        let input = event_target::<web_sys::HtmlInputElement>(&ev);
        let date = check(&input);
        if date.is_none() {
            // The message pushes down what is under the field: not while the tap that
            // left it (on Save, say) is still under way. Still wrong by then, it shows.
            crate::press::after_press(move || {
                if text.try_with_untracked(|t| date_of(t).is_none()) == Some(true) {
                    wrong.try_set(true);
                }
            });
        }
        if let Some(date) = date {
            text.set(day(&date));
            if value.with_untracked(|v| *v != date) {
                value.set(date.clone());
            }
            if let Some(commit) = on_commit {
                commit.run(date);
            }
        }
    };
    view! {
        <input id=id type="text" inputmode="numeric" autocomplete="off" required=required
            data-testid=testid aria-labelledby=labelledby
            placeholder=move || t_string!(i18n, common.date.placeholder).to_string()
            prop:value=move || text.get() on:input=on_input on:change=on_change />
        {move || wrong.get().then(|| view! {
            <span class="field-error" role="alert" data-testid="date-invalid">
                {t!(i18n, common.date.invalid)}
            </span>
        })}
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
