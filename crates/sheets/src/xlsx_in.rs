//! XLSX: the sheet named "Клиенты"/"Clients", else the first; cells become text.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};

use crate::error::SheetError;
use crate::raw::{Limits, RawRow, RawSheet, number_text};

/// Excel's widest sheet (column XFD): no real header lies beyond it.
const MAX_COLUMNS: u32 = 16_384;
/// Parts in a workbook: a real one has dozens; thousands means something hostile.
const MAX_ZIP_ENTRIES: usize = 10_000;

/// A cell's text, or the Excel error it holds (`#N/A`).
type CellText = Result<String, String>;

/// Reads the client sheet of a workbook into a header and rows.
pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<RawSheet, SheetError> {
    check_unzipped_size(bytes, limits.max_unzipped_bytes)?;
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(unreadable)?;
    let names = book.sheet_names();
    let chosen = names
        .iter()
        .find(|n| {
            let n = n.trim().to_lowercase();
            n == "клиенты" || n == "clients"
        })
        .or_else(|| names.first())
        .cloned()
        .ok_or(SheetError::Empty)?;
    let mut warnings = Vec::new();
    if names.len() > 1 {
        warnings.push(format!(
            "Прочитан лист «{chosen}», остальные листы пропущены / read sheet \"{chosen}\", other sheets ignored"
        ));
    }

    // Row number → its cells. Rows stay sparse (see `RawRow::Cells`).
    let mut grid: BTreeMap<u32, Vec<(u32, CellText)>> = BTreeMap::new();
    {
        let mut cells = book.worksheet_cells_reader(&chosen).map_err(unreadable)?;
        // The unzipped-size cap bounds this loop: every cell costs bytes of XML.
        while let Some(cell) = cells.next_cell().map_err(unreadable)? {
            let (row, col) = cell.get_position();
            if col >= MAX_COLUMNS {
                continue;
            }
            let Some(value) = cell_text(cell.get_value()) else {
                continue;
            };
            if matches!(&value, Ok(s) if s.trim().is_empty()) {
                continue;
            }
            if !grid.contains_key(&row) && grid.len() > limits.max_rows {
                // Header plus max_rows data rows are already held.
                return Err(SheetError::TooManyRows {
                    limit: limits.max_rows,
                });
            }
            grid.entry(row).or_default().push((col, value));
        }
    }

    let mut rows_iter = grid.into_iter();
    let Some((_, header_cells)) = rows_iter.next() else {
        return Err(SheetError::Empty);
    };
    let width = header_cells
        .iter()
        .map(|(c, _)| *c as usize + 1)
        .max()
        .unwrap_or(0);
    let mut headers = vec![String::new(); width];
    for (c, v) in header_cells {
        if let (Some(slot), Ok(text)) = (headers.get_mut(c as usize), v) {
            *slot = text;
        }
    }

    let mut rows = Vec::new();
    for (row, row_cells) in rows_iter {
        let mut cells = Vec::with_capacity(row_cells.len());
        let mut cell_errors = Vec::new();
        for (c, v) in row_cells {
            match v {
                Ok(text) => cells.push((c as usize, text)),
                Err(e) => cell_errors.push((c as usize, e)),
            }
        }
        // The XML lists cells left to right, but a hand-made file need not.
        cells.sort_by_key(|(c, _)| *c);
        cells.dedup_by_key(|(c, _)| *c);
        rows.push(RawRow::Cells {
            line: row as usize + 1,
            cells,
            cell_errors,
        });
    }
    Ok(RawSheet {
        headers,
        rows,
        warnings,
    })
}

fn unreadable(e: calamine::XlsxError) -> SheetError {
    SheetError::XlsxUnreadable {
        reason: e.to_string(),
    }
}

fn zip_unreadable(e: zip::result::ZipError) -> SheetError {
    SheetError::XlsxUnreadable {
        reason: e.to_string(),
    }
}

/// Unpacks every part once, counting real bytes (the sizes a zip declares can lie),
/// and stops as soon as the total passes `limit`. calamine reads whole parts into
/// memory, so without this a small upload could exhaust memory.
fn check_unzipped_size(bytes: &[u8], limit: u64) -> Result<(), SheetError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_unreadable)?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(SheetError::XlsxUnreadable {
            reason: format!("{} parts in the archive", archive.len()),
        });
    }
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(zip_unreadable)?;
        let allowance = limit.saturating_sub(total).saturating_add(1);
        let read =
            std::io::copy(&mut entry.take(allowance), &mut std::io::sink()).map_err(|e| {
                SheetError::XlsxUnreadable {
                    reason: e.to_string(),
                }
            })?;
        total = total.saturating_add(read);
        if total > limit {
            return Err(SheetError::UnzippedTooLarge { limit });
        }
    }
    Ok(())
}

/// A cell as the text a person sees; `None` for empty, `Err` for an Excel error value.
fn cell_text(v: &DataRef<'_>) -> Option<CellText> {
    let text = match v {
        DataRef::Empty => return None,
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        // Spelled so the boolean column parser reads it back.
        DataRef::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        DataRef::DateTime(d) if d.is_datetime() => excel_date_text(d.as_f64()),
        DataRef::DateTime(d) => number_text(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => return Some(Err(e.to_string())),
    };
    Some(Ok(text))
}

/// An Excel serial date (1900 system) as `YYYY-MM-DD`, or `YYYY-MM-DD HH:MM` when it has
/// a time. Workbooks in the rare 1904 system come out four years early; calamine does
/// not expose the flag without its chrono feature.
fn excel_date_text(serial: f64) -> String {
    // 1899-12-30 is day 0 once Excel's phantom 1900-02-29 is accounted for.
    const EPOCH_JULIAN: i32 = 2_415_019;
    if !serial.is_finite() || !(0.0..=2_958_466.0).contains(&serial) {
        return number_text(serial);
    }
    let days = serial.floor();
    // In range by the check above, so the cast cannot truncate.
    let Some(date) = i32::try_from(days as i64)
        .ok()
        .and_then(|d| time::Date::from_julian_day(EPOCH_JULIAN + d).ok())
    else {
        return number_text(serial);
    };
    let ymd = format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let minutes = ((serial - days) * 24.0 * 60.0).round() as i64;
    if minutes == 0 || minutes >= 24 * 60 {
        ymd
    } else {
        format!("{ymd} {:02}:{:02}", minutes / 60, minutes % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_serials_become_iso_dates() {
        assert_eq!(excel_date_text(45_306.0), "2024-01-15");
        assert_eq!(excel_date_text(45_306.5), "2024-01-15 12:00");
        assert_eq!(excel_date_text(61.0), "1900-03-01");
    }
}
