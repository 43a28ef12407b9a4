//! "Are you sure?" before something that cannot be undone (revoking a device, retiring
//! a question): the question, the button that does it, and "Cancel".

use leptos::prelude::*;

use crate::translations::i18n::*;

/// While `open`, the question (children), the yes button (`yes_label`, test id
/// `yes_testid`, runs `on_yes`) and the cancel button (test id `cancel_testid`,
/// closes it).
#[component]
pub fn Confirm(
    /// Whether it is shown.
    open: RwSignal<bool>,
    /// The yes button's test id.
    yes_testid: &'static str,
    /// The cancel button's test id.
    cancel_testid: &'static str,
    /// The yes button's words.
    #[prop(into)]
    yes_label: TextProp,
    /// What yes does.
    #[prop(into)]
    on_yes: Callback<()>,
    /// The question.
    children: ChildrenFn,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <Show when=move || open.get()>
            <div class="confirm" role="alertdialog">
                <p>{children()}</p>
                <div class="row">
                    <button class="button danger" data-testid=yes_testid on:click=move |_| on_yes.run(())>
                        {
                            let label = yes_label.clone();
                            move || label.get()
                        }
                    </button>
                    <button class="button ghost" data-testid=cancel_testid on:click=move |_| open.set(false)>
                        {t!(i18n, common.cancel)}
                    </button>
                </div>
            </div>
        </Show>
    }
}
