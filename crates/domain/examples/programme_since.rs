//! Times `read_programme` against `read_programme_since` on a programme of 10,000
//! clients after one small edit, and what their parts cost (a path lookup, the
//! check of the earlier heads, the changes since).
//!
//! `cargo run --release -p rapport-domain --example programme_since`

use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, ChangeHash, ROOT, ReadDoc};
use rapport_domain::programme::{
    Lead, Membership, Period, Programme, ProgrammeInit, add_clients, apply_suggestion,
    new_programme, override_assignment, put_rep, read_programme, read_programme_since,
    set_meeting_warning_days,
};
use rapport_domain::{
    Capacity, DocId, Reason, Strength, SuggestedAssignment, Suggestion, default_template,
    suggest_assignments,
};

const CLIENTS: u32 = 10_000;
const REPS: u32 = 100;
/// 2026-03-02 09:00 UTC.
const T0: i64 = 1_772_442_000_000;

fn client_id(i: u32) -> DocId {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&i.to_be_bytes());
    bytes[15] = 0xC1;
    DocId::from_bytes(bytes)
}

/// The median of `runs` runs of `f`.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[runs / 2], last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn build() -> Automerge {
    let mut doc = new_programme(
        ActorId::from([1u8; 16]),
        &ProgrammeInit {
            id: DocId::from_bytes([0xA0; 16]),
            name: "VIP-программа 2026".to_owned(),
            period: Period {
                start: "2026-03-01".to_owned(),
                end: "2026-06-30".to_owned(),
            },
            lead: Lead {
                name: "Ольга Смирнова".to_owned(),
                email: "olga@example.ru".to_owned(),
            },
        },
        &default_template(),
        T0,
    )
    .expect("a valid programme");
    for r in 0..REPS {
        put_rep(
            &mut doc,
            &format!("rep-{r}"),
            &format!("Представитель №{r}"),
            &format!("rep{r}@example.ru"),
            Capacity::Dedicated,
            true,
            T0 + 1,
        )
        .expect("a valid rep");
    }
    let members: Vec<Membership> = (0..CLIENTS)
        .map(|i| Membership {
            client_id: client_id(i),
            original_rep: Some(format!("rep-{}", i % REPS)),
            strength: Strength::Good,
            monopolised: false,
        })
        .collect();
    add_clients(&mut doc, &members, T0 + 2).expect("clients added");
    let p = read_programme(&doc).expect("the programme reads");
    let s = suggest_assignments(&p.rep_capacities(), &p.clients_for_assignment())
        .expect("a suggestion");
    apply_suggestion(&mut doc, &s, "lead", T0 + 3).expect("the suggestion applies");
    doc
}

/// Times both reads of `doc` after the edit made since `(prev, heads)`.
fn compare(what: &str, doc: &Automerge, prev: &Programme, heads: &[ChangeHash]) {
    let ops: usize = doc
        .get_changes(heads)
        .iter()
        .map(automerge::Change::len)
        .sum();
    let (full_t, full) = median(3, || read_programme(doc).expect("the programme reads"));
    let (since_t, since) = median(21, || {
        read_programme_since(doc, prev.clone(), heads).expect("the programme reads")
    });
    assert_eq!(since, full, "{what}: the two reads differ");
    println!(
        "{what} ({ops} ops): read_programme {}, read_programme_since {} (same result)",
        ms(full_t),
        ms(since_t)
    );
}

/// One path lookup as `read_programme_since` makes it for an object the document had.
fn path_lookup(doc: &Automerge, obj: &automerge::ObjId) -> usize {
    let text = match obj {
        automerge::ObjId::Root => "_root".to_owned(),
        automerge::ObjId::Id(counter, actor, _) => format!("{counter}@{actor}"),
    };
    let imported = doc.import_obj(&text).expect("an object of the document");
    doc.parents(&imported)
        .expect("an object of the document")
        .count()
}

