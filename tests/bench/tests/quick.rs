//! The benchmark program itself, at its quick scale: every part runs (P1 with the real
//! JavaScript automerge-repo and its sync server), the Markdown file is written with a
//! section per part, and every figure a script reads is printed as `name=value`.
//! What it measures at this scale judges nothing, except what does not depend on
//! scale: a reconnect with nothing changed is one request of under 1 KB each way.

use std::collections::HashMap;
use std::process::Command;

#[test]
fn every_part_runs_and_prints_its_figures() {
    if std::env::var(rapport_testkit::PG_ENV).is_err() {
        eprintln!("skipped: RAPPORT_TEST_DATABASE_URL is not set (run `bash tests/run.sh`)");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let md_path = dir.path().join("отчёт/bench.md");
    let out = Command::new(env!("CARGO_BIN_EXE_rapport-bench"))
        .args(["--quick", "--out"])
        .arg(&md_path)
        .output()
        .expect("the benchmark starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {}: {stderr}", out.status);
    let figures: HashMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    for name in [
        "p1a_rapport_ms",
        "p1b_rapport_ms",
        "p1c_rapport_ms",
        "p1b_floor_ms",
        "p1c_floor_ms",
        "p1a_automerge_repo_ms",
        "p1b_automerge_repo_ms",
        "p1c_automerge_repo_ms",
        "p1b_ratio_vs_automerge_repo",
        "p1c_ratio_vs_automerge_repo",
        "p2_device_changed_bytes_sent",
        "p2_restored_nothing_lost_ms",
        "p2_restored_3_lost_bytes_sent",
        "p3_p99_ms",
        "p3b_p99_ms",
        "p3b_cpu_ms_per_sync_server",
        "p3b_server_peak_mb",
        "p4_edit_text_p99_ms",
        "p4_open_cold_median_ms",
        "p5_status_p95_ms_postgres",
        "p5_export_csv_ms_sqlite",
        "p5_add_one_client_ms_postgres",
        "p5_add_one_client_max_ms_sqlite",
    ] {
        let value = figures
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing: {stdout}\n{stderr}"));
        let n: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number"));
        assert!(n.is_finite() && n >= 0.0, "{name}={value}");
    }
    assert_eq!(
        figures.get("p3_errors"),
        Some(&"0"),
        "no device failed under load"
    );
    assert_eq!(
        figures.get("p3b_errors"),
        Some(&"0"),
        "no device failed under steady load"
    );
    assert_eq!(
        figures.get("p3b_syncs"),
        Some(&"120"),
        "every planned sync of the steady load ran: 40 devices, 3 each"
    );
    assert_eq!(figures.get("p2_unchanged_requests"), Some(&"1"));
    assert_eq!(figures.get("p2_unchanged_target"), Some(&"met"), "{stdout}");
    let md = std::fs::read_to_string(&md_path).expect("the Markdown file is written");
    for part in [
        "## P1", "## P2", "## P2b", "## P3", "## P3b", "## P4", "## P5",
    ] {
        assert!(md.contains(part), "{part} in {md}");
    }
    assert!(md.contains("| P1b upload to acknowledged |"), "{md}");
}

#[test]
fn a_wrong_part_is_refused_with_the_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_rapport-bench"))
        .arg("p7")
        .output()
        .expect("the benchmark starts");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"p7\"") && stderr.contains("usage:"),
        "{stderr}"
    );
}
