//! The client import: a header row and cells (from CSV or XLSX) become typed clients
//! and per-row errors.

use std::collections::{BTreeMap, HashMap};

use rapport_domain::{ContactInput, Segment, Strength};
use serde::Serialize;

use crate::error::SheetError;
use crate::raw::{Limits, RawRow, RawSheet, RowError, looks_like_text};
use crate::{csv_in, xlsx_in};
use ClientField as Field;

/// The longest value accepted in one field, in characters (not bytes: Cyrillic is two
/// bytes a letter in UTF-8 and must get the same allowance as Latin).
pub const MAX_FIELD_CHARS: usize = 500;

/// A file format the import reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Delimited text: `;`, `,` or tab; UTF-8, UTF-16 (with BOM) or Windows-1251.
    Csv,
    /// An Excel workbook (Office Open XML).
    Xlsx,
}

impl Format {
    /// Guesses the format from the content, then the file name; `None` means neither.
    ///
    /// The content wins over the name: Excel users rename files freely, and an `.xlsx`
    /// saved as "report.csv" must still be read as a workbook.
    pub fn detect(filename: Option<&str>, bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"PK\x03\x04") {
            return Some(Format::Xlsx);
        }
        let ext = filename
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.trim().to_lowercase());
        // An .xlsx/.xls that is not a zip is an old binary workbook or a broken file:
        // reading it as text would only produce a confusing "no company column".
        if matches!(ext.as_deref(), Some("xlsx" | "xls" | "xlsm" | "ods")) {
            return None;
        }
        if looks_like_text(bytes) {
            Some(Format::Csv)
        } else {
            None
        }
    }
}

/// One client read from the file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportedClient {
    /// The row number as Excel shows it (header = 1).
    pub line: usize,
    /// Company name, trimmed.
    pub company: String,
    /// Segment; empty → corporate.
    pub segment: Segment,
    /// The rep who originally won the client (e-mail or rep id), trimmed.
    pub original_rep: Option<String>,
    /// How good the original rep's relationship is known to be; empty → unknown.
    pub relationship: Strength,
    /// The original rep shields the client from colleagues.
    pub monopolised: bool,
    /// The key contact, when any contact field is filled.
    pub contact: Option<ContactInput>,
    /// Notes, trimmed.
    pub notes: String,
}

/// The outcome of an import: good rows, bad rows, and remarks about the file.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Rows that passed every check, in file order.
    pub rows: Vec<ImportedClient>,
    /// Every problem found, in file order; a row with an error is not in `rows`.
    pub errors: Vec<RowError>,
    /// Remarks that refuse nothing (for example ignored columns), "Russian / English".
    pub warnings: Vec<String>,
}

