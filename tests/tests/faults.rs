//! Network faults between real device nodes and the real server: nothing lost, nothing
//! duplicated, everyone converges.
//!
//! The server runs in this process (`TestServer`, on SQLite and on PostgreSQL — the
//! PostgreSQL case is skipped when `RAPPORT_TEST_DATABASE_URL` is unset). Four
//! `rapport_node::Node`s in temporary folders reach it only through a TCP fault proxy
//! ([`rapport_tests::fault_proxy`]) that drops, truncates, delays or resets about a third
//! of all connections: Ivanov's tablet and laptop (same rep: they edit the same visits
//! concurrently), Petrov's tablet (another rep) and the lead's device (the lead's edits
//! of visits go through a lead device node, as in the desktop app). They pair and sync
//! through the proxy.
//!
//! Each round every device edits offline (text answers typed word by word in Cyrillic,
//! a number and a yes/no answer, contacts, referrals, follow-ups, on shared and on own
//! visits; the lead also closes follow-ups), then all four sync at once through the
//! proxy. After the last round they keep syncing (bounded) until quiescent. Then:
//! - converged: every device holds, for every document it has, the server's heads, and
//!   reads every visit exactly as the server does (same conflicts);
//! - nothing lost: every word, contact, referral and follow-up a device reported saved
//!   is everywhere; the number answer shows exactly the values no later write replaced
//!   (concurrent writes stay as a conflict with every value);
//! - nothing duplicated: each word, contact, referral and follow-up appears once, and
//!   the server stores one change row per distinct change of each document.
//!
//! Knobs: `RAPPORT_FAULT_ROUNDS` (edit rounds, default 4: the CI run, ~30 s per
//! backend), `RAPPORT_FAULT_SEED` (replays a schedule; every run prints its seed),
//! `RAPPORT_FAULT_RATE` (share of faulted connections, default 0.3, 0.2–0.9).
//! The long run: `RAPPORT_FAULT_ROUNDS=30 cargo test -p rapport-tests --test faults --
//! --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use automerge::Automerge;
use rapport_api::{
    AnswerValue, ContactInput, FollowUpState, PairRequest, ReferralInput, Request, Response,
    ScalarAnswer, StartVisit, SyncStatus, VisitDetail, VisitEdit,
};
use rapport_domain::{
    ACTOR_PREFIX_HEX, DocId, QuestionKind, Template, Visit, answer_conflicts, view_id,
};
use rapport_node::{KeyStorage, Node, NodeOptions, SyncSettings, read_device_docs};
use rapport_testkit::{Backend, TestServer, sorted_heads};
use rapport_tests::fault_proxy::{FaultConfig, FaultKind, FaultProxy, IDLE};
use rstest::rstest;

/// Edit rounds unless `RAPPORT_FAULT_ROUNDS` says otherwise (the CI run).
const DEFAULT_ROUNDS: usize = 4;
/// Sync runs of every device after each round's edits.
const RUNS_PER_ROUND: usize = 3;
/// Most sync rounds after the last edits before the devices must be quiescent.
const SETTLE_ROUNDS: usize = 60;
/// Most attempts at any one set-up step through the faulty network.
const ATTEMPTS: usize = 60;
/// The data folder inside each device's temporary folder (Cyrillic on purpose).
const DATA: &str = "данные устройства";

fn rounds() -> usize {
    match std::env::var("RAPPORT_FAULT_ROUNDS") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("RAPPORT_FAULT_ROUNDS={s:?} is not a number")),
        Err(_) => DEFAULT_ROUNDS,
    }
}

/// A device node in its own folder, syncing only when told to.
struct Dev {
    /// Who it is, in the words it types (Cyrillic).
    tag: &'static str,
    node: Node,
    dir: tempfile::TempDir,
    /// Its actor (hex), once paired.
    actor: String,
}

