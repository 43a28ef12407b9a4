//! [`DeviceCore`]: one device's state over its store — what is dirty, which edits came
//! in during a run, the pairing and the programme view it reads, and the actor it writes
//! under.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{ActorId, Automerge};
use rapport_domain::template::read_template;
use rapport_domain::{DocId, ProgrammeView, Template, read_view, view_id};
use rapport_protocol::DeviceConfig;

use crate::error::NodeError;
use crate::host::Host;
use crate::store::{DeviceStore, IndexEntry, Pairing};

/// What the core keeps in memory, rebuilt from the store at open.
#[derive(Default)]
pub(crate) struct Mem {
    /// Documents with changes the server may not have (mirror of the store's marks).
    pub(crate) dirty: HashSet<DocId>,
    /// Edits per document since open: a run clears a dirty mark only if no edit came
    /// in after the run took the document.
    pub(crate) edit_gen: HashMap<DocId, u64>,
    /// Times sync changed each document since open: an edit reloads a cached copy
    /// older than the last one.
    pub(crate) sync_gen: HashMap<DocId, u64>,
    /// When the shell plans the next attempt (unix ms).
    pub(crate) next_attempt_ms: Option<i64>,
    /// A run is going on.
    pub(crate) running: bool,
    /// The programme view (questionnaire, names), once read.
    pub(crate) view: Option<Arc<ProgrammeView>>,
    /// The paired device, once read.
    pub(crate) device: Option<Pairing>,
    /// Changes saved per document by edits since its last compaction was asked for.
    pub(crate) uncompacted: HashMap<DocId, usize>,
    /// When the last edit was saved (unix ms).
    pub(crate) last_edit_ms: i64,
}

/// What a run shares with the core it came from (a run outlives no core, but holds no
/// borrow of it, so a shell can drive it across awaits).
pub(crate) struct Shared {
    pub(crate) host: Arc<dyn Host>,
    mem: Mutex<Mem>,
    /// The next run first reconciles (set at open and when the server asks).
    pub(crate) reconcile: AtomicBool,
    /// 8 random bytes drawn at this opening of the store (see [`DeviceCore::edit_actor`]).
    pub(crate) opening: [u8; 8],
    /// Settings of the sync runs (frame limits, round-trip cap).
    pub(crate) config: Mutex<DeviceConfig>,
    /// The store keeps a document received whole as its bytes
    /// ([`DeviceStore::keeps_whole_documents`]).
    pub(crate) keeps_wholes: bool,
}

impl Shared {
    pub(crate) fn mem(&self) -> MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.host.now_ms()
    }

    /// The dirty documents and their edit generations, as a run takes them.
    pub(crate) fn dirty_snapshot(&self) -> (Vec<DocId>, HashMap<DocId, u64>) {
        let mem = self.mem();
        let mut dirty: Vec<DocId> = mem.dirty.iter().copied().collect();
        dirty.sort();
        let generations = dirty
            .iter()
            .map(|id| (*id, mem.edit_gen.get(id).copied().unwrap_or(0)))
            .collect();
        (dirty, generations)
    }

    /// Of `docs`, those not edited since `generations` was taken.
    pub(crate) fn unedited(&self, docs: &[DocId], generations: &HashMap<DocId, u64>) -> Vec<DocId> {
        let mem = self.mem();
        docs.iter()
            .filter(|id| {
                mem.edit_gen.get(id).copied().unwrap_or(0)
                    == generations.get(id).copied().unwrap_or(0)
            })
            .copied()
            .collect()
    }

    /// After the store's marks of `cleared` were removed: forgets them in memory, and
    /// returns those an edit reached meanwhile (their mark must go back).
    pub(crate) fn cleared(
        &self,
        cleared: &[DocId],
        generations: &HashMap<DocId, u64>,
    ) -> Vec<DocId> {
        let mut mem = self.mem();
        let mut back = Vec::new();
        for id in cleared {
            if mem.edit_gen.get(id).copied().unwrap_or(0)
                == generations.get(id).copied().unwrap_or(0)
            {
                mem.dirty.remove(id);
            } else {
                back.push(*id);
            }
        }
        back
    }

    /// Marks in memory documents a run found to send (their store marks are written).
    pub(crate) fn marked(&self, docs: &[DocId]) {
        let mut mem = self.mem();
        for id in docs {
            mem.dirty.insert(*id);
            *mem.edit_gen.entry(*id).or_default() += 1;
        }
    }

    /// An edit of `id` is about to be saved: marks it dirty in memory and counts the
    /// edit, in one step, and says whether it was dirty already (its store mark is
    /// there: a run that removes it afterwards sees this edit and puts it back).
    pub(crate) fn edited(&self, id: DocId) -> bool {
        let mut mem = self.mem();
        *mem.edit_gen.entry(id).or_default() += 1;
        !mem.dirty.insert(id)
    }

    /// Sync changed these documents: edits reload them, the view is read again.
    pub(crate) fn synced_changes(&self, docs: &[DocId]) {
        let mut mem = self.mem();
        for id in docs {
            *mem.sync_gen.entry(*id).or_default() += 1;
        }
        if mem.view.as_ref().is_some_and(|v| docs.contains(&v.id)) {
            mem.view = None;
        }
    }
}

