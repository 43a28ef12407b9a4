//! The rounds of a visit's review, oldest first, as both the lead's visit page and the
//! rep's visit show them: who, when, the verdict, the comment on the visit, and each
//! answer's comment under its question's wording.

use leptos::prelude::*;
use rapport_api::{ReviewRound, Template, Verdict};
use rapport_domain::Localized;

use crate::format::date_time;
use crate::state::use_lang;
use crate::translations::i18n::*;

/// The list of `rounds`; answer comments are named by `template`'s wordings.
#[component]
pub fn ReviewRounds(rounds: Vec<ReviewRound>, template: Template) -> impl IntoView {
    let i18n = use_i18n();
    let lang = use_lang();
    view! {
        <ol class="review-rounds">
            {rounds
                .into_iter()
                .map(|r| {
                    let when = date_time(r.at_ms);
                    let who = r.by.clone();
                    let verdict = r.verdict;
                    let head = move || match verdict {
                        Verdict::Accepted => t_string!(i18n, common.review.round_accepted, when = when.clone(), who = who.clone()).to_string(),
                        Verdict::Returned => t_string!(i18n, common.review.round_returned, when = when.clone(), who = who.clone()).to_string(),
                    };
                    let notes: Vec<(String, Localized, String)> = r
                        .answer_comments
                        .iter()
                        .map(|(qid, text)| {
                            let wording = template
                                .question(qid)
                                .map_or_else(|| Localized::new(qid.as_str(), qid.as_str()), |q| q.wording.clone());
                            (qid.clone(), wording, text.clone())
                        })
                        .collect();
                    let comment = r.comment.clone();
                    view! {
                        <li data-testid="review-round" data-verdict=match verdict {
                            Verdict::Accepted => "accepted",
                            Verdict::Returned => "returned",
                        }>
                            <strong>{head}</strong>
                            {(!comment.is_empty()).then(|| view! { <p>{comment.clone()}</p> })}
                            <ul>
                                {notes
                                    .into_iter()
                                    .map(|(qid, wording, text)| view! {
                                        <li data-testid="review-round-note" data-question-id=qid>
                                            <em>{move || wording.get(lang.get()).to_owned()}</em>": " {text}
                                        </li>
                                    })
                                    .collect_view()}
                            </ul>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}
