//! The device's sync run killed between every two of its steps: whatever step it dies
//! at, the device opened again from what its store made durable loses nothing and gets
//! clean with one more run. Exhaustive over the steps of a run that uploads, downloads
//! and reconciles (what a sans-IO run makes possible: the test is the IO).

use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use rapport_core::{
    Answer, DeviceCore, DeviceStore, MemDeviceSnapshot, MemDeviceStore, NodeError, Pairing, Step,
    StoreCall,
};
use rapport_domain::DocId;
use rapport_testkit::{MemDevice, MemHost, MemServer, now_or_never};

/// Most steps one run may take here (a bug looping forever fails instead).
const MAX_STEPS: usize = 500;

fn pairing(id: u64) -> Pairing {
    Pairing {
        server_url: "mem://server".into(),
        device_id: id.to_string(),
        token: "token".into(),
        programme_id: DocId::from_bytes([0; 16]),
        rep_id: Some("иванова".into()),
        label: "Планшет Ивановой".into(),
        actor: "aa".repeat(16),
    }
}

/// Appends `text` to the document's `notes`, through the core's durable edit.
fn write(core: &DeviceCore<MemDeviceStore>, id: DocId, text: &str) {
    now_or_never(core.edit(id, |doc| {
        let mut tx = doc.transaction();
        let notes = match tx.get(ROOT, "notes").expect("get") {
            Some((_, notes)) => notes,
            None => tx.put_object(ROOT, "notes", ObjType::Text).expect("text"),
        };
        let len = tx.length(&notes);
        tx.splice_text(&notes, len, 0, text).expect("type");
        tx.commit();
        Ok(())
    }))
    .expect("a durable edit");
}

fn notes(doc: &Automerge) -> String {
    match doc.get(ROOT, "notes").expect("get") {
        Some((_, id)) => doc.text(&id).expect("text"),
        None => String::new(),
    }
}

/// The name of a store call that writes (`None` for a read).
fn write_name(call: &StoreCall) -> Option<&'static str> {
    Some(match call {
        StoreCall::Commit(_) => "commit",
        StoreCall::RetainSyncStates(_) => "retain sync states",
        StoreCall::SetRemoteCursor(_) => "cursor",
        StoreCall::RecordRun(..) => "run record",
        StoreCall::MarkDirty(..) => "mark dirty",
        StoreCall::ClearDirty(_) => "clear dirty",
        StoreCall::Stop(_) => "stop",
        StoreCall::Unstop(_) => "unstop",
        StoreCall::Index(_) => "index",
        StoreCall::WriteResponse(_) => "response",
        StoreCall::LoadMany(_)
        | StoreCall::ListDocs
        | StoreCall::SyncStates(_)
        | StoreCall::Pairing
        | StoreCall::SyncRow
        | StoreCall::Stopped => return None,
    })
}

/// Drives `core`'s run against `server`, for at most `steps` steps (`None`: to the end).
/// Returns how many steps it took and, when it ended, its result.
fn drive(
    core: &DeviceCore<MemDeviceStore>,
    server: &mut MemServer,
    device: u64,
    steps: Option<usize>,
) -> (usize, Option<Result<(), NodeError>>) {
    drive_noting_writes(core, server, device, steps, &mut Vec::new())
}

/// [`drive`], noting the store's writes in `writes`.
fn drive_noting_writes(
    core: &DeviceCore<MemDeviceStore>,
    server: &mut MemServer,
    device: u64,
    steps: Option<usize>,
    writes: &mut Vec<&'static str>,
) -> (usize, Option<Result<(), NodeError>>) {
    let mut run = core.begin_run();
    let mut answer = None;
    for taken in 0..steps.unwrap_or(MAX_STEPS) {
        match run.step(answer.take()) {
            Step::Store(call) => {
                writes.extend(write_name(&call));
                answer = Some(Answer::Store(now_or_never(call.run(core.store()))));
            }
            Step::Post(post) => {
                let reply = if post.url.ends_with("/heads") {
                    server.handle_heads(device, &post.body)
                } else {
                    server.handle(device, &post.body)
                };
                answer = Some(Answer::Reply(Ok((200, reply.expect("valid frames")))));
            }
            Step::Done(result) => return (taken, Some(result.map(|_| ()))),
        }
    }
    assert!(steps.is_some(), "a run took over {MAX_STEPS} steps");
    (steps.unwrap_or(0), None)
}

