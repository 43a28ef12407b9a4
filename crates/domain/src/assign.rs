//! Assignment suggestion: splitting the client list into one list per rep
//! (docs/domain.md, "How the programme is run", step 4). Pure and deterministic.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::lang::Lang;

/// How much of a rep's time goes to the programme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Capacity {
    /// Works only on the programme (100 %).
    #[autosurgeon(rename = "dedicated")]
    Dedicated,
    /// Shares time with new-client work: `percent` of it (1..=100) here.
    #[autosurgeon(rename = "share")]
    Share {
        /// Percent of the rep's time, 1..=100.
        percent: u32,
    },
}

impl Capacity {
    /// The capacity in percent of a full-time rep (0 for an invalid share).
    pub fn percent(self) -> u32 {
        match self {
            Capacity::Dedicated => 100,
            Capacity::Share { percent } if (1..=100).contains(&percent) => percent,
            Capacity::Share { .. } => 0,
        }
    }
}

/// How good the original rep's relationship with the client is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Known excellent, and the rep sells the client everything possible.
    #[autosurgeon(rename = "excellent")]
    Excellent,
    /// Good, but not known to be excellent.
    #[autosurgeon(rename = "good")]
    Good,
    /// Weak.
    #[autosurgeon(rename = "weak")]
    Weak,
    /// Nobody knows.
    #[autosurgeon(rename = "unknown")]
    Unknown,
}

impl Strength {
    /// The strength as a word in `lang` ("слабые", "weak").
    pub fn text(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Strength::Excellent, Lang::Ru) => "отличные",
            (Strength::Good, Lang::Ru) => "хорошие",
            (Strength::Weak, Lang::Ru) => "слабые",
            (Strength::Unknown, Lang::Ru) => "неизвестные",
            (Strength::Excellent, Lang::En) => "excellent",
            (Strength::Good, Lang::En) => "good",
            (Strength::Weak, Lang::En) => "weak",
            (Strength::Unknown, Lang::En) => "unknown",
        }
    }
}

/// Why a client went to a rep. Stored with assignments and their history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The original rep keeps the client: excellent relationship, not monopolised.
    #[autosurgeon(rename = "kept_excellent")]
    KeptExcellent {
        /// The rep.
        rep: String,
    },
    /// The original rep shields the client from colleagues: moved away.
    #[autosurgeon(rename = "monopolised_moved")]
    MonopolisedMoved {
        /// The original rep.
        from: String,
        /// The new rep.
        to: String,
    },
    /// Monopolised, but there is no other active rep to move the client to.
    #[autosurgeon(rename = "monopolised_no_other_rep")]
    MonopolisedNoOtherRep {
        /// The original (and only) rep.
        rep: String,
    },
    /// Relationship not known to be excellent: balanced by capacity (the
    /// chosen rep may be the original one).
    #[autosurgeon(rename = "balanced")]
    Balanced {
        /// The chosen rep.
        to: String,
        /// The original rep.
        original: String,
        /// The original rep's relationship.
        strength: Strength,
    },
    /// The original rep is not active in the programme.
    #[autosurgeon(rename = "original_inactive")]
    OriginalInactive {
        /// The original rep.
        original: String,
        /// The chosen rep.
        to: String,
    },
    /// The original rep is not among the programme's reps.
    #[autosurgeon(rename = "original_unknown")]
    OriginalUnknown {
        /// The original rep id as recorded.
        original: String,
        /// The chosen rep.
        to: String,
    },
    /// No original rep recorded: balanced by capacity.
    #[autosurgeon(rename = "no_original")]
    NoOriginal {
        /// The chosen rep.
        to: String,
    },
    /// The lead decided by hand.
    #[autosurgeon(rename = "lead_decision")]
    LeadDecision {
        /// The lead's reason, e.g. "monopolised".
        note: String,
    },
}

