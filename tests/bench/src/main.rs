//! `rapport-bench`: Rapport's figures, each measured in the same run as what it is
//! compared with.
//!
//! ```text
//! rapport-bench [p1] [p2] [p3] [p3b] [p4] [p5] [--quick] [--out FILE]
//! ```
//!
//! - **p1** the anchor workload against the JavaScript automerge-repo and the
//!   in-memory floor (needs PostgreSQL and Node.js with `js/`'s packages);
//! - **p2** reconnect cost; **p3** load and **p3b** steady load (PostgreSQL, the devices
//!   in a fleet process: this program started again as `rapport-bench fleet`);
//!   **p4** the device; **p5** the lead.
//!
//! No part named: all of them. `--quick` runs every part on a small scale (a check
//! that the program works, as CI does; its figures judge nothing). Prints the table,
//! writes it as Markdown to `--out` (default `$CARGO_TARGET_DIR/bench.md`, else
//! `target/bench.md`), then prints every figure as a `name=value` line. Run it through
//! `bash tools/bench.sh`, which starts PostgreSQL and installs the JavaScript packages.

mod common;
mod fleet;
mod p1;
mod p2;
mod p3;
mod p4;
mod p5;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use report::Report;

/// How big a run is.
#[derive(Clone, Copy)]
pub struct Scale {
    /// Small sizes: the program's own check, not a measurement.
    pub quick: bool,
}

const PARTS: [&str; 6] = ["p1", "p2", "p3", "p3b", "p4", "p5"];

const USAGE: &str = "usage: rapport-bench [p1] [p2] [p3] [p3b] [p4] [p5] [--quick] [--out FILE]";

/// The command line, checked.
struct Args {
    parts: Vec<&'static str>,
    scale: Scale,
    out: PathBuf,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parts = Vec::new();
    let mut quick = false;
    let mut out = None;
    let mut args = args;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => {
                out = Some(PathBuf::from(args.next().ok_or("--out needs a file name")?));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            p => match PARTS.iter().find(|k| k.eq_ignore_ascii_case(p)) {
                Some(k) => parts.push(*k),
                None => return Err(format!("unknown part or option {p:?}\n{USAGE}")),
            },
        }
    }
    if parts.is_empty() {
        parts = PARTS.to_vec();
    }
    let out = out.unwrap_or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        PathBuf::from(target).join("bench.md")
    });
    Ok(Args {
        parts,
        scale: Scale { quick },
        out,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    // The device fleet of P3 and P3b: this program, started by itself.
    if std::env::args().nth(1).as_deref() == Some("fleet") {
        return fleet::serve().await;
    }
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut report = Report::default();
    for part in &args.parts {
        let t = Instant::now();
        eprintln!("{part}: running");
        match *part {
            "p1" => p1::run(&mut report, args.scale).await,
            "p2" => p2::run(&mut report, args.scale).await,
            "p3" => p3::run(&mut report, args.scale).await,
            "p3b" => p3::run_steady(&mut report, args.scale).await,
            "p4" => p4::run(&mut report, args.scale).await,
            _ => p5::run(&mut report, args.scale).await,
        }
        eprintln!("{part}: done in {:.0} s", t.elapsed().as_secs_f64());
    }
    let heading = format!(
        "Rapport benchmark{} ({}; {} CPU cores)",
        if args.scale.quick {
            ", quick scale (not a measurement)"
        } else {
            ""
        },
        args.parts.join(", "),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let md = report.markdown(&heading);
    print!("{md}");
    for line in report.lines() {
        println!("{line}");
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&args.out, &md) {
        Ok(()) => eprintln!("written to {}", args.out.display()),
        Err(e) => {
            eprintln!("could not write {}: {e}", args.out.display());
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "all done in {:.0} s; targets missed: {}",
        started.elapsed().as_secs_f64(),
        if report.missed().is_empty() {
            "none".into()
        } else {
            report.missed().join(", ")
        }
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        parse(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parts_are_chosen_by_name_and_default_to_all() {
        assert_eq!(args(&[]).expect("no args").parts, PARTS.to_vec());
        let a = args(&["P3", "p1", "--quick", "--out", "отчёт.md"]).expect("args");
        assert_eq!(a.parts, vec!["p3", "p1"]);
        assert!(a.scale.quick);
        assert_eq!(a.out, PathBuf::from("отчёт.md"));
    }

    #[test]
    fn an_unknown_part_or_a_missing_file_name_is_refused_with_the_usage() {
        let e = args(&["p9"]).err().expect("refused");
        assert!(e.contains("\"p9\"") && e.contains("usage"), "{e}");
        let e = args(&["--out"]).err().expect("refused");
        assert!(e.contains("--out needs a file name"), "{e}");
    }
}