/// Reads a client list. Never panics; refuses inputs beyond `limits`. Columns are
/// found by their headers ([`ClientField::guess`]).
pub fn read_clients(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<ImportReport, SheetError> {
    read_clients_with(bytes, format, limits, &ColumnMap::new())
}

/// The lead's choice of field per column, by the header as the file writes it: a
/// field's wire name ([`ClientField::wire`]), or `""` to skip the column. Headers not
/// named here are guessed.
pub type ColumnMap = BTreeMap<String, String>;

/// [`read_clients`] with the lead's choice of columns (`columns`).
pub fn read_clients_with(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
    columns: &ColumnMap,
) -> Result<ImportReport, SheetError> {
    let raw = read_raw(bytes, format, limits)?;
    build_report(raw, columns)
}

/// The file's headers, each with the field it would be read into (the lead's mapping
/// step shows them before the import).
pub fn read_headers(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<Vec<(String, Option<ClientField>)>, SheetError> {
    let raw = read_raw(bytes, format, limits)?;
    let mut taken = Vec::new();
    Ok(raw
        .headers
        .iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .map(|h| {
            let guess = ClientField::guess(&h).filter(|f| !taken.contains(f));
            taken.extend(guess);
            (h, guess)
        })
        .collect())
}

fn read_raw(bytes: &[u8], format: Format, limits: &Limits) -> Result<RawSheet, SheetError> {
    if bytes.len() > limits.max_bytes {
        return Err(SheetError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    match format {
        Format::Csv => csv_in::read(bytes, limits),
        Format::Xlsx => xlsx_in::read(bytes, limits),
    }
}

/// A field of a client the import fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientField {
    /// The company's name (the one column a file must have).
    Company,
    /// Corporate or key private.
    Segment,
    /// The rep who won the client.
    OriginalRep,
    /// How good that rep's relationship is.
    Relationship,
    /// Whether that rep keeps colleagues away from the client.
    Monopolised,
    /// The key contact's name.
    ContactName,
    /// The key contact's role.
    ContactRole,
    /// The key contact's phone.
    ContactPhone,
    /// The key contact's e-mail.
    ContactEmail,
    /// Notes on the relationship.
    Notes,
}

const FIELDS: [Field; 10] = [
    Field::Company,
    Field::Segment,
    Field::OriginalRep,
    Field::Relationship,
    Field::Monopolised,
    Field::ContactName,
    Field::ContactRole,
    Field::ContactPhone,
    Field::ContactEmail,
    Field::Notes,
];

impl ClientField {
    /// Every field, in the order a form shows them.
    pub const ALL: [ClientField; 10] = FIELDS;

    /// Accepted headers, already normalised (see [`normalise`]).
    fn headers(self) -> &'static [&'static str] {
        match self {
            Field::Company => &[
                "компания",
                "название",
                "наименование",
                "наименование клиента",
                "клиент",
                "контрагент",
                "организация",
                "company",
                "name",
                "client",
            ],
            Field::Segment => &["сегмент", "segment"],
            Field::OriginalRep => &["менеджер", "исходный менеджер", "original rep", "rep"],
            Field::Relationship => &["отношения", "relationship"],
            Field::Monopolised => &["монополизирован", "monopolised", "monopolized"],
            Field::ContactName => &[
                "контакт",
                "фио контакта",
                "контактное лицо",
                "contact",
                "contact name",
            ],
            Field::ContactRole => &["должность", "role", "contact role"],
            Field::ContactPhone => &["телефон", "phone", "contact phone"],
            Field::ContactEmail => &["email", "e-mail", "почта", "contact email"],
            Field::Notes => &[
                "примечания",
                "заметки",
                "комментарий",
                "комментарии",
                "notes",
            ],
        }
    }

    /// The field a header names, if it names one.
    pub fn guess(header: &str) -> Option<ClientField> {
        let n = normalise(header);
        FIELDS
            .into_iter()
            .find(|f| f.headers().contains(&n.as_str()))
    }

    /// The field's name in the API (`company`, `contact_name`…).
    pub fn wire(self) -> &'static str {
        match self {
            Field::Company => "company",
            Field::Segment => "segment",
            Field::OriginalRep => "original_rep",
            Field::Relationship => "relationship",
            Field::Monopolised => "monopolised",
            Field::ContactName => "contact_name",
            Field::ContactRole => "contact_role",
            Field::ContactPhone => "contact_phone",
            Field::ContactEmail => "contact_email",
            Field::Notes => "notes",
        }
    }

    /// The field of an API name.
    pub fn from_wire(name: &str) -> Option<ClientField> {
        FIELDS.into_iter().find(|f| f.wire() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Case-, space- and ё-insensitive form of a header or a value, so that "  Исходный_
/// менеджер " and "исходный менеджер" match, as do "Неизвёстно" typed either way.
fn normalise(s: &str) -> String {
    s.replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('ё', "е")
}

/// Which header column feeds each field.
struct Columns {
    by_field: [Option<usize>; FIELDS.len()],
    headers: Vec<String>,
}

impl Columns {
    fn map(
        headers: Vec<String>,
        columns: &ColumnMap,
        warnings: &mut Vec<String>,
    ) -> Result<Columns, SheetError> {
        let chosen: HashMap<String, &str> = columns
            .iter()
            .map(|(h, f)| (normalise(h), f.as_str()))
            .collect();
        let mut by_field = [None; FIELDS.len()];
        for (i, h) in headers.iter().enumerate() {
            let n = normalise(h);
            if n.is_empty() {
                continue;
            }
            let field =
                match chosen.get(&n) {
                    // Skipped by the lead: no warning.
                    Some(&"") => continue,
                    Some(name) => Some(ClientField::from_wire(name).ok_or_else(|| {
                        SheetError::UnknownField {
                            header: h.trim().to_owned(),
                            field: (*name).to_owned(),
                        }
                    })?),
                    None => ClientField::guess(h),
                };
            match field {
                Some(f) if by_field[f.index()].is_none() => by_field[f.index()] = Some(i),
                Some(_) => warnings.push(format!(
                    "Столбец «{h}» повторяет уже найденный и пропущен / column \"{h}\" repeats an earlier one and is ignored"
                )),
                None => warnings.push(format!(
                    "Столбец «{h}» не распознан и пропущен / unknown column \"{h}\" is ignored"
                )),
            }
        }
        if by_field[Field::Company.index()].is_none() {
            return Err(SheetError::NoCompanyColumn {
                found: headers
                    .iter()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .collect(),
            });
        }
        Ok(Columns { by_field, headers })
    }

    fn column(&self, f: Field) -> Option<usize> {
        self.by_field[f.index()]
    }

    fn header(&self, f: Field) -> Option<String> {
        self.column(f)
            .and_then(|i| self.headers.get(i))
            .map(|h| h.trim().to_owned())
    }

    fn header_at(&self, i: usize) -> Option<String> {
        self.headers.get(i).map(|h| h.trim().to_owned())
    }

    fn value<'a>(&self, cells: &'a [(usize, String)], f: Field) -> &'a str {
        self.column(f)
            .and_then(|i| cells.binary_search_by_key(&i, |(c, _)| *c).ok())
            .and_then(|k| cells.get(k))
            .map_or("", |(_, s)| s.trim())
    }
}

fn build_report(raw: RawSheet, columns: &ColumnMap) -> Result<ImportReport, SheetError> {
    let mut warnings = raw.warnings;
    let cols = Columns::map(raw.headers, columns, &mut warnings)?;
    if raw.rows.is_empty() {
        return Err(SheetError::NoDataRows);
    }
    let mut report = ImportReport {
        warnings,
        ..ImportReport::default()
    };
    // Company key → the first line it appeared on.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in raw.rows {
        match row {
            RawRow::Broken(e) => report.errors.push(e),
            RawRow::Cells {
                line,
                cells,
                cell_errors,
            } => match check_row(&cols, line, &cells, &cell_errors, &mut seen) {
                Ok(c) => report.rows.push(c),
                Err(mut errs) => report.errors.append(&mut errs),
            },
        }
    }
    Ok(report)
}

fn row_error(
    line: usize,
    column: Option<String>,
    code: &'static str,
    message: String,
    message_en: String,
) -> RowError {
    RowError {
        line,
        column,
        code,
        message,
        message_en,
    }
}

fn check_row(
    cols: &Columns,
    line: usize,
    cells: &[(usize, String)],
    cell_errors: &[(usize, String)],
    seen: &mut HashMap<String, usize>,
) -> Result<ImportedClient, Vec<RowError>> {
    let mut errs = Vec::new();
    for (i, text) in cell_errors {
        // Only cells the import reads matter; an #N/A in an ignored column is harmless.
        if cols.by_field.contains(&Some(*i)) {
            errs.push(row_error(
                line,
                cols.header_at(*i),
                "cell_error",
                format!("В ячейке ошибка Excel {text}: замените её значением"),
                format!("the cell holds the Excel error {text}: replace it with a value"),
            ));
        }
    }
    for f in FIELDS {
        let n = cols.value(cells, f).chars().count();
        if n > MAX_FIELD_CHARS {
            errs.push(row_error(
                line,
                cols.header(f),
                "field_too_long",
                format!("Значение длиной {n} символов, допустимо не больше {MAX_FIELD_CHARS}: сократите его"),
                format!("the value is {n} characters long, at most {MAX_FIELD_CHARS} are allowed: shorten it"),
            ));
        }
    }

    let company = cols.value(cells, Field::Company);
    if company.is_empty() {
        errs.push(row_error(
            line,
            cols.header(Field::Company),
            "empty_company",
            "Не указано название компании: заполните его или удалите строку".to_owned(),
            "the company name is empty: fill it in or delete the row".to_owned(),
        ));
    } else {
        let key = normalise(company);
        match seen.get(&key) {
            Some(&first) => errs.push(row_error(
                line,
                cols.header(Field::Company),
                "duplicate_company",
                format!("Компания «{company}» уже есть в строке {first}: оставьте одну из строк"),
                format!(
                    "the company \"{company}\" is already on line {first}: keep one of the rows"
                ),
            )),
            None => {
                seen.insert(key, line);
            }
        }
    }

    let segment = match normalise(cols.value(cells, Field::Segment)).as_str() {
        "" | "корпоративный" | "corporate" => Some(Segment::Corporate),
        "ключевой частный" | "частный" | "key private" | "private" => {
            Some(Segment::KeyPrivate)
        }
        _ => {
            let v = cols.value(cells, Field::Segment);
            errs.push(row_error(
                line,
                cols.header(Field::Segment),
                "unknown_segment",
                format!("Неизвестный сегмент «{v}»: допустимы «корпоративный», «ключевой частный» (или «частный»), либо пусто"),
                format!("unknown segment \"{v}\": use corporate, key_private (or private), or leave it empty"),
            ));
            None
        }
    };

    let relationship = match normalise(cols.value(cells, Field::Relationship)).as_str() {
        "" | "неизвестно" | "неизвестные" | "unknown" => {
            Some(Strength::Unknown)
        }
        "отличные" | "excellent" => Some(Strength::Excellent),
        "хорошие" | "good" => Some(Strength::Good),
        "слабые" | "weak" => Some(Strength::Weak),
        _ => {
            let v = cols.value(cells, Field::Relationship);
            errs.push(row_error(
                line,
                cols.header(Field::Relationship),
                "unknown_relationship",
                format!("Неизвестная оценка отношений «{v}»: допустимы «отличные», «хорошие», «слабые», «неизвестно», либо пусто"),
                format!("unknown relationship \"{v}\": use excellent, good, weak, unknown, or leave it empty"),
            ));
            None
        }
    };

    let monopolised = match parse_bool(cols.value(cells, Field::Monopolised)) {
        Some(b) => Some(b),
        None => {
            let v = cols.value(cells, Field::Monopolised);
            errs.push(row_error(
                line,
                cols.header(Field::Monopolised),
                "invalid_boolean",
                format!("Непонятное значение «{v}»: допустимы «да», «нет», 1, 0, x, либо пусто"),
                format!(
                    "unclear value \"{v}\": use yes, no, true, false, 1, 0, x, or leave it empty"
                ),
            ));
            None
        }
    };

    let email = cols.value(cells, Field::ContactEmail);
    if !email.is_empty() && !plausible_email(email) {
        errs.push(row_error(
            line,
            cols.header(Field::ContactEmail),
            "invalid_email",
            format!(
                "«{email}» не похоже на адрес почты (нужен вид имя@домен): исправьте или очистите"
            ),
            format!("\"{email}\" is not an e-mail address (name@domain): correct it or clear it"),
        ));
    }

    let contact = ContactInput {
        updates_contact_id: None,
        name: cols.value(cells, Field::ContactName).to_owned(),
        role: cols.value(cells, Field::ContactRole).to_owned(),
        phone: cols.value(cells, Field::ContactPhone).to_owned(),
        email: email.to_owned(),
    };
    let has_contact = !(contact.name.is_empty()
        && contact.role.is_empty()
        && contact.phone.is_empty()
        && contact.email.is_empty());
    // A contact without a name cannot be stored (the client document requires one);
    // refusing here shows the row, instead of failing later with no line to point at.
    if has_contact && contact.name.is_empty() {
        errs.push(row_error(
            line,
            cols.header(Field::ContactName)
                .or_else(|| Some("Контакт".to_owned())),
            "contact_name_missing",
            "У контакта заполнены должность, телефон или почта, но нет ФИО: впишите ФИО или очистите эти поля".to_owned(),
            "the contact has a role, phone or e-mail but no name: fill in the name or clear those fields".to_owned(),
        ));
    }

    match (segment, relationship, monopolised) {
        (Some(segment), Some(relationship), Some(monopolised)) if errs.is_empty() => {
            let rep = cols.value(cells, Field::OriginalRep);
            Ok(ImportedClient {
                line,
                company: company.to_owned(),
                segment,
                original_rep: (!rep.is_empty()).then(|| rep.to_owned()),
                relationship,
                monopolised,
                contact: has_contact.then_some(contact),
                notes: cols.value(cells, Field::Notes).to_owned(),
            })
        }
        _ => Err(errs),
    }
}

/// Yes/no as people type it, including Russian Excel's ИСТИНА/ЛОЖЬ and a Cyrillic "х"
/// typed for "x" on a Russian keyboard layout.
fn parse_bool(v: &str) -> Option<bool> {
    match normalise(v).as_str() {
        "да" | "yes" | "true" | "1" | "x" | "х" | "истина" | "+" => Some(true),
        "" | "нет" | "no" | "false" | "0" | "ложь" | "-" => Some(false),
        _ => None,
    }
}

/// Catches the common slips (a phone in the e-mail column, a missing `@`) without
/// pretending to validate RFC 5322.
fn plausible_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !v.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_folds_case_space_underscore_and_yo() {
        assert_eq!(normalise("  Исходный_  МЕНЕДЖЕР "), "исходный менеджер");
        assert_eq!(normalise("Неизвёстно"), "неизвестно");
    }

    #[test]
    fn email_needs_both_sides_of_one_at() {
        assert!(plausible_email("иван@пример.рф"));
        assert!(!plausible_email("иван.пример.рф"));
        assert!(!plausible_email("@пример.рф"));
        assert!(!plausible_email("иван@"));
        assert!(!plausible_email("a@b@c"));
        assert!(!plausible_email("иван петров@пример.рф"));
    }
}
