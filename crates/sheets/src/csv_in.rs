//! CSV as Russian Excel writes it: encoding and delimiter are guessed, not asked.

use std::borrow::Cow;

use encoding_rs::{Encoding, WINDOWS_1251};

use crate::error::SheetError;
use crate::raw::{Limits, RawRow, RawSheet, RowError, looks_like_text};

/// Excel's widest sheet (column XFD); a wider header is not a client list.
const MAX_COLUMNS: usize = 16_384;

/// Decodes and splits a CSV file into a header and rows.
pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<RawSheet, SheetError> {
    if !looks_like_text(bytes) {
        return Err(SheetError::UnrecognisedFormat);
    }
    let (text, encoding_note) = decode(bytes);
    if text.trim().is_empty() {
        return Err(SheetError::Empty);
    }
    let delimiter = sniff_delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        // Field counts are checked below against the header rather than by the csv
        // crate against the first record: a blank first line must not set the count, and
        // a short row must still yield its cells so its embedded newlines are counted.
        .flexible(true)
        .from_reader(text.as_bytes());

    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    // Newlines inside quoted cells advance the text line but not the Excel row.
    let mut embedded_newlines = 0usize;
    let mut lines = LineCounter {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    for result in reader.records() {
        match result {
            Ok(rec) => {
                let line = lines
                    .line_at(rec.position().map_or(0, csv::Position::byte))
                    .saturating_sub(embedded_newlines);
                embedded_newlines += rec.iter().map(|f| line_breaks(f.as_bytes())).sum::<usize>();
                if rec.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                let Some(header) = &headers else {
                    if rec.len() > MAX_COLUMNS {
                        return Err(SheetError::TooManyColumns { limit: MAX_COLUMNS });
                    }
                    headers = Some(rec.iter().map(str::to_owned).collect());
                    continue;
                };
                // Excel writes every row with the same number of fields; a different
                // count means a stray delimiter or an unclosed quote, which the user
                // must see rather than get shifted columns.
                if rec.len() != header.len() {
                    let d = char::from(delimiter);
                    let (len, expected) = (rec.len(), header.len());
                    push_row(
                        &mut rows,
                        RawRow::Broken(RowError {
                            line,
                            column: None,
                            code: "wrong_field_count",
                            message: format!(
                                "В строке {len} полей вместо {expected}: проверьте лишние разделители «{d}» и незакрытые кавычки"
                            ),
                            message_en: format!(
                                "the row has {len} fields instead of {expected}: look for a stray '{d}' or an unclosed quote"
                            ),
                        }),
                        limits,
                    )?;
                    continue;
                }
                let cells = rec
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !f.trim().is_empty())
                    .map(|(i, f)| (i, f.to_owned()))
                    .collect();
                push_row(
                    &mut rows,
                    RawRow::Cells {
                        line,
                        cells,
                        cell_errors: Vec::new(),
                    },
                    limits,
                )?;
            }
            // Only UTF-8 and IO errors remain with `flexible`; the input is a decoded
            // &str in memory, so neither can happen. Reported, not panicked on, anyway.
            Err(e) => {
                let line = lines
                    .line_at(e.position().map_or(0, csv::Position::byte))
                    .saturating_sub(embedded_newlines);
                push_row(
                    &mut rows,
                    RawRow::Broken(RowError {
                        line,
                        column: None,
                        code: "unreadable_row",
                        message: format!("Строку не удалось разобрать: {e}"),
                        message_en: format!("the row cannot be read: {e}"),
                    }),
                    limits,
                )?;
            }
        }
    }
    let headers = headers.ok_or(SheetError::Empty)?;
    Ok(RawSheet {
        headers,
        rows,
        warnings: encoding_note.into_iter().collect(),
    })
}

/// Line breaks in `text` as the csv crate splits records: `\r\n`, `\n`, and a lone `\r`
/// (Excel for Mac's "CSV (Macintosh)" ends lines with CR alone; counting only `\n`
/// gave every row of such a file the same line number).
fn line_breaks(text: &[u8]) -> usize {
    let lone_cr = text
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' && text.get(i + 1) != Some(&b'\n'))
        .count();
    text.iter().filter(|&&b| b == b'\n').count() + lone_cr
}

/// Text line numbers from byte offsets. The csv crate's own `Position::line` lags by
/// one after each CRLF (it counts the `\n` of "\r\n" into the next record, and the
/// next record's position points at that `\n`), and Excel's CSVs end lines with CRLF.
struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl LineCounter<'_> {
    /// The 1-based line of the first character of the record whose position is `byte`:
    /// the position may point at line ends (blank lines, a terminator's `\n`) before it.
    /// Positions only grow, so counting resumes where the last call stopped.
    fn line_at(&mut self, byte: u64) -> usize {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > self.pos {
            let skipped = self.text.get(self.pos..start).unwrap_or_default();
            self.line += line_breaks(skipped);
            self.pos = start;
        }
        self.line
    }
}

fn push_row(rows: &mut Vec<RawRow>, row: RawRow, limits: &Limits) -> Result<(), SheetError> {
    if rows.len() >= limits.max_rows {
        return Err(SheetError::TooManyRows {
            limit: limits.max_rows,
        });
    }
    rows.push(row);
    Ok(())
}

/// BOM first (UTF-8, UTF-16LE/BE), then UTF-8 if valid, else Windows-1251: what
/// "CSV (разделители — точки с запятой)" from a Russian Excel produces.
fn decode(bytes: &[u8]) -> (Cow<'_, str>, Option<String>) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let rest = bytes.get(bom_len..).unwrap_or_default();
        let (text, _) = encoding.decode_without_bom_handling(rest);
        return (text, None);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (Cow::Borrowed(s), None),
        Err(_) => {
            let (text, _) = WINDOWS_1251.decode_without_bom_handling(bytes);
            (
                text,
                Some(
                    "Файл прочитан в кодировке Windows-1251 / the file was read as Windows-1251"
                        .to_owned(),
                ),
            )
        }
    }
}

/// Picks the delimiter that splits the header line most; ties go to `;`, the Russian
/// Excel default. Quoted parts are skipped so "Компания, ООО" does not count.
fn sniff_delimiter(text: &str) -> u8 {
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let mut counts = [0usize; 3];
    let candidates = [b';', b'\t', b','];
    let mut quoted = false;
    for b in header.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = candidates.iter().position(|&c| c == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..candidates.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_ignores_delimiters_inside_quotes() {
        assert_eq!(sniff_delimiter("\"Компания, ООО\";Сегмент\n"), b';');
        assert_eq!(sniff_delimiter("Компания,Сегмент,Телефон\n"), b',');
        assert_eq!(sniff_delimiter("Компания\tСегмент\n"), b'\t');
        assert_eq!(sniff_delimiter("Компания\n"), b';');
    }
}