impl Reason {
    /// The reason as a sentence in `lang`, each rep called by `name` (the rep's name in
    /// the programme). An id `name` does not know (an original rep recorded in the
    /// client list who is not in the programme) is shown as recorded, in quotes.
    ///
    /// The Russian sentences put names after a dash or in brackets, never where
    /// Russian would decline them ("назначен Марии Соколовой").
    pub fn text(&self, lang: Lang, name: impl Fn(&str) -> Option<String>) -> String {
        let n = |id: &str| {
            name(id).unwrap_or_else(|| match lang {
                Lang::Ru => format!("«{id}»"),
                Lang::En => format!("\"{id}\""),
            })
        };
        match (self, lang) {
            (Reason::KeptExcellent { rep }, Lang::Ru) => format!(
                "Остаётся у прежнего менеджера ({}): отличные отношения, клиент не монополизирован",
                n(rep)
            ),
            (Reason::KeptExcellent { rep }, Lang::En) => format!(
                "Stays with {}: excellent relationship, not monopolised",
                n(rep)
            ),
            (Reason::MonopolisedMoved { from, to }, Lang::Ru) => format!(
                "Новый менеджер — {}: прежний ({}) ограждал клиента от коллег (монополизация)",
                n(to),
                n(from)
            ),
            (Reason::MonopolisedMoved { from, to }, Lang::En) => format!(
                "Moved to {}: {} shielded the client from colleagues (monopolised)",
                n(to),
                n(from)
            ),
            (Reason::MonopolisedNoOtherRep { rep }, Lang::Ru) => format!(
                "Остаётся у прежнего менеджера ({}), хотя клиент монополизирован: нет другого активного менеджера. Добавьте менеджера и переназначьте",
                n(rep)
            ),
            (Reason::MonopolisedNoOtherRep { rep }, Lang::En) => format!(
                "Kept with {} although monopolised: there is no other active rep. Add a rep and reassign",
                n(rep)
            ),
            (
                Reason::Balanced {
                    to,
                    original,
                    strength,
                },
                Lang::Ru,
            ) => format!(
                "Менеджер — {}, по загрузке: отношения прежнего менеджера ({}) с клиентом {} (не отличные)",
                n(to),
                n(original),
                strength.text(Lang::Ru)
            ),
            (
                Reason::Balanced {
                    to,
                    original,
                    strength,
                },
                Lang::En,
            ) => format!(
                "Assigned to {} by capacity: {}'s relationship is {} (not excellent)",
                n(to),
                n(original),
                strength.text(Lang::En)
            ),
            (Reason::OriginalInactive { original, to }, Lang::Ru) => format!(
                "Менеджер — {}, по загрузке: прежний менеджер ({}) сейчас не работает в программе (неактивен или без загрузки)",
                n(to),
                n(original)
            ),
            (Reason::OriginalInactive { original, to }, Lang::En) => format!(
                "Assigned to {} by capacity: {} is not working on the programme now (inactive or no capacity)",
                n(to),
                n(original)
            ),
            (Reason::OriginalUnknown { original, to }, Lang::Ru) => format!(
                "Менеджер — {}, по загрузке: прежнего менеджера {} нет в программе",
                n(to),
                n(original)
            ),
            (Reason::OriginalUnknown { original, to }, Lang::En) => format!(
                "Assigned to {} by capacity: rep {} is not in the programme",
                n(to),
                n(original)
            ),
            (Reason::NoOriginal { to }, Lang::Ru) => format!(
                "Менеджер — {}, по загрузке: прежний менеджер не указан",
                n(to)
            ),
            (Reason::NoOriginal { to }, Lang::En) => {
                format!(
                    "Assigned to {} by capacity: no original rep recorded",
                    n(to)
                )
            }
            (Reason::LeadDecision { note }, Lang::Ru) => format!("Решение руководителя: {note}"),
            (Reason::LeadDecision { note }, Lang::En) => format!("Lead's decision: {note}"),
        }
    }
}

/// A rep as the suggestion sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepCapacity {
    /// The rep's id.
    pub rep_id: String,
    /// Time given to the programme.
    pub capacity: Capacity,
    /// Whether the rep takes part now.
    pub active: bool,
}

/// A client as the suggestion sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientForAssignment {
    /// The client's (document) id.
    pub client_id: String,
    /// The rep who originally won the client.
    pub original_rep: Option<String>,
    /// That rep's relationship.
    pub strength: Strength,
    /// The original rep shields the client from colleagues.
    pub monopolised: bool,
}

/// One suggested assignment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuggestedAssignment {
    /// The client.
    pub client_id: String,
    /// The suggested rep.
    pub rep_id: String,
    /// Why.
    pub reason: Reason,
}

/// A rep's resulting load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepLoad {
    /// Clients suggested for the rep.
    pub clients: u32,
    /// The rep's capacity in percent.
    pub capacity_percent: u32,
}

/// The suggestion: one assignment per client (in client id order) and the
/// resulting load per eligible rep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// One entry per client.
    pub assignments: Vec<SuggestedAssignment>,
    /// Load per eligible rep.
    pub loads: BTreeMap<String, RepLoad>,
}

/// Why no suggestion could be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AssignError {
    /// The programme has no reps.
    #[error("the programme has no reps: add reps before splitting the client list")]
    NoReps,
    /// Every rep is inactive or has zero capacity.
    #[error(
        "none of the {reps} reps is active with a capacity above zero: activate a rep or give one capacity"
    )]
    NoActiveReps {
        /// How many reps there are.
        reps: usize,
    },
}

impl AssignError {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            AssignError::NoReps => "assign_no_reps",
            AssignError::NoActiveReps { .. } => "assign_no_active_reps",
        }
    }
}

