//! Backups and restore (`rapport_server::backup`; `rapport-server backup`, `restore`,
//! `new-epoch`) on SQLite and PostgreSQL: a backup taken while devices upload holds
//! every change acknowledged before it started; a restore refuses a store in use or
//! with data (unless forced), refuses bad files without touching the store, and ends
//! with a new epoch, after which devices put back what the restored server lacks.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use rapport_domain::{DocId, view_id};
use rapport_server::backup::{self, BackupError};
use rapport_server::{Config, Server};
use rapport_store::{DocStore, PgStore, SqliteStore};
use rapport_testkit::{Backend, PASSWORD, TestServer, fresh_config, sign_in};
use rstest::rstest;

const BIN: &str = env!("CARGO_BIN_EXE_rapport-server");

/// The two reps of the upload test, two devices each.
const REPS: [(&str, &str); 2] = [("ivanov", "Иван Иванов"), ("petrov", "Пётр Петров")];

/// What a store holds, to tell whether a refused restore left it alone.
#[derive(Debug, PartialEq, Eq)]
struct Held {
    docs: Vec<DocId>,
    epoch: [u8; 16],
    leads: i64,
}

/// Reads the configured store directly (no server running), closing what it opened.
async fn held(config: &Config) -> Held {
    match &config.database_url {
        None => {
            let path = config.sqlite_path();
            assert!(path.is_file(), "no store at {}", path.display());
            let store = SqliteStore::open(&path).await.expect("the store opens");
            let leads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads")
                .fetch_one(store.pool())
                .await
                .expect("count leads");
            let held = Held {
                docs: store.list_docs().await.expect("list docs"),
                epoch: store.epoch().await.expect("epoch"),
                leads,
            };
            store.pool().close().await;
            held
        }
        Some(url) => {
            let store = PgStore::connect(url.expose())
                .await
                .expect("the store opens");
            let leads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads")
                .fetch_one(store.pool())
                .await
                .expect("count leads");
            let held = Held {
                docs: store.list_docs().await.expect("list docs"),
                epoch: store.epoch().await.expect("epoch"),
                leads,
            };
            store.pool().close().await;
            held
        }
    }
}

/// The names in a folder (SQLite's transient `-wal`/`-shm` files left out).
fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
                .collect()
        })
        .unwrap_or_default()
}

/// What one uploading device has done so far, shared with the test.
#[derive(Default)]
struct Progress {
    /// Its changes the server acknowledged (a completed sync), as of its last sync.
    acked: Mutex<HashSet<(DocId, ChangeHash)>>,
    /// Completed syncs.
    syncs: AtomicUsize,
}

