//! CSV as Russian Excel writes it: encoding and delimiter are guessed, not asked.

use std::borrow::Cow;

use encoding_rs::{Encoding, WINDOWS_1251};

use crate::import::{RawRow, RawSheet, RowError, looks_like_text};
use crate::{Limits, SheetError};

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
        // Excel writes every row with the same number of fields; a different count means
        // a stray delimiter or an unclosed quote, which the user must see.
        .flexible(false)
        .from_reader(text.as_bytes());

    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    // Newlines inside quoted cells advance the text line but not the Excel row.
    let mut embedded_newlines = 0usize;
    for result in reader.records() {
        match result {
            Ok(rec) => {
                let text_line = rec.position().map_or(1, |p| p.line());
                let line = usize::try_from(text_line)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(embedded_newlines);
                embedded_newlines += rec.iter().map(|f| f.matches('\n').count()).sum::<usize>();
                if rec.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                let cells: Vec<String> = rec.iter().map(str::to_owned).collect();
                if headers.is_none() {
                    headers = Some(cells);
                    continue;
                }
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
            Err(e) => {
                let (line, detail_ru, detail_en) = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        pos,
                        expected_len,
                        len,
                    } => (
                        pos.as_ref().map_or(0, |p| p.line()),
                        format!("в строке {len} полей вместо {expected_len}"),
                        format!("the row has {len} fields instead of {expected_len}"),
                    ),
                    _ => (
                        e.position().map_or(0, |p| p.line()),
                        "строку не удалось разобрать".to_owned(),
                        "the row cannot be parsed".to_owned(),
                    ),
                };
                let line = usize::try_from(line)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(embedded_newlines);
                push_row(
                    &mut rows,
                    RawRow::Broken(RowError {
                        line,
                        column: None,
                        code: "wrong_field_count",
                        message: format!(
                            "{detail_ru}: проверьте лишние разделители «{}» и незакрытые кавычки",
                            char::from(delimiter)
                        ),
                        message_en: format!(
                            "{detail_en}: look for a stray '{}' or an unclosed quote",
                            char::from(delimiter)
                        ),
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