impl Dev {
    async fn new(tag: &'static str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut options = NodeOptions::new(dir.path().join(DATA));
        options.key_storage = KeyStorage::File;
        options.auto_sync = false;
        // Above the proxy's longest hold of both directions (2 × 3 s).
        options.sync = SyncSettings {
            request_timeout: Duration::from_secs(10),
            ..SyncSettings::default()
        };
        let node = Node::open(options)
            .await
            .expect("the node opens in a fresh folder");
        Self {
            tag,
            node,
            dir,
            actor: String::new(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join(DATA)
    }

    /// A request that cannot fail offline (an edit, a read).
    async fn call(&self, request: Request) -> Response {
        let what = format!("{request:?}");
        self.node
            .handle(request)
            .await
            .unwrap_or_else(|e| panic!("{}: {what} failed: {e}", self.tag))
    }

    /// One sync run through the proxy, whatever its outcome.
    async fn sync(&self) -> SyncStatus {
        match self.call(Request::SyncNow).await {
            Response::Sync(s) => s,
            other => panic!("SyncNow answered {other:?}"),
        }
    }

    async fn open(&self, visit_id: DocId) -> Option<VisitDetail> {
        match self.node.handle(Request::OpenVisit { visit_id }).await {
            Ok(Response::Visit(v)) => Some(*v),
            _ => None,
        }
    }

    async fn edit(&self, visit_id: DocId, edit: VisitEdit) -> rapport_api::Saved {
        match self.call(Request::EditVisit { visit_id, edit }).await {
            Response::Saved(s) => s,
            other => panic!("EditVisit answered {other:?}"),
        }
    }

    /// Every current value of an answer, as the device reads it.
    async fn values(&self, visit_id: DocId, question_id: &str) -> Vec<(String, AnswerValue)> {
        match self
            .call(Request::AnswerConflicts {
                visit_id,
                question_id: question_id.to_owned(),
            })
            .await
        {
            Response::Conflicts(c) => c.into_iter().map(|c| (c.actor, c.value)).collect(),
            other => panic!("AnswerConflicts answered {other:?}"),
        }
    }

    /// Pairs through the proxy. A fault may cost the code (the server paired, the answer
    /// was lost): then the lead hands out another one, as in real life.
    async fn pair(&mut self, ts: &TestServer, lead: &Lead, rep: Option<&str>, url: &str) {
        for _ in 0..ATTEMPTS {
            let code = ts.pairing_code(&lead.0, lead.1, rep).await;
            match self
                .node
                .handle(Request::Pair(PairRequest {
                    server_url: url.to_owned(),
                    code,
                    label: self.tag.to_owned(),
                }))
                .await
            {
                Ok(Response::Device(info)) => {
                    assert_eq!(info.rep_id.as_deref(), rep);
                    self.actor = info.actor;
                    return;
                }
                Ok(other) => panic!("Pair answered {other:?}"),
                Err(e) => eprintln!("{}: pairing failed ({}), a new code", self.tag, e.code),
            }
        }
        panic!("{}: no pairing in {ATTEMPTS} attempts", self.tag);
    }

    /// Syncs until `ready` holds (bounded): set-up steps through the faulty network.
    async fn sync_until<F, Fut>(&self, what: &str, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..ATTEMPTS {
            self.sync().await;
            if ready().await {
                return;
            }
        }
        panic!("{}: {what} not reached in {ATTEMPTS} sync runs", self.tag);
    }
}

/// The lead's session and the programme.
struct Lead(rapport_testkit::TestLead, DocId);

/// What the devices reported saved, to be found everywhere in the end.
#[derive(Default)]
struct Ledger {
    /// Words typed into the text answer, per visit (each exactly once in the end).
    words: BTreeMap<DocId, Vec<String>>,
    contacts: BTreeMap<DocId, Vec<String>>,
    referrals: BTreeMap<DocId, Vec<String>>,
    follow_ups: BTreeMap<DocId, Vec<String>>,
    /// Follow-ups the lead closed (only the lead writes their state).
    done: BTreeMap<DocId, BTreeSet<String>>,
    /// Number answers written (unique values), per visit.
    numbers: BTreeMap<DocId, BTreeSet<u64>>,
    /// Number answers some device saw before it wrote over them.
    replaced: BTreeMap<DocId, BTreeSet<u64>>,
    /// Yes/no answers written: (actor, value).
    yes_no: BTreeMap<DocId, BTreeSet<(String, bool)>>,
    /// Edits reported saved.
    edits: usize,
}

/// Question ids the scenario answers.
struct Questions {
    text: String,
    number: String,
    yes_no: String,
}

impl Questions {
    fn of(template: &Template) -> Self {
        let find = |kind: QuestionKind| {
            template
                .active()
                .into_iter()
                .find(|q| q.kind == kind)
                .unwrap_or_else(|| panic!("the questionnaire has a {kind:?} question"))
                .id
                .clone()
        };
        Self {
            text: find(QuestionKind::Text),
            number: find(QuestionKind::Number),
            yes_no: find(QuestionKind::YesNo),
        }
    }
}

/// One device's offline edits of one visit in round `round`.
async fn edit_visit(
    dev: &Dev,
    visit: DocId,
    q: &Questions,
    round: usize,
    number_base: u64,
    ledger: &mut Ledger,
) {
    // The text answer, typed word by word: each edit is the answer so far plus a word.
    for k in 0..3 {
        let word = format!("{}{round}.{k}", dev.tag);
        let detail = dev.open(visit).await.expect("the device holds the visit");
        let current = match detail.visit.answers.get(&q.text) {
            Some(AnswerValue::Text(t)) => t.clone(),
            _ => String::new(),
        };
        // A space before every word, the first too: words typed concurrently at the
        // end of the same sentence then stay apart (the merge keeps each edit's
        // characters together, one edit after the other).
        let value = format!("{current} {word}");
        dev.edit(
            visit,
            VisitEdit::Text {
                question_id: q.text.clone(),
                value,
            },
        )
        .await;
        ledger.words.entry(visit).or_default().push(word);
        ledger.edits += 1;
    }
    // A number: whatever the device reads now is replaced by this write.
    let number = number_base + round as u64;
    for (_, seen) in dev.values(visit, &q.number).await {
        let AnswerValue::Number(n) = seen else {
            panic!("a number answer reads {seen:?}")
        };
        ledger.replaced.entry(visit).or_default().insert(n as u64);
    }
    dev.edit(
        visit,
        VisitEdit::Scalar {
            question_id: q.number.clone(),
            value: ScalarAnswer::Number(number as f64),
        },
    )
    .await;
    ledger.numbers.entry(visit).or_default().insert(number);
    // Yes/no: the rep devices disagree.
    let yes = (number_base / 1000 + round as u64).is_multiple_of(2);
    dev.edit(
        visit,
        VisitEdit::Scalar {
            question_id: q.yes_no.clone(),
            value: ScalarAnswer::YesNo(yes),
        },
    )
    .await;
    ledger
        .yes_no
        .entry(visit)
        .or_default()
        .insert((dev.actor.clone(), yes));
    let contact = format!("Контакт {} {round} 📞", dev.tag);
    dev.edit(
        visit,
        VisitEdit::Contact {
            id: None,
            contact: ContactInput {
                updates_contact_id: None,
                name: contact.clone(),
                role: "Директор по закупкам".into(),
                phone: "+7 900 123-45-67".into(),
                email: "zakupki@example.ru".into(),
            },
        },
    )
    .await;
    ledger.contacts.entry(visit).or_default().push(contact);
    let referral = format!("Рекомендация {} {round}", dev.tag);
    dev.edit(
        visit,
        VisitEdit::Referral {
            id: None,
            referral: ReferralInput {
                name: referral.clone(),
                company: "ООО «Лютик»".into(),
                contact: "+7 900 000-00-00".into(),
                note: "знакомый директора 🤝".into(),
            },
        },
    )
    .await;
    ledger.referrals.entry(visit).or_default().push(referral);
    let task = format!("Проверить канал связи: {} {round}", dev.tag);
    dev.edit(
        visit,
        VisitEdit::AddFollowUp {
            description: task.clone(),
            owner: "техподдержка".into(),
            due: Some("2026-12-01".into()),
        },
    )
    .await;
    ledger.follow_ups.entry(visit).or_default().push(task);
    ledger.edits += 6;
}

/// The lead closes the follow-ups of `visit` that others opened and it now sees.
async fn close_follow_ups(dev: &Dev, visit: DocId, ledger: &mut Ledger) {
    let detail = dev.open(visit).await.expect("the lead holds the visit");
    for (id, f) in &detail.visit.follow_ups {
        if f.state != FollowUpState::Done && !f.description.contains(dev.tag) {
            dev.edit(
                visit,
                VisitEdit::UpdateFollowUp {
                    id: id.clone(),
                    state: Some(FollowUpState::Done),
                    owner: None,
                    due: None,
                },
            )
            .await;
            ledger
                .done
                .entry(visit)
                .or_default()
                .insert(f.description.clone());
            ledger.edits += 1;
        }
    }
}

/// Every device syncs `runs` times, all devices at the same time; every run's outcome.
/// Between two runs a device waits past the proxy's idle timeout, so each run opens a
/// new connection and meets a new fate.
async fn sync_all(devs: &[Dev], runs: usize) -> Vec<SyncStatus> {
    let mut tasks = tokio::task::JoinSet::new();
    for d in devs {
        let node = d.node.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for run in 0..runs {
                if run > 0 {
                    tokio::time::sleep(IDLE + Duration::from_millis(100)).await;
                }
                match node.handle(Request::SyncNow).await {
                    Ok(Response::Sync(s)) => out.push(s),
                    other => panic!("SyncNow answered {other:?}"),
                }
            }
            out
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        out.extend(joined.expect("a sync task"));
    }
    out
}

/// The device's stored documents, read from its encrypted database after shutdown.
async fn stored_docs(data_dir: &Path) -> BTreeMap<DocId, Automerge> {
    read_device_docs(data_dir, KeyStorage::File, None)
        .await
        .expect("the device database opens and its documents load")
        .into_iter()
        .collect()
}

/// Change rows the server's store holds for `doc`.
async fn change_rows(ts: &TestServer, doc: DocId) -> i64 {
    match &ts.pg {
        Some(pg) => {
            let pool = sqlx::PgPool::connect(&pg.url).await.expect("PostgreSQL");
            let n = sqlx::query_scalar("SELECT COUNT(*) FROM changes WHERE doc_id = $1")
                .bind(doc.as_uuid())
                .fetch_one(&pool)
                .await
                .expect("count change rows");
            pool.close().await;
            n
        }
        None => {
            let path = ts.config.data_dir.join("rapport.sqlite3");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("the server's SQLite file");
            let n = sqlx::query_scalar("SELECT COUNT(*) FROM changes WHERE doc_id = ?")
                .bind(doc.as_bytes().as_slice())
                .fetch_one(&pool)
                .await
                .expect("count change rows");
            pool.close().await;
            n
        }
    }
}

/// Why the devices did not settle, for the failure message: each visit a device reads
/// otherwise than the server, and then (after shutting every node down) how each
/// device's stored copy of it stands against the server's: a stored copy equal to the
/// server's while the device reads another points at the device's memory, a stored copy
/// lacking changes at the sync.
async fn not_quiescent(ts: &TestServer, devs: &[Dev], visits: &[DocId]) -> String {
    let mut out = String::new();
    let mut differing = Vec::new();
    for visit in visits {
        let Some(theirs) = ts.load_doc(*visit).await else {
            out += &format!("the server lacks visit {visit}\n");
            continue;
        };
        let theirs = rapport_domain::visit::read_visit(&theirs).expect("a visit");
        for d in devs {
            if let Some(mine) = d.open(*visit).await
                && mine.visit != theirs
            {
                out += &format!("{} reads visit {visit} otherwise than the server\n", d.tag);
                differing.push((d.tag, d.data_dir(), *visit));
            }
        }
    }
    let mut device_ids = BTreeMap::new();
    for d in devs {
        if let Ok(Response::Device(info)) = d.node.handle(Request::Device).await {
            device_ids.insert(d.tag, info.device_id);
        }
        d.node.shutdown().await;
    }
    let who = |actor: &str| {
        devs.iter()
            .find(|d| !d.actor.is_empty() && actor.starts_with(&d.actor))
            .map_or("another actor", |d| d.tag)
    };
    for (tag, dir, visit) in differing {
        let stored = stored_docs(&dir).await;
        let theirs = ts.load_doc(visit).await.expect("the server's visit");
        match stored.get(&visit) {
            None => out += &format!("{tag}: visit {visit} is not stored\n"),
            Some(mine) => {
                let hashes = |doc: &Automerge| -> BTreeSet<automerge::ChangeHash> {
                    doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
                };
                let (mine_h, theirs_h) = (hashes(mine), hashes(&theirs));
                out += &format!(
                    "{tag}: visit {visit} stored: {} changes, heads equal to the server's: {}; \
                     lacks {} of the server's changes, has {} the server lacks\n",
                    mine_h.len(),
                    sorted_heads(mine) == sorted_heads(&theirs),
                    theirs_h.difference(&mine_h).count(),
                    mine_h.difference(&theirs_h).count()
                );
                for change in theirs.get_changes(&[]) {
                    if !mine_h.contains(&change.hash()) {
                        let actor = change.actor_id().to_hex_string();
                        out += &format!(
                            "  lacks {} seq {} by {} ({}), deps {:?}\n",
                            change.hash(),
                            change.seq(),
                            who(&actor),
                            actor,
                            change.deps()
                        );
                    }
                }
                out += &format!(
                    "  server heads {:?}\n  device heads {:?}\n",
                    sorted_heads(&theirs),
                    sorted_heads(mine)
                );
                if let Some(device) = device_ids.get(tag) {
                    let peer = rapport_store::PeerId::new(device.clone());
                    let states = ts
                        .state()
                        .store
                        .sync_states(&peer, &[visit])
                        .await
                        .expect("the server's sync states");
                    match states
                        .get(&visit)
                        .map(|b| automerge::sync::State::decode(b))
                    {
                        Some(Ok(state)) => {
                            out += &format!(
                                "  the server's state for {tag} ({device}): shared heads {:?}, \
                                 all held by the device: {}, cover the server's heads: {}\n",
                                state.shared_heads,
                                state.shared_heads.iter().all(|h| mine_h.contains(h)),
                                sorted_heads(&theirs)
                                    .iter()
                                    .all(|h| state.shared_heads.contains(h))
                            )
                        }
                        other => out += &format!("  the server's state for {tag}: {other:?}\n"),
                    }
                }
            }
        }
    }
    out
}

/// How many times `item` occurs in `items`.
fn count<'a>(items: impl IntoIterator<Item = &'a str>, item: &str) -> usize {
    items.into_iter().filter(|i| *i == item).count()
}

/// Checks one replica's copy of a visit against the ledger.
fn check_visit(who: &str, visit: &Visit, q: &Questions, ledger: &Ledger) {
    let id = visit.id;
    let text = match visit.answers.get(&q.text) {
        Some(AnswerValue::Text(t)) => t.as_str(),
        other => panic!("{who}: visit {id}: the text answer reads {other:?}"),
    };
    for word in ledger.words.get(&id).into_iter().flatten() {
        assert_eq!(
            count(text.split_whitespace(), word),
            1,
            "{who}: visit {id}: the word {word:?} is not there exactly once: {text:?}"
        );
    }
    let names = || visit.contact_updates.values().map(|c| c.name.as_str());
    for name in ledger.contacts.get(&id).into_iter().flatten() {
        assert_eq!(count(names(), name), 1, "{who}: contact {name:?} once");
    }
    assert_eq!(
        visit.contact_updates.len(),
        ledger.contacts.get(&id).map_or(0, Vec::len),
        "{who}: visit {id}: no contact nobody added"
    );
    let referrals = || visit.referrals.values().map(|r| r.name.as_str());
    for name in ledger.referrals.get(&id).into_iter().flatten() {
        assert_eq!(count(referrals(), name), 1, "{who}: referral {name:?} once");
    }
    assert_eq!(
        visit.referrals.len(),
        ledger.referrals.get(&id).map_or(0, Vec::len),
        "{who}: visit {id}: no referral nobody added"
    );
    let tasks = || visit.follow_ups.values().map(|f| f.description.as_str());
    for task in ledger.follow_ups.get(&id).into_iter().flatten() {
        assert_eq!(count(tasks(), task), 1, "{who}: follow-up {task:?} once");
    }
    assert_eq!(
        visit.follow_ups.len(),
        ledger.follow_ups.get(&id).map_or(0, Vec::len),
        "{who}: visit {id}: no follow-up nobody added"
    );
    for task in ledger.done.get(&id).into_iter().flatten() {
        let f = visit
            .follow_ups
            .values()
            .find(|f| &f.description == task)
            .unwrap_or_else(|| panic!("{who}: the closed follow-up {task:?} is there"));
        assert_eq!(f.state, FollowUpState::Done, "{who}: {task:?} stays done");
    }
}

/// The number values that must still show: written and never seen by a later writer.
fn live_numbers(ledger: &Ledger, visit: DocId) -> BTreeSet<u64> {
    let replaced = ledger.replaced.get(&visit).cloned().unwrap_or_default();
    ledger
        .numbers
        .get(&visit)
        .into_iter()
        .flatten()
        .filter(|n| !replaced.contains(n))
        .copied()
        .collect()
}

fn numbers_of(values: &[(String, AnswerValue)]) -> BTreeSet<u64> {
    values
        .iter()
        .map(|(_, v)| match v {
            AnswerValue::Number(n) => *n as u64,
            other => panic!("a number answer reads {other:?}"),
        })
        .collect()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devices_converge_through_a_faulty_network_losing_and_duplicating_nothing(
    #[case] backend: Backend,
) {
    let rounds = rounds();
    assert!(rounds >= 1, "RAPPORT_FAULT_ROUNDS: at least one round");
    let config = FaultConfig::from_env();
    println!(
        "[{backend:?}] faults: RAPPORT_FAULT_SEED={} RAPPORT_FAULT_RATE={} RAPPORT_FAULT_ROUNDS={rounds}",
        config.seed, config.rate
    );
    let Some(ts) = TestServer::start(backend).await else {
        eprintln!("skipped: RAPPORT_TEST_DATABASE_URL is not set");
        return;
    };
    let started = Instant::now();
    // Generous, and still a bound: set-up, every round with both directions held at
    // most, and the settling.
    let limit = Duration::from_secs(120 + 30 * rounds as u64);

    // The programme (set up by the lead directly, not through the proxy): two reps,
    // two clients of Ivanov, one of Petrov.
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_rep(&lead, programme, "petrov", "Пётр Петров").await;
    let c1 = ts
        .add_client(&lead, programme, "ООО «Ромашка»", "ivanov")
        .await;
    let c2 = ts
        .add_client(&lead, programme, "АО «Василёк» 🌼", "ivanov")
        .await;
    let c3 = ts
        .add_client(&lead, programme, "ЗАО «Одуванчик»", "petrov")
        .await;
    let lead = Lead(lead, programme);
    let addr = ts
        .url()
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .expect("the server's address");
    let proxy = FaultProxy::start(addr, config).await.expect("proxy starts");
    let url = proxy.url();

    // The devices pair and take their first sync through the faulty network.
    let mut devs = vec![
        Dev::new("планшет").await,
        Dev::new("ноутбук").await,
        Dev::new("петров").await,
        Dev::new("руководитель").await,
    ];
    let reps = [Some("ivanov"), Some("ivanov"), Some("petrov"), None];
    for (d, rep) in devs.iter_mut().zip(reps) {
        d.pair(&ts, &lead, rep, &url).await;
    }
    let [tablet, laptop, petrov, boss] = &devs[..] else {
        unreachable!("four devices")
    };
    let holds_clients = |d: &Dev, want: Vec<DocId>| {
        let node = d.node.clone();
        move || {
            let node = node.clone();
            let want = want.clone();
            async move {
                let Ok(Response::Clients(cards)) = node.handle(Request::Clients).await else {
                    return false;
                };
                let named = matches!(
                    node.handle(Request::Device).await,
                    Ok(Response::Device(info)) if info.programme_name.is_some()
                );
                named && want.iter().all(|c| cards.iter().any(|k| k.client_id == *c))
            }
        }
    };
    tablet
        .sync_until("Ivanov's clients", holds_clients(tablet, vec![c1, c2]))
        .await;
    laptop
        .sync_until("Ivanov's clients", holds_clients(laptop, vec![c1, c2]))
        .await;
    petrov
        .sync_until("Petrov's client", holds_clients(petrov, vec![c3]))
        .await;

    // Two shared visits, started and synced before the offline work: Ivanov's (his
    // tablet, his laptop and the lead edit it) and Petrov's (he and the lead).
    let start = |d: &Dev, client: DocId| {
        let node = d.node.clone();
        async move {
            for _ in 0..ATTEMPTS {
                match node
                    .handle(Request::StartVisit(StartVisit {
                        client_id: client,
                        date: "2026-11-27".into(),
                    }))
                    .await
                {
                    Ok(Response::Visit(v)) => return *v,
                    Ok(other) => panic!("StartVisit answered {other:?}"),
                    // PostgreSQL's feed may hold the questionnaire back a run.
                    Err(e) if e.code == "no_template" => {
                        let _ = node.handle(Request::SyncNow).await;
                    }
                    Err(e) => panic!("start visit: {e:?}"),
                }
            }
            panic!("the questionnaire never arrived");
        }
    };
    let shared_i = start(tablet, c1).await;
    let q = Questions::of(&shared_i.template);
    let shared_i = shared_i.visit.id;
    let shared_p = start(petrov, c3).await.visit.id;
    let on_server = |id: DocId| {
        let ts = &ts;
        move || async move { ts.load_doc(id).await.is_some() }
    };
    tablet
        .sync_until("the shared visit on the server", on_server(shared_i))
        .await;
    petrov
        .sync_until("Petrov's visit on the server", on_server(shared_p))
        .await;
    let holds = |d: &Dev, ids: Vec<DocId>| {
        let node = d.node.clone();
        move || {
            let node = node.clone();
            let ids = ids.clone();
            async move {
                for id in ids {
                    if node
                        .handle(Request::OpenVisit { visit_id: id })
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                true
            }
        }
    };
    laptop
        .sync_until("the shared visit", holds(laptop, vec![shared_i]))
        .await;
    boss.sync_until("both shared visits", holds(boss, vec![shared_i, shared_p]))
        .await;
    let setup = started.elapsed();

    // Own visits, started offline: each rep device one of its own.
    let own_t = start(tablet, c2).await.visit.id;
    let own_l = start(laptop, c1).await.visit.id;
    let own_p = start(petrov, c3).await.visit.id;
    let visits = [shared_i, shared_p, own_t, own_l, own_p];
    // Which device edits which visits; number_base keeps every written number unique.
    let plan: [(&Dev, Vec<DocId>, u64); 4] = [
        (tablet, vec![shared_i, own_t], 1_000),
        (laptop, vec![shared_i, own_l], 2_000),
        (petrov, vec![shared_p, own_p], 3_000),
        (boss, vec![shared_i, shared_p], 4_000),
    ];

    let mut ledger = Ledger::default();
    let mut failed_runs = 0usize;
    let mut runs = 0usize;
    for round in 0..rounds {
        assert!(
            started.elapsed() < limit,
            "round {round} starts after {limit:?}"
        );
        for (d, targets, base) in &plan {
            for visit in targets {
                // The lead's device gets others' visits only by sync: edit what it has.
                if d.open(*visit).await.is_some() {
                    edit_visit(d, *visit, &q, round, *base, &mut ledger).await;
                }
            }
        }
        for visit in [shared_i, shared_p] {
            close_follow_ups(boss, visit, &mut ledger).await;
        }
        let statuses = sync_all(&devs, RUNS_PER_ROUND).await;
        runs += statuses.len();
        failed_runs += statuses.iter().filter(|s| s.last_error.is_some()).count();
    }

    // Settle: sync rounds until nothing is pending anywhere and every device reads every
    // visit it holds as the server does. The proxy keeps faulting ~30 % of connections,
    // so a round in which all four runs end without an error is rare (each run is a few
    // requests): demanding one, as this loop once did, failed now and then after 60
    // rounds although every device held what the server held. A run's error is not the
    // criterion; what the devices hold is.
    let mut settle_rounds = 0;
    let mut last: Vec<String> = Vec::new();
    loop {
        if settle_rounds >= SETTLE_ROUNDS || started.elapsed() >= limit {
            let why = not_quiescent(&ts, &devs, &visits).await;
            panic!(
                "not quiescent after {settle_rounds} settling rounds ({:?}); proxy: {}; last runs: {last:#?}\n{why}",
                started.elapsed(),
                proxy.stats()
            );
        }
        settle_rounds += 1;
        tokio::time::sleep(IDLE + Duration::from_millis(100)).await;
        let statuses = sync_all(&devs, 1).await;
        last = statuses
            .iter()
            .map(|s| {
                format!(
                    "pending {} stopped {} error {:?}",
                    s.pending_docs,
                    s.stopped.len(),
                    s.last_error
                )
            })
            .collect();
        runs += statuses.len();
        failed_runs += statuses.iter().filter(|s| s.last_error.is_some()).count();
        if statuses.iter().any(|s| s.pending_docs > 0) {
            continue;
        }
        let mut same = true;
        for visit in visits {
            let Some(theirs) = ts.load_doc(visit).await else {
                same = false;
                break;
            };
            let theirs = rapport_domain::visit::read_visit(&theirs).expect("a visit");
            for d in &devs {
                if let Some(mine) = d.open(visit).await {
                    same &= mine.visit == theirs;
                }
            }
        }
        if same {
            break;
        }
    }
    let elapsed = started.elapsed();
    let stats = proxy.stats();

    // Who must hold what: Ivanov's devices every visit of his clients, Petrov's his,
    // the lead's device every visit.
    let ivanov_visits = [shared_i, own_t, own_l];
    let petrov_visits = [shared_p, own_p];
    let must_hold: [&[DocId]; 4] = [&ivanov_visits, &ivanov_visits, &petrov_visits, &visits];
    for (d, ids) in devs.iter().zip(must_hold) {
        for id in ids {
            let mine = d
                .open(*id)
                .await
                .unwrap_or_else(|| panic!("{} lacks visit {id}", d.tag));
            let theirs = ts.visit_doc(*id).await;
            assert_eq!(
                mine.visit, theirs,
                "{}: visit {id} differs from the server",
                d.tag
            );
            check_visit(d.tag, &mine.visit, &q, &ledger);
            // Concurrent number writes: exactly the values nobody wrote over, everywhere.
            let numbers = numbers_of(&d.values(*id, &q.number).await);
            assert_eq!(
                numbers,
                live_numbers(&ledger, *id),
                "{}: visit {id}: the number answer keeps every value not written over",
                d.tag
            );
            let yes_no = d.values(*id, &q.yes_no).await;
            let written = ledger.yes_no.get(id).cloned().unwrap_or_default();
            assert!(!yes_no.is_empty(), "{}: the yes/no answer is there", d.tag);
            for (actor, value) in &yes_no {
                let AnswerValue::Bool(b) = value else {
                    panic!("a yes/no answer reads {value:?}")
                };
                // A device writes under its registered actor plus a suffix per opening of
                // its store: the ledger knows the registered part.
                let registered = actor.get(..ACTOR_PREFIX_HEX).unwrap_or(actor);
                assert!(
                    written.contains(&(registered.to_owned(), *b)),
                    "{}: yes/no {b} by {actor} was never written",
                    d.tag
                );
            }
        }
    }
    for id in visits {
        let stored = ts.load_doc(id).await.expect("the server holds the visit");
        let visit = rapport_domain::visit::read_visit(&stored).expect("a visit");
        check_visit("server", &visit, &q, &ledger);
        let values: Vec<(String, AnswerValue)> = answer_conflicts(&stored, &q.number)
            .expect("number values")
            .into_iter()
            .map(|c| (c.actor, c.value))
            .collect();
        assert_eq!(
            numbers_of(&values),
            live_numbers(&ledger, id),
            "server: {id}"
        );
    }
    let number_values: usize = {
        let mut n = 0;
        for id in visits {
            let stored = ts.load_doc(id).await.expect("visit");
            n += answer_conflicts(&stored, &q.number).expect("values").len();
        }
        n
    };

    // Heads: every document each device holds is the server's, change for change, and
    // the server stored each change once.
    for d in &devs {
        d.node.shutdown().await;
    }
    let mut docs_compared = 0;
    let mut all_ids = BTreeSet::new();
    for d in &devs {
        let docs = stored_docs(&d.data_dir()).await;
        assert!(
            docs.contains_key(&view_id(programme)) || d.tag == "руководитель",
            "{}: the programme view is stored",
            d.tag
        );
        for (id, mine) in &docs {
            let theirs = ts
                .load_doc(*id)
                .await
                .unwrap_or_else(|| panic!("{}: the server lacks document {id}", d.tag));
            assert_eq!(
                sorted_heads(mine),
                sorted_heads(&theirs),
                "{}: document {id} has other heads than the server's",
                d.tag
            );
            docs_compared += 1;
            all_ids.insert(*id);
        }
    }
    for id in &all_ids {
        let doc = ts.load_doc(*id).await.expect("stored");
        let distinct = doc.get_changes(&[]).len() as i64;
        assert_eq!(
            change_rows(&ts, *id).await,
            distinct,
            "document {id}: one change row per distinct change"
        );
    }

    println!(
        "[{backend:?}] {rounds} edit rounds + {settle_rounds} settling rounds, {} edits reported saved, \
         {runs} sync runs ({failed_runs} failed), {docs_compared} device documents compared \
         ({} distinct), {number_values} number values still shown over {} visits (concurrent writes kept); set-up {setup:?}, total {elapsed:?}",
        ledger.edits,
        all_ids.len(),
        visits.len()
    );
    println!("[{backend:?}] proxy: {stats}");
    for kind in FaultKind::FAULTS {
        println!(
            "[{backend:?}]   {kind:?}: {} of {} picked",
            stats.applied.get(&kind).copied().unwrap_or(0),
            stats.planned.get(&kind).copied().unwrap_or(0)
        );
    }
    assert!(
        stats.share() >= 0.2,
        "only {:.0} % of the connections were faulted: {stats}",
        stats.share() * 100.0
    );
    assert!(failed_runs > 0, "the faults made some sync runs fail");
}