/// Waits (up to a minute: four devices on two cores in a debug build) for `done`.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_four_devices_upload_holds_every_acknowledged_change(
    #[case] backend: Backend,
) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let mut devices = Vec::new();
    for (rep, name) in REPS {
        ts.add_rep(&lead, programme, rep, name).await;
        let mut clients = Vec::new();
        for i in 0..2 {
            let company = format!("ООО «Ромашка-{i}» ({name})");
            clients.push(ts.add_client(&lead, programme, &company, rep).await);
        }
        for _ in 0..2 {
            devices.push((
                ts.device(&lead, programme, Some(rep)).await,
                clients.clone(),
            ));
        }
    }
    for (device, clients) in &mut devices {
        let wanted: Vec<DocId> = clients
            .iter()
            .copied()
            .chain([view_id(programme)])
            .collect();
        device.sync_until_has(&wanted).await;
    }

    // Every device types visits and syncs in a loop until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut progress = Vec::new();
    let mut tasks = Vec::new();
    for (mut device, clients) in devices {
        let shared = Arc::new(Progress::default());
        progress.push(shared.clone());
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut visits = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let visit = device.new_visit(clients[i % clients.len()]);
                if i % 2 == 1 {
                    device.complete(visit);
                }
                visits.push(visit);
                i += 1;
                let run = device.sync().await;
                assert!(run.errors.is_empty(), "upload refused: {:?}", run.errors);
                *shared.acked.lock().expect("not poisoned") = device.acked.clone();
                shared.syncs.fetch_add(1, Ordering::SeqCst);
            }
            (device, visits)
        }));
    }
    wait_for("every device to finish two syncs", || {
        progress.iter().all(|p| p.syncs.load(Ordering::SeqCst) >= 2)
    })
    .await;

    // What the server acknowledged before the backup starts.
    let acked_before: HashSet<(DocId, ChangeHash)> = progress
        .iter()
        .flat_map(|p| p.acked.lock().expect("not poisoned").clone())
        .collect();
    let syncs_at_backup: Vec<usize> = progress
        .iter()
        .map(|p| p.syncs.load(Ordering::SeqCst))
        .collect();
    let out = ts.dir.path().join("резервная копия.backup");
    let report = backup::backup(&ts.config, &out)
        .await
        .expect("a backup while devices upload");
    assert_eq!(report.path, out);
    assert_eq!(
        report.bytes,
        std::fs::metadata(&out).expect("the backup file").len()
    );
    assert_eq!(
        report.backend,
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    );
    wait_for("every device to sync again after the backup", || {
        progress
            .iter()
            .zip(&syncs_at_backup)
            .all(|(p, at)| p.syncs.load(Ordering::SeqCst) > *at)
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let mut devices = Vec::new();
    let mut visits = HashSet::new();
    for task in tasks {
        let (device, made) = task.await.expect("the upload loop ends");
        visits.extend(made);
        devices.push(device);
    }
    eprintln!(
        "{} changes acknowledged before the backup, {} visits in all, backup {} bytes",
        acked_before.len(),
        visits.len(),
        report.bytes
    );
    for device in &devices {
        assert!(
            acked_before
                .iter()
                .any(|(_, h)| device.made.iter().any(|(_, m)| m == h)),
            "every device had changes acknowledged before the backup"
        );
    }

    // Restore into a fresh data folder / a fresh database and serve it.
    let (config, _dir, _pg) = fresh_config(backend)
        .await
        .expect("a second database (the first one was made)");
    let restored_report = backup::restore(&config, &out, false)
        .await
        .expect("a restore into an empty store");
    assert_eq!(restored_report.backend, report.backend);
    let restored = Server::start(config)
        .await
        .expect("the restored store serves");
    let pairs: Vec<(DocId, ChangeHash)> = acked_before.iter().copied().collect();
    let stored = restored
        .state
        .store
        .stored_changes(&pairs)
        .await
        .expect("stored changes");
    let lost = pairs.iter().filter(|p| !stored.contains(p)).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} changes acknowledged before the backup are not in it",
        pairs.len()
    );
    assert_ne!(
        restored.state.epoch,
        ts.state().epoch,
        "a restored store has a new epoch"
    );
    assert_eq!(hex::encode(restored.state.epoch), restored_report.epoch_hex);
    let token = sign_in(&ts.http, &restored.url(), &lead.row.email, PASSWORD).await;
    let (status, body) = rapport_testkit::call(
        &ts.http,
        &restored.url(),
        reqwest::Method::GET,
        &format!("/api/v1/programmes/{programme}/status"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "the restored server answers the lead: {body}");

    // The devices put back what the backup missed (their own visits and those of their
    // rep's other device, which they relay): each one's cursor is of the old epoch, so
    // the server asks it to reconcile, and its core does (the heads of everything it
    // holds), then syncs from the start of the feed.
    for device in &mut devices {
        device.url = restored.url();
        let run = device.sync().await;
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        assert_eq!(
            run.reconciles, 1,
            "the device reconciled with the restored server"
        );
    }
    for device in &devices {
        let held: Vec<(DocId, ChangeHash)> = device
            .doc_set()
            .docs
            .iter()
            .filter(|(id, _)| visits.contains(*id))
            .flat_map(|(id, doc)| doc.get_changes(&[]).into_iter().map(|c| (*id, c.hash())))
            .collect();
        let stored = restored
            .state
            .store
            .stored_changes(&held)
            .await
            .expect("stored changes");
        assert_eq!(
            stored.len(),
            held.len(),
            "after reconciling, the restored server holds every visit change the device holds"
        );
    }
    let every_change: Vec<(DocId, ChangeHash)> = devices
        .iter()
        .flat_map(|d| d.made.iter().copied())
        .collect();
    let stored = restored
        .state
        .store
        .stored_changes(&every_change)
        .await
        .expect("stored changes");
    assert_eq!(
        stored.len(),
        every_change.iter().collect::<HashSet<_>>().len(),
        "nothing any device typed is lost"
    );
    restored.shutdown().await.expect("graceful shutdown");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_store_in_use_or_with_data_unless_forced(#[case] backend: Backend) {
    let Some(mut ts) = TestServer::start(backend).await else {
        return;
    };
    let mut world = ts.rep_with_client("ООО «Ромашка»").await;
    let out = ts.dir.path().join("копия.backup");
    backup::backup(&ts.config, &out).await.expect("backup");
    let later = ts
        .add_client(
            &world.lead,
            world.programme,
            "АО «Лютик» (после копии)",
            "ivanov",
        )
        .await;

    let err = backup::restore(&ts.config, &out, true)
        .await
        .expect_err("a store a running server uses");
    assert_eq!(err.code(), "store_in_use", "{err}");
    assert!(
        err.to_string().contains("stop every rapport-server"),
        "{err}"
    );

    ts.stop().await;
    let before = held(&ts.config).await;
    assert!(before.docs.contains(&later));
    let err = backup::restore(&ts.config, &out, false)
        .await
        .expect_err("a store with data, without --force");
    assert_eq!(err.code(), "store_has_data", "{err}");
    let message = err.to_string();
    assert!(message.contains("--force"), "{message}");
    assert!(
        message.contains(&format!("{} documents", before.docs.len())),
        "{message}"
    );
    assert!(message.contains("1 lead account"), "{message}");
    assert_eq!(held(&ts.config).await, before, "the store is unchanged");

    let report = backup::restore(&ts.config, &out, true)
        .await
        .expect("a forced restore");
    let after = held(&ts.config).await;
    assert_ne!(after.epoch, before.epoch, "a new epoch");
    assert_eq!(hex::encode(after.epoch), report.epoch_hex);
    assert!(after.docs.contains(&world.client));
    assert!(
        !after.docs.contains(&later),
        "the store went back to the backup"
    );

    ts.restart_on_same_port().await;
    sign_in(&ts.http, ts.url(), &world.lead.row.email, PASSWORD).await;
    // The tablet's cursor is of the old epoch: its run reconciles first.
    let visit = world.tablet.new_visit(world.client);
    let run = world.tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(
        run.reconciles, 1,
        "the tablet reconciled with the restored store"
    );
    assert!(
        ts.load_doc(visit).await.is_some(),
        "the restored server takes uploads"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_backup_files_are_refused_and_the_store_is_untouched(#[case] backend: Backend) {
    let Some(mut ts) = TestServer::start(backend).await else {
        return;
    };
    let mut world = ts.rep_with_client("ООО «Ромашка»").await;
    let dir = ts.dir.path().join("резервные копии");
    std::fs::create_dir(&dir).expect("a folder");
    let good = dir.join("копия.backup");
    backup::backup(&ts.config, &good).await.expect("backup");

    // `backup --out` never overwrites, nor writes into a missing folder.
    let existing = dir.join("уже есть.backup");
    std::fs::write(&existing, "не трогать").expect("write");
    for target in [&existing, &good] {
        let before = std::fs::read(target).expect("read");
        let err = backup::backup(&ts.config, target)
            .await
            .expect_err("an existing file");
        assert_eq!(err.code(), "backup_output_exists", "{err}");
        assert!(
            err.to_string().contains(&target.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read(target).expect("read"), before, "left alone");
    }
    let err = backup::backup(&ts.config, &dir.join("нет папки").join("копия.backup"))
        .await
        .expect_err("a missing folder");
    assert_eq!(err.code(), "backup_output_folder", "{err}");
    assert!(
        !names_in(&dir).iter().any(|n| n.starts_with('.')),
        "no temporary file left: {:?}",
        names_in(&dir)
    );

    // The files to restore, each refused.
    let empty = dir.join("пустая.backup");
    std::fs::write(&empty, b"").expect("write");
    let truncated = dir.join("обрезанная.backup");
    let bytes = std::fs::read(&good).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let random = dir.join("случайные байты.backup");
    let mut noise = b"not a backup: ".to_vec();
    noise.extend(rapport_server::auth::random_bytes::<4096>());
    std::fs::write(&random, &noise).expect("write");
    let fake_pg = dir.join("дамп postgres.backup");
    let mut dump = b"PGDMP\x01\x0e\x00\x04\x08\x01\x01".to_vec();
    dump.extend(rapport_server::auth::random_bytes::<1024>());
    std::fs::write(&fake_pg, &dump).expect("write");
    // A SQLite database that is not a server's (a device's store has no accounts).
    let device_store = dir.join("устройство.sqlite3");
    let store = SqliteStore::open(&device_store).await.expect("a store");
    let not_a_server = dir.join("копия устройства.backup");
    store.backup_to(&not_a_server).await.expect("its backup");
    store.pool().close().await;

    let (other_kind, not_server_code) = match backend {
        Backend::Sqlite => (&fake_pg, "backup_corrupt"),
        Backend::Postgres => (&not_a_server, "backup_wrong_backend"),
    };
    let cases: [(&Path, &str); 6] = [
        (&dir.join("нет такой копии.backup"), "backup_missing"),
        (&empty, "backup_empty"),
        (&truncated, "backup_corrupt"),
        (other_kind, "backup_wrong_backend"),
        (&random, "not_a_backup"),
        (&not_a_server, not_server_code),
    ];

    ts.stop().await;
    let before = held(&ts.config).await;
    let files_before = names_in(&ts.config.data_dir);
    for (file, code) in cases {
        for force in [false, true] {
            let err = backup::restore(&ts.config, file, force)
                .await
                .expect_err("a bad backup file");
            let message = err.to_string();
            eprintln!("{code}: {message}");
            assert_eq!(err.code(), code, "{}: {message}", file.display());
            assert!(
                message.contains(&file.display().to_string()),
                "the message names the file: {message}"
            );
            if code == "backup_wrong_backend" {
                let expected = match backend {
                    Backend::Sqlite => {
                        "this is a PostgreSQL backup but the server is configured with the embedded SQLite store"
                    }
                    Backend::Postgres => {
                        "this is a SQLite backup but the server is configured with PostgreSQL"
                    }
                };
                assert!(message.contains(expected), "{message}");
            }
            assert_eq!(held(&ts.config).await, before, "the store is untouched");
            assert_eq!(
                names_in(&ts.config.data_dir),
                files_before,
                "no file left behind"
            );
        }
    }

    // The store still serves as before.
    ts.restart_on_same_port().await;
    assert_eq!(ts.state().epoch, before.epoch);
    let visit = world.tablet.new_visit(world.client);
    let run = world.tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(ts.load_doc(visit).await.is_some());
}

/// Runs the server binary with `args` on the embedded store (no PostgreSQL from the
/// environment).
async fn run(args: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("RAPPORT_TEST_DATABASE_URL")
        .env("RAPPORT_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"));
    tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the command finishes within 60 s")
        .expect("the command's task")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The epoch the binary printed.
fn printed_epoch(stdout: &str) -> String {
    let epoch = stdout
        .split_whitespace()
        .find(|w| w.len() == 32 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no epoch printed: {stdout}"));
    epoch.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subcommands_back_up_and_restore_on_sqlite() {
    let Some(ts) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let world = ts.rep_with_client("ООО «Ромашка»").await;
    let data = ts.config.data_dir.as_os_str();
    let out: PathBuf = ts.dir.path().join("копия.db");
    let restored: PathBuf = ts.dir.path().join("восстановлено");
    let arg = |s: &'static str| std::ffi::OsStr::new(s);

    // While the server serves (in this process), from another process.
    let done = run(&[
        arg("--data-dir"),
        data,
        arg("backup"),
        arg("--out"),
        out.as_os_str(),
    ])
    .await;
    let (stdout, stderr) = text(&done);
    assert!(done.status.success(), "backup: {stdout}\n{stderr}");
    assert!(
        stdout.contains("копия.db") && stdout.contains("sqlite"),
        "{stdout}"
    );

    let again = run(&[
        arg("--data-dir"),
        data,
        arg("backup"),
        arg("--out"),
        out.as_os_str(),
    ])
    .await;
    let (stdout, stderr) = text(&again);
    assert_eq!(again.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("копия.db exists already"),
        "the error names the file: {stderr}"
    );

    let restore = [
        arg("--data-dir"),
        restored.as_os_str(),
        arg("restore"),
        arg("--from"),
        out.as_os_str(),
    ];
    let first = run(&restore).await;
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "restore: {stdout}\n{stderr}");
    assert!(stdout.contains("new epoch"), "{stdout}");
    assert!(
        stdout.contains("Devices notice the new epoch on their next sync"),
        "{stdout}"
    );
    let first_epoch = printed_epoch(&stdout);

    let refused = run(&restore).await;
    let (stdout, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("add --force"), "{stderr}");

    let mut forced = restore.to_vec();
    forced.push(arg("--force"));
    let second = run(&forced).await;
    let (stdout, stderr) = text(&second);
    assert!(
        second.status.success(),
        "restore --force: {stdout}\n{stderr}"
    );
    let second_epoch = printed_epoch(&stdout);
    assert_ne!(first_epoch, second_epoch);

    let renewed = run(&[arg("--data-dir"), restored.as_os_str(), arg("new-epoch")]).await;
    let (stdout, stderr) = text(&renewed);
    assert!(renewed.status.success(), "new-epoch: {stdout}\n{stderr}");
    let third_epoch = printed_epoch(&stdout);
    assert_ne!(third_epoch, second_epoch);

    // Not into the store of a running server.
    let busy = run(&[
        arg("--data-dir"),
        data,
        arg("restore"),
        arg("--from"),
        out.as_os_str(),
        arg("--force"),
    ])
    .await;
    let (stdout, stderr) = text(&busy);
    assert_eq!(busy.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("stop every rapport-server"), "{stderr}");

    // The restored folder serves, with the epoch new-epoch gave it.
    let config = Config {
        data_dir: restored.clone(),
        ..ts.config.clone()
    };
    let server = Server::start(config)
        .await
        .expect("the restored folder serves");
    assert_eq!(hex::encode(server.state.epoch), third_epoch);
    assert!(
        server
            .state
            .store
            .load(world.client)
            .await
            .expect("load")
            .is_some()
    );
    sign_in(&ts.http, &server.url(), &world.lead.row.email, PASSWORD).await;
    server.shutdown().await.expect("graceful shutdown");
}

#[test]
fn backup_errors_have_stable_codes() {
    let err = BackupError::StoreHasData {
        target: "/данные/rapport.sqlite3".to_owned(),
        what: "3 documents, 1 lead account".to_owned(),
    };
    assert_eq!(err.code(), "store_has_data");
    assert!(err.to_string().contains("add --force"));
}
