//! The benchmark's output: a Markdown document (printed and written to a file) and one
//! `name=value` line per figure, for scripts.

use std::fmt::{Display, Write as _};

/// Everything a run measured.
#[derive(Default)]
pub struct Report {
    md: String,
    lines: Vec<String>,
    missed: Vec<String>,
}

impl Report {
    /// Starts a part: a heading and a sentence saying what is measured.
    pub fn part(&mut self, title: &str, what: &str) {
        let _ = write!(self.md, "\n## {title}\n\n{what}\n\n");
    }

    /// Starts a table with these column names (the first is left aligned).
    pub fn table(&mut self, columns: &[&str]) {
        let _ = writeln!(self.md, "| {} |", columns.join(" | "));
        let align: Vec<&str> = columns
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(self.md, "| {} |", align.join(" | "));
    }

    /// One table row.
    pub fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.md, "| {} |", cells.join(" | "));
    }

    /// A paragraph after a table.
    pub fn note(&mut self, text: &str) {
        let _ = write!(self.md, "\n{text}\n");
    }

    /// One figure for scripts.
    pub fn figure(&mut self, name: &str, value: impl Display) {
        self.lines.push(format!("{name}={value}"));
    }

    /// A target's verdict: `met`, or `**missed**` (and remembered for the summary).
    /// Also a `<name>_target=met|missed` line.
    pub fn target(&mut self, name: &str, met: bool) -> String {
        self.figure(
            &format!("{name}_target"),
            if met { "met" } else { "missed" },
        );
        if met {
            "met".into()
        } else {
            self.missed.push(name.to_owned());
            "**missed**".into()
        }
    }

    /// A part that could not run, and why.
    pub fn skipped(&mut self, title: &str, why: &str) {
        let _ = write!(self.md, "\n## {title}\n\nSkipped: {why}\n");
        self.figure(
            &format!(
                "{}_skipped",
                title.split_whitespace().next().unwrap_or(title)
            ),
            1,
        );
    }

    /// Targets missed in this run.
    pub fn missed(&self) -> &[String] {
        &self.missed
    }

    /// The Markdown document, with the summary of targets at its end.
    pub fn markdown(&self, heading: &str) -> String {
        let mut md = format!("# {heading}\n{}", self.md);
        if self.missed.is_empty() {
            md.push_str("\nEvery target of the parts run was met.\n");
        } else {
            let _ = write!(md, "\nTargets missed: {}.\n", self.missed.join(", "));
        }
        md
    }

    /// The `name=value` lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}
