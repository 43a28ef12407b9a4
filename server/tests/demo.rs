//! The demo (`serve --demo`) is a programme under way: visits in every state of the
//! work and of the lead's review, a failed quality check with its follow-up,
//! referrals, an opportunity, and one conflict between a rep's two devices, every visit
//! written by its rep's paired devices. Seeding twice changes nothing. SQLite always,
//! PostgreSQL when configured.

use std::collections::HashSet;
use std::time::Instant;

use rapport_api::lead::MeetingFilter;
use rapport_domain::MeetingState;
use rapport_domain::visit::read_visit;
use rapport_domain::{ACTOR_PREFIX_HEX, answer_conflicts, conflicted_answers};
use rapport_server::demo::{DEMO_EMAIL, seed_if_empty};
use rapport_server::state::AppState;
use rapport_testkit::{Backend, fresh_config};
use rstest::rstest;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_is_a_programme_under_way_written_by_the_reps_devices(#[case] backend: Backend) {
    let Some((config, _dir, _pg)) = fresh_config(backend).await else {
        return;
    };
    let state = AppState::open(config).await.expect("the data opens");
    let started = Instant::now();
    let said = seed_if_empty(&state)
        .await
        .expect("the demo seeds")
        .expect("an empty store is seeded");
    let took = started.elapsed();
    assert!(said.contains(DEMO_EMAIL), "{said}");
    assert!(
        seed_if_empty(&state)
            .await
            .expect("a second start")
            .is_none(),
        "seeding again changes nothing"
    );
    println!("demo_seed_ms={}", took.as_millis());
    state.projector.catch_up().await.expect("projected");

    let programmes = state.db.programmes().await.expect("programmes");
    assert_eq!(programmes.len(), 1);
    let id = programmes[0].doc_id;
    let status = rapport_server::results::compute_status(&state, id)
        .await
        .expect("status");
    let v = &status.visits;
    assert_eq!(
        (
            v.draft,
            v.completed,
            v.awaiting_review,
            v.returned,
            v.accepted
        ),
        (1, 4, 2, 1, 1),
        "{v:?}"
    );
    assert_eq!(
        status.quality_failures.len(),
        1,
        "{:?}",
        status.quality_failures
    );
    assert!(
        !status.open_follow_ups.is_empty(),
        "the failure opened a follow-up"
    );
    assert_eq!(status.referrals, 2);
    assert_eq!(status.opportunities_count, 1);

    // The reps' devices are paired as real ones are, and wrote every visit.
    let devices = state.db.devices(id).await.expect("devices");
    assert_eq!(devices.len(), 4, "three tablets and a laptop");
    assert!(
        devices
            .iter()
            .all(|d| d.rep_id.is_some() && d.revoked_ms.is_none())
    );
    assert!(devices.iter().any(|d| d.label == "Ноутбук: Анна Смирнова"));
    let device_actors: HashSet<String> = devices.iter().map(|d| d.actor.clone()).collect();
    let authors = state.db.programme_authors(id).await.expect("authors");
    let mut conflicts = 0;
    for meta in state.db.programme_docs(id, "visit").await.expect("visits") {
        let doc = state
            .store
            .load(meta.doc_id)
            .await
            .expect("loads")
            .expect("stored");
        let visit = read_visit(&doc).expect("reads");
        for change in doc.get_changes(&[]) {
            let actor = change.actor_id().to_hex_string();
            let prefix = &actor[..ACTOR_PREFIX_HEX];
            assert!(authors.all.contains(prefix), "{actor} is registered");
            let by_device = device_actors.contains(prefix);
            assert!(
                by_device || authors.reviewers.contains(prefix),
                "every change is by a rep's device or the lead: {actor}"
            );
        }
        for q in conflicted_answers(&doc).expect("conflicts") {
            conflicts += 1;
            let values = answer_conflicts(&doc, &q).expect("values");
            let writers: HashSet<&str> = values
                .iter()
                .map(|c| &c.actor[..ACTOR_PREFIX_HEX])
                .collect();
            assert_eq!(writers.len(), 2, "two devices wrote {q}: {values:?}");
            assert!(writers.iter().all(|w| device_actors.contains(*w)));
        }
        if !visit.reviews.is_empty() {
            assert!(
                visit
                    .review_rounds()
                    .iter()
                    .all(|(_, r)| r.by == "Елена Руководитель")
            );
        }
    }
    assert_eq!(
        conflicts, 1,
        "one conflict between a rep's tablet and laptop"
    );

    // Meetings: held on the visits' days, ahead, overdue, cancelled, and clients still
    // without one — each planned by its rep's tablet.
    let data = rapport_server::programmes::programme_data(&state, id)
        .await
        .expect("programme data");
    let today = rapport_server::clock::today();
    let report = rapport_server::meetings::report(&data, &MeetingFilter::default(), &today)
        .expect("meetings report");
    let count = |state: MeetingState| report.meetings.iter().filter(|m| m.state == state).count();
    assert_eq!(count(MeetingState::Held), 5, "{report:?}");
    assert_eq!(count(MeetingState::Planned), 2, "{report:?}");
    assert_eq!(count(MeetingState::Overdue), 1, "{report:?}");
    assert_eq!(count(MeetingState::Cancelled), 1, "{report:?}");
    assert!(!report.unplanned.is_empty(), "{report:?}");
    assert!(
        report
            .meetings
            .iter()
            .all(|m| m.contact.is_some() && m.rep_name.contains(' '))
    );
    for meta in state
        .db
        .programme_docs(id, "client")
        .await
        .expect("clients")
    {
        let doc = state
            .store
            .load(meta.doc_id)
            .await
            .expect("loads")
            .expect("stored");
        for change in doc.get_changes(&[]) {
            let actor = change.actor_id().to_hex_string();
            let by_device = device_actors.contains(&actor[..ACTOR_PREFIX_HEX]);
            let message = change.message().unwrap_or_default();
            assert!(
                !message.contains("meeting") || by_device,
                "meetings are planned by the reps' devices: {message} by {actor}"
            );
        }
    }
}
