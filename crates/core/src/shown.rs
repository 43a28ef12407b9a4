//! How the rep's pages show documents and authors: each document's sync state, and a
//! person's name for the device that wrote a value.

use std::collections::{HashMap, HashSet};

use rapport_api::DocSync;
use rapport_domain::{DocId, ProgrammeView};

use crate::device::DeviceCore;
use crate::error::NodeError;
use crate::store::{DeviceStore, Pairing};

/// A lookup of each document's sync state (stopped, pending or synced), read once per call.
pub(crate) async fn doc_syncs<S: DeviceStore>(
    inner: &DeviceCore<S>,
) -> Result<impl Fn(&DocId) -> DocSync, NodeError> {
    let stopped: HashMap<DocId, (String, String)> = inner
        .store
        .stopped()
        .await?
        .into_iter()
        .map(|s| (s.doc_id, (s.code, s.message)))
        .collect();
    let dirty: HashSet<DocId> = inner.shared.mem().dirty.clone();
    Ok(move |id: &DocId| match stopped.get(id) {
        Some((code, message)) => DocSync::Stopped {
            code: code.clone(),
            message: message.clone(),
        },
        None if dirty.contains(id) => DocSync::Pending,
        None => DocSync::Synced,
    })
}

/// A person's name for the device that wrote with `actor`.
pub(crate) fn author(view: Option<&ProgrammeView>, me: &Pairing, actor: &str) -> String {
    if actor.starts_with(&me.actor) {
        // Name the person too: on a rep's second device, or when the lead reads a
        // conflict on a device a rep also used, the label alone does not say who.
        let name = match &me.rep_id {
            Some(rep) => view
                .and_then(|v| v.reps.get(rep))
                .map_or_else(|| rep.clone(), |r| r.name.clone()),
            None => "lead".to_owned(),
        };
        return format!("{name} ({}, this device)", me.label);
    }
    let Some(device) = view.and_then(|v| v.who_wrote(actor)) else {
        return format!("device {}", &actor[..actor.len().min(8)]);
    };
    let name = view
        .and_then(|v| v.reps.get(&device.who))
        .map_or_else(|| device.who.clone(), |r| r.name.clone());
    if device.label.is_empty() {
        name
    } else {
        format!("{name} ({})", device.label)
    }
}
