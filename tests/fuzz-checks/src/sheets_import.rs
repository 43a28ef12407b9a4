//! Arbitrary bytes through the client import, as CSV and as XLSX, and through format
//! detection: nothing panics, and an accepted file's report keeps every promise of
//! `rapport_sheets` (limits, required fields, file order, one outcome per row).

use std::collections::BTreeSet;

use rapport_sheets::{Format, ImportReport, Limits, MAX_FIELD_CHARS, read_clients};

/// Small enough that the row limit is reachable by mutation; the zip-bomb cap stays
/// far above what a fuzz input can unpack to legitimately.
const LIMITS: Limits = Limits {
    max_bytes: 1024 * 1024,
    max_rows: 64,
    max_unzipped_bytes: 16 * 1024 * 1024,
};

fn check_report(report: &ImportReport, format: Format) {
    assert!(
        !(report.rows.is_empty() && report.errors.is_empty()),
        "{format:?}: an accepted file has at least one row or one row error"
    );
    let mut last = 1;
    let mut companies = BTreeSet::new();
    for row in &report.rows {
        assert!(
            row.line > last,
            "{format:?}: rows in file order after the header: {row:?}"
        );
        last = row.line;
        let company = row.company.as_str();
        assert!(
            !company.is_empty(),
            "{format:?}: empty company accepted: {row:?}"
        );
        assert_eq!(company, company.trim(), "{format:?}: company not trimmed");
        // Same key as the import's duplicate check: case, spacing, '_' and 'ё' folded.
        let key = company
            .replace('_', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
            .replace('ё', "е");
        assert!(
            companies.insert(key),
            "{format:?}: duplicate company accepted: {row:?}"
        );
        let mut fields = vec![company, row.notes.as_str()];
        fields.extend(row.original_rep.as_deref());
        if let Some(c) = &row.contact {
            assert!(
                !c.name.is_empty(),
                "{format:?}: contact without a name: {row:?}"
            );
            if !c.email.is_empty() {
                assert!(
                    c.email.contains('@'),
                    "{format:?}: e-mail without @: {row:?}"
                );
            }
            fields.extend([
                c.name.as_str(),
                c.role.as_str(),
                c.phone.as_str(),
                c.email.as_str(),
            ]);
        }
        for f in fields {
            assert!(
                f.chars().count() <= MAX_FIELD_CHARS,
                "{format:?}: field over the limit"
            );
            assert_eq!(f, f.trim(), "{format:?}: field not trimmed: {f:?}");
        }
        assert!(
            row.original_rep.as_deref() != Some(""),
            "{format:?}: an empty rep is None"
        );
    }
    let accepted: BTreeSet<usize> = report.rows.iter().map(|r| r.line).collect();
    let refused: BTreeSet<usize> = report.errors.iter().map(|e| e.line).collect();
    assert!(
        accepted.is_disjoint(&refused),
        "{format:?}: a row is both imported and refused: {accepted:?} / {refused:?}"
    );
    assert!(
        accepted.len() + refused.len() <= LIMITS.max_rows,
        "{format:?}: more rows than the limit of {}",
        LIMITS.max_rows
    );
    for e in &report.errors {
        assert!(!e.code.is_empty() && !e.message.is_empty() && !e.message_en.is_empty());
    }
}

/// Detects the format of `data` and imports it as CSV and as XLSX; panics when the
/// import panics, refuses without a code and message, or accepts a file whose report
/// breaks a promise.
pub fn check(data: &[u8]) {
    let _ = Format::detect(Some("клиенты.csv"), data);
    let _ = Format::detect(None, data);
    for format in [Format::Csv, Format::Xlsx] {
        match read_clients(data, format, &LIMITS) {
            Ok(report) => check_report(&report, format),
            Err(e) => {
                assert!(!e.code().is_empty());
                assert!(!e.to_string().is_empty() && !e.message_ru().is_empty());
            }
        }
    }
}