/// A world: a server holding a document the lead changed, and a device that holds it
/// from before, edited two documents offline and was reopened (so its run reconciles).
fn world() -> (MemServer, MemDeviceSnapshot, DocId, DocId) {
    let mut server = MemServer::default();
    let (shared, own) = (DocId::from_bytes([1; 16]), DocId::from_bytes([2; 16]));
    // A second device (the lead's) writes the shared document first.
    let mut lead = MemDevice::new(7);
    lead.edit(shared, |doc| {
        let mut tx = doc.transaction();
        let notes = tx.put_object(ROOT, "notes", ObjType::Text).expect("text");
        tx.splice_text(&notes, 0, 0, "Начало.").expect("type");
        tx.commit();
    });
    lead.sync(&mut server, |_| rapport_testkit::Fault::None)
        .expect("the lead syncs");

    let host = Arc::new(MemHost::new(1, 1_700_000_000_000));
    let core = now_or_never(DeviceCore::open(MemDeviceStore::new(), host)).expect("open");
    now_or_never(core.set_pairing(pairing(1))).expect("pair");
    assert_eq!(
        drive(&core, &mut server, 1, None).1.map(|r| r.is_ok()),
        Some(true)
    );
    write(&core, shared, " Реп: клиент доволен.");
    let doc = Automerge::new();
    now_or_never(core.save_new(own, &doc, None)).expect("new");
    write(&core, own, "Мой визит: «Ромашка» 🌼");
    // The lead changes the shared document meanwhile.
    lead.edit(shared, |doc| {
        let mut tx = doc.transaction();
        let (_, notes) = tx.get(ROOT, "notes").expect("get").expect("notes");
        tx.splice_text(&notes, 0, 0, "Лид: ").expect("type");
        tx.commit();
    });
    lead.sync(&mut server, |_| rapport_testkit::Fault::None)
        .expect("the lead syncs");
    (server, core.store().snapshot(), shared, own)
}

/// Killed: the app dies at the step and opens its store again (its next run reconciles
/// first). Cut: the run is dropped at the step but the app lives on (its next run does
/// not reconcile, so the run's own persist order must hold on its own).
#[rstest::rstest]
#[case::killed(true)]
#[case::cut(false)]
fn a_run_stopped_at_any_step_loses_nothing_and_the_next_run_gets_clean(#[case] reopen: bool) {
    // How many steps a whole run takes from this state.
    let whole = {
        let (mut server, image, _, _) = world();
        let store = MemDeviceStore::from_snapshot(image);
        let host = Arc::new(MemHost::new(2, 1_700_000_100_000));
        let core = now_or_never(DeviceCore::open(store, host)).expect("open");
        let (steps, result) = drive(&core, &mut server, 1, None);
        assert!(matches!(result, Some(Ok(()))), "{result:?}");
        steps
    };
    assert!(
        whole > 10,
        "the run reconciles, uploads and downloads: {whole} steps"
    );
    for kill_at in 0..whole {
        // The same world each time (the documents, actors and edits are fixed).
        let (mut server, image, shared, own) = world();
        let store = MemDeviceStore::from_snapshot(image);
        let host = Arc::new(MemHost::new(3, 1_700_000_200_000));
        let core = now_or_never(DeviceCore::open(store, host.clone())).expect("open");
        let (_, ended) = drive(&core, &mut server, 1, Some(kill_at));
        assert!(ended.is_none(), "killed at step {kill_at} of {whole}");
        // Killed: what was only in memory is gone; the store is what it made durable.
        let core = if reopen {
            let durable = core.store().snapshot();
            drop(core);
            now_or_never(DeviceCore::open(
                MemDeviceStore::from_snapshot(durable),
                host,
            ))
            .expect("reopen")
        } else {
            core
        };
        let (_, result) = drive(&core, &mut server, 1, None);
        assert!(
            matches!(result, Some(Ok(()))),
            "killed at step {kill_at}: the next run ends well: {result:?}"
        );
        let dirty = now_or_never(core.store().dirty()).expect("dirty");
        assert!(
            dirty.is_empty(),
            "killed at step {kill_at}: still dirty {dirty:?}"
        );
        for id in [shared, own] {
            let mine = now_or_never(core.load(id)).expect("load").expect("held");
            assert_eq!(
                notes(&mine),
                notes(&server.load(&id)),
                "killed at step {kill_at}: {id} differs"
            );
        }
        assert_eq!(
            notes(&server.load(&shared)),
            "Лид: Начало. Реп: клиент доволен.",
            "killed at step {kill_at}"
        );
        assert_eq!(notes(&server.load(&own)), "Мой визит: «Ромашка» 🌼");
        assert_eq!(server.duplicates(), 0, "killed at step {kill_at}");
    }
}

/// A run's writes are what its exchange changed: a device that sends one edit and has
/// no document stopped writes what the response brought (its changes and states, the
/// cursor, the dirty mark cleared: one transaction, so one flush on the node) and its
/// record, and nothing more.
#[test]
fn a_run_of_one_edit_writes_only_what_it_changed() {
    let (mut server, image, shared, _) = world();
    let host = Arc::new(MemHost::new(4, 1_700_000_300_000));
    let core =
        now_or_never(DeviceCore::open(MemDeviceStore::from_snapshot(image), host)).expect("open");
    // The run after opening reconciles; the one after it is a device's usual sync.
    let (_, result) = drive(&core, &mut server, 1, None);
    assert!(matches!(result, Some(Ok(()))), "{result:?}");
    write(&core, shared, " Ещё одна правка.");
    let mut writes = Vec::new();
    let (_, result) = drive_noting_writes(&core, &mut server, 1, None, &mut writes);
    assert!(matches!(result, Some(Ok(()))), "{result:?}");
    writes.sort_unstable();
    assert_eq!(
        writes,
        ["response", "run record"],
        "the writes of a run sending one edit"
    );
    assert_eq!(
        notes(&server.load(&shared)),
        "Лид: Начало. Реп: клиент доволен. Ещё одна правка."
    );
}
