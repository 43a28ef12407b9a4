//! Exports: a typed table becomes CSV or XLSX bytes that a Russian Excel opens as is.

use rust_xlsxwriter::{ExcelDateTime, Format as XlsxFormat, Workbook};
use serde::Serialize;

use crate::error::SheetError;
use crate::raw::number_text;

/// One exported cell.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Cell {
    /// Free text.
    Text(String),
    /// A number (written as a number, not text, so Excel can sum it).
    Number(f64),
    /// A calendar date, `YYYY-MM-DD`; anything else is written as text.
    Date(String),
    /// Yes/no.
    Bool(bool),
    /// Nothing.
    Empty,
}

/// A table to export: one header row, then rows of cells.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Table {
    /// Column titles, in the language of the reader.
    pub headers: Vec<String>,
    /// Rows; a short row is padded with empty cells.
    pub rows: Vec<Vec<Cell>>,
}

/// Writes CSV for Russian Excel: UTF-8 with BOM (without it Excel shows Cyrillic as
/// mojibake), `;` between fields and a decimal comma (Russian Excel's list and decimal
/// separators, so a double-click opens it in columns with numbers as numbers), CRLF line
/// ends, dates as `YYYY-MM-DD`, booleans as «да»/«нет».
///
/// Text starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` so Excel shows it
/// instead of running it as a formula (OWASP "CSV injection").
pub fn write_csv(table: &Table) -> Vec<u8> {
    // Writing into a Vec cannot fail, and `flexible` turns off the only other csv error
    // (rows of unequal length); an empty Vec is the worst case should that ever change.
    csv_bytes(table).unwrap_or_default()
}

fn csv_bytes(table: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(csv::Terminator::CRLF)
            .flexible(true)
            .from_writer(&mut out);
        let headers: Vec<String> = table.headers.iter().map(|h| guard_formula(h)).collect();
        w.write_record(&headers)?;
        for row in &table.rows {
            let mut fields: Vec<String> = row.iter().map(csv_field).collect();
            if fields.len() < table.headers.len() {
                fields.resize(table.headers.len(), String::new());
            }
            w.write_record(&fields)?;
        }
        w.flush()?;
    }
    Ok(out)
}

fn csv_field(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => guard_formula(s),
        Cell::Number(n) => number_text(*n).replace('.', ","),
        Cell::Date(d) => guard_formula(d),
        Cell::Bool(true) => "да".to_owned(),
        Cell::Bool(false) => "нет".to_owned(),
        Cell::Empty => String::new(),
    }
}

/// Prefixes `'` to text Excel would read as a formula.
fn guard_formula(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Widest autofitted column, in pixels (about 60 characters): long notes would otherwise
/// make a column wider than the screen.
const MAX_COLUMN_WIDTH_PX: u32 = 420;

/// Writes an XLSX workbook with one sheet: bold, frozen header row; numbers as numbers,
/// dates as real dates shown `dd.mm.yyyy` (Russian style), booleans as booleans;
/// columns fitted to their content.
///
/// Text cells are stored as strings, never formulas, so no injection guard is needed.
/// Fails on a sheet name Excel refuses (over 31 characters, or one of `[]:*?/\`) and on
/// a text longer than Excel's 32,767 characters a cell.
pub fn write_xlsx(table: &Table, sheet_name: &str) -> Result<Vec<u8>, SheetError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name).map_err(write_error)?;
    let bold = XlsxFormat::new().set_bold();
    let date_format = XlsxFormat::new().set_num_format("dd.mm.yyyy");
    for (c, h) in table.headers.iter().enumerate() {
        sheet
            .write_string_with_format(0, col(c)?, h, &bold)
            .map_err(write_error)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| too_many_rows())?;
        for (c, cell) in row.iter().enumerate() {
            let c = col(c)?;
            match cell {
                Cell::Text(s) => sheet.write_string(r, c, s).map(|_| ()),
                Cell::Number(n) => sheet.write_number(r, c, *n).map(|_| ()),
                Cell::Date(d) => match ExcelDateTime::parse_from_str(d) {
                    Ok(dt) => sheet
                        .write_datetime_with_format(r, c, &dt, &date_format)
                        .map(|_| ()),
                    // A malformed date is still shown, as the text it is.
                    Err(_) => sheet.write_string(r, c, d).map(|_| ()),
                },
                Cell::Bool(b) => sheet.write_boolean(r, c, *b).map(|_| ()),
                Cell::Empty => Ok(()),
            }
            .map_err(write_error)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(write_error)?;
    sheet.set_autofit_max_width(MAX_COLUMN_WIDTH_PX);
    sheet.autofit();
    book.save_to_buffer().map_err(write_error)
}

fn col(c: usize) -> Result<u16, SheetError> {
    u16::try_from(c).map_err(|_| SheetError::XlsxWrite {
        reason: format!("{c} columns is more than Excel allows"),
    })
}

fn too_many_rows() -> SheetError {
    SheetError::XlsxWrite {
        reason: "more rows than Excel allows".to_owned(),
    }
}

fn write_error(e: rust_xlsxwriter::XlsxError) -> SheetError {
    SheetError::XlsxWrite {
        reason: e.to_string(),
    }
}
