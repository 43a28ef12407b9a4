//! A sheet as read, before interpretation: what the CSV and XLSX readers hand
//! the import, the bounds they read within, the per-row problem they may already
//! find, and the text a number becomes in a cell (read or exported).

use serde::Serialize;

/// Bounds on the work one import may do; an upload beyond them is refused, not truncated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest upload in bytes.
    pub max_bytes: usize,
    /// Most client rows (header and blank rows not counted).
    pub max_rows: usize,
    /// Largest total size of an XLSX's unpacked parts: a 10 MiB zip can unpack to
    /// gigabytes (a "zip bomb"); this caps memory and time spent before parsing.
    pub max_unzipped_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 10 * 1024 * 1024,
            max_rows: 50_000,
            max_unzipped_bytes: 100 * 1024 * 1024,
        }
    }
}

/// A sheet before interpretation: the reader-specific part ends here.
pub(crate) struct RawSheet {
    /// Header cells as written.
    pub headers: Vec<String>,
    /// Data rows (blank rows already dropped).
    pub rows: Vec<RawRow>,
    /// Remarks from the reader (sheet chosen, encoding guessed).
    pub warnings: Vec<String>,
}

/// One data row as read.
pub(crate) enum RawRow {
    /// Cells by column index (same indexing as the headers).
    Cells {
        /// Excel row number.
        line: usize,
        /// Non-blank cells as (column index, text), sorted by column. Sparse, so a stray
        /// value far to the right costs one entry, not thousands of empty cells a row.
        cells: Vec<(usize, String)>,
        /// Cells that hold an Excel error value (`#N/A`): (column index, error text).
        cell_errors: Vec<(usize, String)>,
    },
    /// The reader could not split the row (for example a wrong field count).
    Broken(RowError),
}

/// A problem with one row: that row is not imported, the others are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The row number as Excel shows it (header = 1).
    pub line: usize,
    /// The column header as written in the file, when the problem is in one cell.
    pub column: Option<String>,
    /// A stable code for clients.
    pub code: &'static str,
    /// What is wrong and how to fix it, in Russian.
    pub message: String,
    /// The same in English.
    pub message_en: String,
}

/// Text has no NUL bytes, except UTF-16 which announces itself with a BOM.
pub(crate) fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let head = &bytes[..bytes.len().min(8192)];
    !head.contains(&0)
}

/// Whole numbers without ".0": a phone typed as 79161234567 must not become
/// "79161234567.0" or "7.9e10".
pub(crate) fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_have_no_fraction() {
        assert_eq!(number_text(79_161_234_567.0), "79161234567");
        assert_eq!(number_text(2.5), "2.5");
        assert_eq!(number_text(f64::NAN), "NaN");
    }
}