fn obj(
    doc: &Automerge,
    parent: &automerge::ObjId,
    prop: impl Into<automerge::Prop>,
) -> automerge::ObjId {
    match doc.get(parent, prop).expect("a readable document") {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("not an object: {other:?}"),
    }
}

fn main() {
    let start = Instant::now();
    let mut doc = build();
    println!(
        "built a programme of {CLIENTS} clients and {REPS} reps in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let mut prev = read_programme(&doc).expect("the programme reads");
    let mut heads = doc.get_heads();

    // What a path lookup costs, by depth of the object.
    let clients = obj(&doc, &ROOT, "clients");
    let assignments = obj(&doc, &ROOT, "assignments");
    let key = client_id(CLIENTS / 2).to_string();
    let assignment = obj(&doc, &assignments, key.as_str());
    let history = obj(&doc, &assignment, "history");
    let entry = obj(&doc, &history, 0);
    for (name, o) in [
        ("clients (depth 1)", &clients),
        ("an assignment (depth 2)", &assignment),
        ("its history (depth 3)", &history),
        ("a history entry (depth 4, in a list)", &entry),
    ] {
        let (t, depth) = median(1001, || path_lookup(&doc, o));
        assert!(depth > 0);
        println!("path lookup of {name}: {}", ms(t));
    }
    let (t, _) = median(11, || {
        heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
    });
    println!(
        "get_change_by_hash of the earlier head (the suggestion applied, one large change): {}",
        ms(t)
    );
    let (t, _) = median(101, || {
        heads
            .iter()
            .all(|h| doc.get_change_meta_by_hash(h).is_some())
    });
    println!("get_change_meta_by_hash of the same head: {}", ms(t));
    let (t, _) = median(21, || prev.clone());
    println!("cloning the programme read: {}", ms(t));

    // 1. The lead adds one client (with its original rep).
    add_clients(
        &mut doc,
        &[Membership {
            client_id: client_id(CLIENTS),
            original_rep: Some("rep-7".to_owned()),
            strength: Strength::Excellent,
            monopolised: true,
        }],
        T0 + 10,
    )
    .expect("the client is added");
    let (t, n) = median(101, || doc.get_changes(&heads).len());
    println!(
        "get_changes since the earlier heads ({n} change): {}",
        ms(t)
    );
    compare("one client added", &doc, &prev, &heads);
    prev = read_programme_since(&doc, prev.clone(), &heads).expect("the programme reads");
    heads = doc.get_heads();

    // 2. The lead moves one client to another rep (ops on objects the document had).
    override_assignment(
        &mut doc,
        client_id(42),
        "rep-3",
        Reason::LeadDecision {
            note: "Клиент просил сменить представителя".to_owned(),
        },
        "lead",
        T0 + 20,
    )
    .expect("the assignment is overridden");
    compare("one assignment overridden", &doc, &prev, &heads);
    prev = read_programme_since(&doc, prev.clone(), &heads).expect("the programme reads");
    heads = doc.get_heads();

    // 3. A setting.
    set_meeting_warning_days(&mut doc, 21, T0 + 30).expect("the setting is taken");
    compare("meeting warning days set", &doc, &prev, &heads);
    prev = read_programme_since(&doc, prev.clone(), &heads).expect("the programme reads");
    heads = doc.get_heads();

    // 4. A suggestion that moves 150 clients (near the bound on ops, past which the
    // whole programme is read): each touches its assignment and its history list.
    let moved = Suggestion {
        assignments: (0..150)
            .map(|i| {
                let c = i * 61;
                SuggestedAssignment {
                    client_id: client_id(c).to_string(),
                    rep_id: format!("rep-{}", (c + 1) % REPS),
                    reason: Reason::LeadDecision {
                        note: "Перераспределение".to_owned(),
                    },
                }
            })
            .collect(),
        loads: Default::default(),
    };
    apply_suggestion(&mut doc, &moved, "lead", T0 + 40).expect("the suggestion applies");
    compare("150 clients moved", &doc, &prev, &heads);
}