/// A document open for editing, with the sync generation it was loaded at.
pub(crate) struct Cached {
    pub(crate) sync_gen: u64,
    pub(crate) doc: Automerge,
}

/// One device: its store, and what it decides over it. Every call is safe to make
/// concurrently; edits of the same document wait for each other.
pub struct DeviceCore<S> {
    pub(crate) store: S,
    pub(crate) shared: Arc<Shared>,
    /// Documents being edited, with the device's actor.
    pub(crate) cache: async_lock::Mutex<HashMap<DocId, Cached>>,
    /// One compaction pass at a time.
    pub(crate) compact_lock: async_lock::Mutex<()>,
    /// One sync run at a time.
    sync_lock: async_lock::Mutex<()>,
    /// Shutting down: compaction stops before its next document.
    pub(crate) closing: AtomicBool,
}

impl<S: DeviceStore> DeviceCore<S> {
    /// Opens the core over `store`: reads the dirty set, indexes documents the index
    /// lost (a crash between a document's commit and its index entry), and arranges for
    /// the first run of a paired store to reconcile (a store just opened may be a
    /// restored or copied one; one never paired has nothing to repair).
    // On the web one thread runs everything: `Arc` there only shares, it never crosses.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn open(store: S, host: Arc<dyn Host>) -> Result<Self, NodeError> {
        let mut opening = [0u8; 8];
        host.fill_random(&mut opening);
        let paired = store.pairing().await?.is_some();
        let mem = Mem {
            dirty: store.dirty().await?.into_iter().collect(),
            ..Mem::default()
        };
        let keeps_wholes = store.keeps_whole_documents();
        let core = Self {
            store,
            shared: Arc::new(Shared {
                host,
                mem: Mutex::new(mem),
                reconcile: AtomicBool::new(paired),
                opening,
                config: Mutex::new(DeviceConfig::default()),
                keeps_wholes,
            }),
            cache: async_lock::Mutex::new(HashMap::new()),
            compact_lock: async_lock::Mutex::new(()),
            sync_lock: async_lock::Mutex::new(()),
            closing: AtomicBool::new(false),
        };
        core.repair_index().await?;
        Ok(core)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The host.
    pub fn host(&self) -> &Arc<dyn Host> {
        &self.shared.host
    }

