//! The database key in a real keychain: a private D-Bus session with GNOME Keyring's
//! Secret Service, and the `rapport-device` binary pointed at it (the key lookup reads
//! the session bus address from the environment, which a test process cannot change
//! for itself).
//!
//! Needs `dbus-daemon` and `gnome-keyring-daemon` (`tests/setup.sh` installs them);
//! without them the tests say so and skip.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::Run;

/// Longest wait for the keyring to answer, and for one command.
const WAIT: Duration = Duration::from_secs(20);

/// The private bus's configuration: a session bus that starts no service by itself.
///
/// The stock session configuration lists the system's service files, among them
/// GNOME Keyring's. A call that reached the bus before our daemon had taken the
/// Secret Service's name would start a second daemon, in the test process's real home
/// and outside the test's control; it kept the name, and every later call failed.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>LISTEN</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// A private session bus with a Secret Service on it; both stop on drop.
struct Keyring {
    bus: Child,
    daemon: Option<Child>,
    address: String,
    home: tempfile::TempDir,
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Keyring {
    /// Starts the bus and an unlocked keyring, or `None` when they are not installed.
    fn start() -> Option<Self> {
        if !installed("dbus-daemon") || !installed("gnome-keyring-daemon") {
            eprintln!("skipped: dbus-daemon or gnome-keyring-daemon is not installed");
            return None;
        }
        let home = tempfile::tempdir().expect("a home for the keyring");
        let config = home.path().join("bus.conf");
        let socket = home.path().join("bus");
        let listen = format!("unix:path={}", socket.display());
        std::fs::write(&config, BUS_CONFIG.replace("LISTEN", &listen))
            .expect("the bus's configuration");
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(home.path().join("bus.log")).expect("the bus's log"))
            .spawn()
            .expect("dbus-daemon starts");
        let mut line = String::new();
        BufReader::new(bus.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the bus prints its address");
        assert!(
            !line.trim().is_empty(),
            "the bus did not start: {:?}",
            std::fs::read_to_string(home.path().join("bus.log"))
        );
        let mut keyring = Self {
            bus,
            daemon: None,
            address: line.trim().to_owned(),
            home,
        };
        // Nothing answers before our daemon: the bus starts no keyring by itself.
        let early = keyring.device(&keyring.home.path().join("early"), "keychain", &["status"]);
        assert_eq!(early.error_code(), "keychain_unavailable", "{early:?}");
        keyring.start_daemon();
        Some(keyring)
    }

    /// Starts (or restarts) the Secret Service, unlocked, keeping its files in `home`.
    fn start_daemon(&mut self) {
        self.stop_daemon();
        let home = self.home.path();
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--foreground"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(home.join("daemon.log")).expect("the daemon's log"))
            .spawn()
            .expect("gnome-keyring-daemon starts");
        // The login keyring's password, then end of input.
        let mut stdin = daemon.stdin.take().expect("stdin");
        stdin.write_all(b"test-password").expect("password");
        drop(stdin);
        self.daemon = Some(daemon);
        // Ready when a key can be stored and read back through it.
        // A fresh folder: a database whose key was in a wiped keyring would never open.
        let probe = self.home.path().join("probe");
        let _ = std::fs::remove_dir_all(&probe);
        let started = Instant::now();
        for _ in 0..200 {
            let probed = self.device(&probe, "keychain", &["status"]);
            if probed.code == 0 {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "the keyring never answered: {probed:?}; the daemon said: {:?}",
                std::fs::read_to_string(self.home.path().join("daemon.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the Secret Service (the bus stays).
    fn stop_daemon(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    /// Forgets every stored secret: the keyring's files go.
    fn wipe(&mut self) {
        self.stop_daemon();
        let _ = std::fs::remove_dir_all(self.home.path().join("data"));
        self.start_daemon();
    }

    /// Runs `rapport-device --json --data-dir DIR --key-storage STORAGE ARGS` on this bus.
    fn device(&self, dir: &Path, storage: &str, args: &[&str]) -> Run {
        run(dir, storage, args, Some(&self.address))
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        self.stop_daemon();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn run(dir: &Path, storage: &str, args: &[&str], bus: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport-device"));
    command
        .arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .args(["--key-storage", storage])
        .args(args)
        .env("RAPPORT_LOG", "error")
        .env_remove("RAPPORT_DEVICE_DIR")
        .env_remove("RAPPORT_KEY_STORAGE");
    match bus {
        Some(address) => command.env("DBUS_SESSION_BUS_ADDRESS", address),
        // A bus that does not exist: no keychain answers.
        None => command.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
    };
    let started = Instant::now();
    let output = command.output().expect("the binary runs");
    assert!(started.elapsed() < WAIT, "took {:?}", started.elapsed());
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every file of a folder with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read file");
            (p, bytes)
        })
        .collect()
}

#[test]
fn the_key_lives_in_the_keychain_and_a_lost_key_is_never_replaced() {
    let Some(mut keyring) = Keyring::start() else {
        return;
    };
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("планшет");

    // Auto with a keychain: the key goes there, no key file, no warning.
    let first = keyring.device(&dir, "auto", &["status"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(!dir.join("device.key").exists(), "a key file was written");
    assert!(!first.stderr.contains("warning"), "{first:?}");
    // Opened again: the key comes back from the keychain.
    let again = keyring.device(&dir, "keychain", &["status"]);
    assert_eq!(again.code, 0, "{again:?}");

    // The keyring restarted: its secrets are on disk, the database still opens.
    keyring.start_daemon();
    let restarted = keyring.device(&dir, "auto", &["status"]);
    assert_eq!(restarted.code, 0, "{restarted:?}");

    // The key is gone from the keychain: a clear error, nothing written, no new key.
    let before = files(&dir);
    keyring.wipe();
    let lost = keyring.device(&dir, "auto", &["status"]);
    assert_eq!(lost.code, 1, "{lost:?}");
    assert_eq!(lost.error_code(), "key_missing", "{lost:?}");
    assert_eq!(files(&dir), before, "a failed open changed the data folder");
    assert!(!dir.join("device.key").exists(), "a new key was made");
}

#[test]
fn two_data_folders_keep_two_keys() {
    let Some(keyring) = Keyring::start() else {
        return;
    };
    let root = tempfile::tempdir().expect("dir");
    let a = root.path().join("a");
    let b = root.path().join("b");
    assert_eq!(keyring.device(&a, "keychain", &["status"]).code, 0);
    assert_eq!(keyring.device(&b, "keychain", &["status"]).code, 0);
    // B's database under A's folder name reads with A's key: refused, not opened.
    std::fs::copy(b.join("device.db"), a.join("device.db")).expect("copy");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(a.join(format!("device.db{suffix}")));
    }
    let mixed = keyring.device(&a, "keychain", &["status"]);
    assert_eq!(mixed.code, 1, "{mixed:?}");
    assert_eq!(mixed.error_code(), "store_wrong_key", "{mixed:?}");
}

#[test]
fn keychain_only_without_a_keychain_says_what_to_do() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("device");
    let refused = run(&dir, "keychain", &["status"], None);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.error_code(), "keychain_unavailable", "{refused:?}");
    assert!(
        refused.stdout.contains("file"),
        "names the way out: {refused:?}"
    );
    assert!(!dir.join("device.key").exists());
    // Auto falls back to a private key file, with a warning.
    let fallback = run(&dir, "auto", &["status"], None);
    assert_eq!(fallback.code, 0, "{fallback:?}");
    assert!(dir.join("device.key").exists());
    assert!(
        fallback
            .stderr
            .contains("warning: no keychain on this system"),
        "{fallback:?}"
    );
}