/// Suggests a rep for every client.
///
/// Rules (docs/domain.md): a client stays with its original rep only if the
/// relationship is excellent, it is not monopolised and that rep is active; a
/// monopolised client always goes to someone else (if nobody else exists it
/// is kept with an explicit reason); everyone else is balanced by capacity,
/// minimising clients / capacity, ties going to the original rep, then to
/// the smallest rep id. Clients are processed in client id order, so the
/// result does not depend on input order.
pub fn suggest_assignments(
    reps: &[RepCapacity],
    clients: &[ClientForAssignment],
) -> Result<Suggestion, AssignError> {
    if reps.is_empty() {
        return Err(AssignError::NoReps);
    }
    // Eligible reps, deduplicated and ordered by id.
    let mut loads: BTreeMap<String, RepLoad> = BTreeMap::new();
    for r in reps.iter().filter(|r| r.active && r.capacity.percent() > 0) {
        loads.insert(
            r.rep_id.clone(),
            RepLoad {
                clients: 0,
                capacity_percent: r.capacity.percent(),
            },
        );
    }
    if loads.is_empty() {
        return Err(AssignError::NoActiveReps { reps: reps.len() });
    }
    let known: std::collections::BTreeSet<&str> = reps.iter().map(|r| r.rep_id.as_str()).collect();

    let mut sorted: Vec<&ClientForAssignment> = clients.iter().collect();
    sorted.sort_by(|a, b| a.client_id.cmp(&b.client_id));

    let mut out: BTreeMap<String, SuggestedAssignment> = BTreeMap::new();
    // Pass 1: the fixed ones (kept with an excellent owner; a monopolised
    // client whose owner is the only eligible rep), so balancing sees their load.
    let mut rest = Vec::new();
    for c in sorted {
        let owner = c.original_rep.as_deref().filter(|o| loads.contains_key(*o));
        let fixed = match owner {
            Some(o) if c.monopolised && loads.len() == 1 => {
                Some(Reason::MonopolisedNoOtherRep { rep: o.to_owned() })
            }
            Some(o) if !c.monopolised && c.strength == Strength::Excellent => {
                Some(Reason::KeptExcellent { rep: o.to_owned() })
            }
            _ => None,
        };
        match (owner, fixed) {
            (Some(o), Some(reason)) => {
                bump(&mut loads, o);
                out.insert(
                    c.client_id.clone(),
                    SuggestedAssignment {
                        client_id: c.client_id.clone(),
                        rep_id: o.to_owned(),
                        reason,
                    },
                );
            }
            _ => rest.push(c),
        }
    }
    // Pass 2: balance the rest by capacity.
    for c in rest {
        let excluded = if c.monopolised {
            c.original_rep.as_deref()
        } else {
            None
        };
        let preferred = if c.monopolised {
            None
        } else {
            c.original_rep.as_deref()
        };
        let Some(to) = least_loaded(&loads, excluded, preferred) else {
            // Unreachable in practice: a monopolised client of the only rep was
            // fixed in pass 1; keep the rule explicit anyway.
            continue;
        };
        bump(&mut loads, &to);
        let reason = match c.original_rep.as_deref() {
            None => Reason::NoOriginal { to: to.clone() },
            Some(o) if c.monopolised => Reason::MonopolisedMoved {
                from: o.to_owned(),
                to: to.clone(),
            },
            Some(o) if !known.contains(o) => Reason::OriginalUnknown {
                original: o.to_owned(),
                to: to.clone(),
            },
            Some(o) if !loads.contains_key(o) => Reason::OriginalInactive {
                original: o.to_owned(),
                to: to.clone(),
            },
            Some(o) => Reason::Balanced {
                to: to.clone(),
                original: o.to_owned(),
                strength: c.strength,
            },
        };
        out.insert(
            c.client_id.clone(),
            SuggestedAssignment {
                client_id: c.client_id.clone(),
                rep_id: to,
                reason,
            },
        );
    }
    Ok(Suggestion {
        assignments: out.into_values().collect(),
        loads,
    })
}

fn bump(loads: &mut BTreeMap<String, RepLoad>, rep: &str) {
    if let Some(l) = loads.get_mut(rep) {
        l.clients += 1;
    }
}

/// The eligible rep whose (load + 1) / capacity is smallest; ties go to
/// `preferred`, then to the smallest id. Compared by cross-multiplication,
/// so no float rounding decides a tie.
fn least_loaded(
    loads: &BTreeMap<String, RepLoad>,
    excluded: Option<&str>,
    preferred: Option<&str>,
) -> Option<String> {
    let mut best: Option<(&String, &RepLoad)> = None;
    for (id, l) in loads.iter().filter(|(id, _)| Some(id.as_str()) != excluded) {
        best = match best {
            None => Some((id, l)),
            Some((bid, bl)) => {
                let lhs = u64::from(l.clients + 1) * u64::from(bl.capacity_percent);
                let rhs = u64::from(bl.clients + 1) * u64::from(l.capacity_percent);
                if lhs < rhs || (lhs == rhs && Some(id.as_str()) == preferred) {
                    Some((id, l))
                } else {
                    Some((bid, bl))
                }
            }
        };
    }
    best.map(|(id, _)| id.clone())
}