    /// Waits for the sync run in progress, if any; hold the guard while driving a run.
    pub async fn sync_lock(&self) -> async_lock::MutexGuard<'_, ()> {
        self.sync_lock.lock().await
    }

    /// Settings of the sync runs from now on (tests use small frame limits).
    pub fn set_sync_config(&self, config: DeviceConfig) {
        *self.shared.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// When the shell plans the next sync attempt (shown in the status).
    pub fn set_next_attempt(&self, at_ms: Option<i64>) {
        self.shared.mem().next_attempt_ms = at_ms;
    }

    /// Stops compaction before its next document, and waits for the one in progress.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let _compacting = self.compact_lock.lock().await;
    }

    /// This device as paired (kept in memory: it changes only when pairing).
    pub async fn device(&self) -> Result<Option<Pairing>, NodeError> {
        if let Some(d) = self.shared.mem().device.clone() {
            return Ok(Some(d));
        }
        let device = self.store.pairing().await?;
        self.shared.mem().device.clone_from(&device);
        Ok(device)
    }

    /// This device as paired, or [`NodeError::NotPaired`].
    pub async fn paired(&self) -> Result<Pairing, NodeError> {
        self.device().await?.ok_or(NodeError::NotPaired)
    }

    /// Records a new pairing: documents open for editing carry the old actor (if any)
    /// and are reloaded; the view is read again; a sync is due. Its first run reconciles
    /// when the store holds documents from before (a revoked device paired again).
    pub async fn set_pairing(&self, pairing: Pairing) -> Result<(), NodeError> {
        self.store
            .set_pairing(&pairing, self.shared.now_ms())
            .await?;
        let held = !self.store.list_docs().await?.is_empty();
        self.shared.reconcile.store(held, Ordering::SeqCst);
        // Under the cache lock, so no edit loads a document with the old actor meanwhile.
        let mut cache = self.cache.lock().await;
        cache.clear();
        let mut mem = self.shared.mem();
        mem.view = None;
        mem.device = Some(pairing);
        drop(mem);
        drop(cache);
        self.shared.host.edited();
        Ok(())
    }

    /// The programme view (questionnaire, names) of the paired programme.
    pub async fn view(&self) -> Result<Option<Arc<ProgrammeView>>, NodeError> {
        if let Some(v) = self.shared.mem().view.clone() {
            return Ok(Some(v));
        }
        let device = self.paired().await?;
        let Some(doc) = self.load(view_id(device.programme_id)).await? else {
            return Ok(None);
        };
        let view = Arc::new(read_view(&doc)?);
        self.shared.mem().view = Some(view.clone());
        Ok(Some(view))
    }

    /// The questionnaire: from the programme view, or (a lead's device) the programme.
    pub async fn template(&self) -> Result<Template, NodeError> {
        if let Some(view) = self.view().await? {
            return Ok(view.template.clone());
        }
        let device = self.paired().await?;
        match self.load(device.programme_id).await? {
            Some(doc) => Ok(read_template(&doc)?),
            None => Err(NodeError::NoTemplate),
        }
    }

    /// `NotFound` unless the client `id` is on this device (a rep's own client).
    pub(crate) async fn require_client(&self, id: DocId) -> Result<(), NodeError> {
        let held = self
            .store
            .indexed()
            .await?
            .iter()
            .any(|e| e.doc == id && e.kind == "client");
        if held {
            Ok(())
        } else {
            Err(NodeError::NotFound { what: "client", id })
        }
    }

    /// One document from the store.
    pub async fn load(&self, id: DocId) -> Result<Option<Automerge>, NodeError> {
        match self.store.load_many(&[id]).await?.pop() {
            Some((_, loaded)) => Ok(loaded?),
            None => Ok(None),
        }
    }

    /// The actor this opening of the store writes with: the device's registered actor
    /// followed by 8 random bytes drawn at open.
    ///
    /// Why: a device's folder can go back in time (a tablet restored from a backup, a
    /// laptop image rolled back, a folder copied to a second machine). Writing again
    /// under the registered actor would reuse sequence numbers already used for other
    /// changes, which Automerge (and the server) cannot accept: the edits would be
    /// refused for good. A fresh suffix per opening never reuses a (actor, sequence)
    /// pair, needs no round trip before the first edit (the rep may be offline for
    /// days), and keeps history naming the person and the device: the server and every
    /// device find the device by the registered first 16 bytes, as they do for the
    /// server's per-edit actors of a lead. Changes made under the plain registered
    /// actor before this scheme merge as they always did.
    pub fn edit_actor(&self, device: &Pairing) -> Result<ActorId, NodeError> {
        let mut bytes = hex::decode(&device.actor).map_err(|_| {
            NodeError::invalid(
                "bad_actor",
                "the stored device actor is damaged; pair again",
            )
        })?;
        // Only a 16-byte registered actor can be found by its prefix; a longer one
        // (paired by another client) keeps the old behaviour.
        if bytes.len() * 2 == rapport_domain::ACTOR_PREFIX_HEX {
            bytes.extend_from_slice(&self.shared.opening);
        }
        Ok(ActorId::from(bytes))
    }

    /// Indexes stored documents the index does not know.
    async fn repair_index(&self) -> Result<(), NodeError> {
        let known: HashSet<DocId> = self
            .store
            .indexed()
            .await?
            .into_iter()
            .map(|e| e.doc)
            .collect();
        let missing: Vec<DocId> = self
            .store
            .list_docs()
            .await?
            .into_iter()
            .filter(|d| !known.contains(d))
            .collect();
        let mut entries = Vec::new();
        for (id, loaded) in self.store.load_many(&missing).await? {
            if let Ok(Some(doc)) = loaded
                && let Ok(scope) = rapport_domain::doc_scope(&doc)
            {
                entries.push(index_entry(id, &scope));
            }
        }
        self.store.index(&entries).await?;
        Ok(())
    }
}

/// The index entry of a document of `scope`.
pub(crate) fn index_entry(id: DocId, scope: &rapport_domain::DocScope) -> IndexEntry {
    IndexEntry {
        doc: id,
        kind: scope.kind.tag().to_owned(),
        client: scope.client_id,
    }
}
