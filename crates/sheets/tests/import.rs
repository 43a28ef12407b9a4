//! Client import from CSV and XLSX as a programme lead would upload it.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rapport_domain::{Segment, Strength};
use rapport_sheets::{Format, ImportReport, Limits, SheetError, read_clients};
use rstest::rstest;
use rust_xlsxwriter::{ExcelDateTime, Workbook};

fn csv(text: &str) -> ImportReport {
    read_clients(text.as_bytes(), Format::Csv, &Limits::default()).expect("file accepted")
}

fn csv_err(bytes: &[u8], limits: &Limits) -> SheetError {
    read_clients(bytes, Format::Csv, limits).expect_err("file refused")
}

/// A value an in-test workbook cell holds.
enum X<'a> {
    S(&'a str),
    N(f64),
    B(bool),
    D(u16, u8, u8),
}

fn workbook(sheets: &[(&str, &[&[X]])]) -> Vec<u8> {
    let mut book = Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match v {
                    X::S(s) => {
                        sheet.write_string(r, c, *s).unwrap();
                    }
                    X::N(n) => {
                        sheet.write_number(r, c, *n).unwrap();
                    }
                    X::B(b) => {
                        sheet.write_boolean(r, c, *b).unwrap();
                    }
                    X::D(y, m, d) => {
                        let fmt = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
                        let dt = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                        sheet.write_datetime_with_format(r, c, &dt, &fmt).unwrap();
                    }
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

// ---------------------------------------------------------------- happy paths

#[test]
fn russian_headers_fill_every_field() {
    let r = csv(
        "Компания;Сегмент;Исходный менеджер;Отношения;Монополизирован;ФИО контакта;Должность;Телефон;Почта;Примечания\n\
         ООО «Ромашка» 🌼;ключевой частный; ivanov@rapport.ru ;отличные;да;Пётр Сидоров;Директор;+7 916 000-00-00;petr@romashka.ru;Звонить после обеда\n",
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let c = &r.rows[0];
    assert_eq!(c.line, 2);
    assert_eq!(c.company, "ООО «Ромашка» 🌼");
    assert_eq!(c.segment, Segment::KeyPrivate);
    assert_eq!(c.original_rep.as_deref(), Some("ivanov@rapport.ru"));
    assert_eq!(c.relationship, Strength::Excellent);
    assert!(c.monopolised);
    let contact = c.contact.as_ref().expect("contact");
    assert_eq!(contact.name, "Пётр Сидоров");
    assert_eq!(contact.role, "Директор");
    assert_eq!(contact.phone, "+7 916 000-00-00");
    assert_eq!(contact.email, "petr@romashka.ru");
    assert_eq!(c.notes, "Звонить после обеда");
}

#[test]
fn english_headers_in_any_order_and_case_with_defaults_for_empty_cells() {
    let r =
        csv("Notes,  COMPANY ,Segment,Relationship,Monopolised,Rep\nпросто заметка,Альфа,,,,\n");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let c = &r.rows[0];
    assert_eq!(c.company, "Альфа");
    assert_eq!(c.notes, "просто заметка");
    assert_eq!(c.segment, Segment::Corporate);
    assert_eq!(c.relationship, Strength::Unknown);
    assert!(!c.monopolised);
    assert_eq!(c.original_rep, None);
    assert_eq!(c.contact, None);
}

#[rstest]
#[case("корпоративный", Segment::Corporate)]
#[case("Corporate", Segment::Corporate)]
#[case("", Segment::Corporate)]
#[case("Ключевой  частный", Segment::KeyPrivate)]
#[case("частный", Segment::KeyPrivate)]
#[case("key_private", Segment::KeyPrivate)]
#[case("PRIVATE", Segment::KeyPrivate)]
fn segment_values(#[case] value: &str, #[case] expected: Segment) {
    let r = csv(&format!("Компания;Сегмент\nБета;{value}\n"));
    assert_eq!(r.rows[0].segment, expected, "{:?}", r.errors);
}

#[rstest]
#[case("отличные", Strength::Excellent)]
#[case("Хорошие", Strength::Good)]
#[case("слабые", Strength::Weak)]
#[case("неизвестно", Strength::Unknown)]
#[case("excellent", Strength::Excellent)]
#[case("good", Strength::Good)]
#[case("WEAK", Strength::Weak)]
#[case("", Strength::Unknown)]
fn relationship_values(#[case] value: &str, #[case] expected: Strength) {
    let r = csv(&format!("Компания;Отношения\nБета;{value}\n"));
    assert_eq!(r.rows[0].relationship, expected, "{:?}", r.errors);
}

#[rstest]
#[case("да", true)]
#[case("Нет", false)]
#[case("yes", true)]
#[case("no", false)]
#[case("TRUE", true)]
#[case("false", false)]
#[case("1", true)]
#[case("0", false)]
#[case("x", true)]
#[case("х", true)] // Cyrillic, typed on a Russian layout
#[case("ИСТИНА", true)] // Russian Excel's TRUE
#[case("ЛОЖЬ", false)]
#[case("", false)]
fn boolean_values(#[case] value: &str, #[case] expected: bool) {
    let r = csv(&format!("Компания;Монополизирован\nБета;{value}\n"));
    assert_eq!(r.rows[0].monopolised, expected, "{:?}", r.errors);
}

// ---------------------------------------------------------------- row errors

/// Every row-level error kind: a good row stays, the bad one (Excel row 3) is reported
/// with its column.
#[rstest]
#[case::empty_company(
    "Компания;Сегмент",
    "  ;корпоративный",
    "empty_company",
    Some("Компания")
)]
#[case::unknown_segment(
    "Компания;Сегмент",
    "Гамма;госсектор",
    "unknown_segment",
    Some("Сегмент")
)]
#[case::unknown_relationship(
    "Компания;Отношения",
    "Гамма;прекрасные",
    "unknown_relationship",
    Some("Отношения")
)]
#[case::invalid_boolean(
    "Компания;Монополизирован",
    "Гамма;может быть",
    "invalid_boolean",
    Some("Монополизирован")
)]
#[case::invalid_email(
    "Компания;ФИО контакта;E-mail",
    "Гамма;Иван;иван.пример.рф",
    "invalid_email",
    Some("E-mail")
)]
#[case::contact_without_name(
    "Компания;Контакт;Телефон",
    "Гамма;;+7 916 000-00-00",
    "contact_name_missing",
    Some("Контакт")
)]
#[case::wrong_field_count(
    "Компания;Сегмент",
    "Гамма;корпоративный;лишнее",
    "wrong_field_count",
    None
)]
fn row_error_is_reported_and_good_rows_stay(
    #[case] header: &str,
    #[case] bad_row: &str,
    #[case] code: &str,
    #[case] column: Option<&str>,
) {
    let cols = header.split(';').count();
    let good = format!("Альфа{}", ";".repeat(cols - 1));
    let r = csv(&format!("{header}\n{good}\n{bad_row}\n"));
    assert_eq!(r.rows.len(), 1, "{:?}", r.errors);
    assert_eq!(r.rows[0].company, "Альфа");
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let e = &r.errors[0];
    assert_eq!((e.line, e.code, e.column.as_deref()), (3, code, column));
    assert!(!e.message.is_empty() && !e.message_en.is_empty());
}

#[test]
fn unknown_value_errors_list_the_accepted_values() {
    let r =
        csv("Компания;Сегмент;Отношения;Монополизирован\nГамма;госсектор;прекрасные;наверное\n");
    let msg = |code: &str| {
        r.errors
            .iter()
            .find(|e| e.code == code)
            .map(|e| e.message.clone())
    };
    assert!(msg("unknown_segment").unwrap().contains("корпоративный"));
    assert!(msg("unknown_segment").unwrap().contains("госсектор"));
    assert!(msg("unknown_relationship").unwrap().contains("хорошие"));
    assert!(msg("invalid_boolean").unwrap().contains("«да»"));
    // One row, three problems: all reported, the row not imported.
    assert_eq!(r.errors.len(), 3);
    assert!(r.rows.is_empty());
}

#[test]
fn duplicate_company_is_case_and_space_insensitive_and_names_the_first_line() {
    let r = csv("Компания\nООО Ромашка\nБета\n  ооо   РОМАШКА \n");
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.errors.len(), 1);
    let e = &r.errors[0];
    assert_eq!((e.line, e.code), (4, "duplicate_company"));
    assert!(e.message.contains("строке 2"), "{}", e.message);
    assert!(e.message_en.contains("line 2"), "{}", e.message_en);
}

/// Length is counted in characters: 500 Cyrillic letters (1,000 bytes) or 500 emoji
/// (2,000 bytes) pass, 501 do not.
#[rstest]
#[case("ж", 500, true)]
#[case("ж", 501, false)]
#[case("🌼", 500, true)]
#[case("🌼", 501, false)]
fn field_length_is_counted_in_characters(
    #[case] ch: &str,
    #[case] n: usize,
    #[case] accepted: bool,
) {
    let r = csv(&format!("Компания;Примечания\nАльфа;{}\n", ch.repeat(n)));
    assert_eq!(r.rows.len() == 1, accepted, "{:?}", r.errors);
    if !accepted {
        assert_eq!(r.errors[0].code, "field_too_long");
        assert_eq!(r.errors[0].column.as_deref(), Some("Примечания"));
    }
}

#[test]
fn all_bad_file_imports_nothing_and_lists_every_error() {
    let r =
        csv("Компания;Сегмент;Почта\n;;\nАльфа;госсектор;\nБета;;нет-почты\nАльфа;;\nГамма;;;\n");
    assert!(r.rows.is_empty());
    let got: Vec<(usize, &str)> = r.errors.iter().map(|e| (e.line, e.code)).collect();
    assert_eq!(
        got,
        vec![
            (3, "unknown_segment"),
            (4, "invalid_email"),
            (4, "contact_name_missing"),
            (5, "duplicate_company"),
            (6, "wrong_field_count"),
        ]
    );
}

// ---------------------------------------------------------------- text shapes

fn utf8(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}
fn utf8_bom(s: &str) -> Vec<u8> {
    [b"\xEF\xBB\xBF".as_slice(), s.as_bytes()].concat()
}
fn cp1251(s: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(s);
    assert!(!unmappable);
    bytes.into_owned()
}
fn utf16le_bom(s: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[rstest]
#[case::utf8(utf8)]
#[case::utf8_with_bom(utf8_bom)]
#[case::windows_1251(cp1251)]
#[case::utf16le_with_bom(utf16le_bom)]
fn encodings_from_russian_excel(#[case] encode: fn(&str) -> Vec<u8>) {
    let text = "Компания;Отношения;Примечания\r\nООО «Ёлка»;хорошие;Заметка про ёжика\r\n";
    let bytes = encode(text);
    assert_eq!(
        Format::detect(Some("клиенты.csv"), &bytes),
        Some(Format::Csv)
    );
    let r = read_clients(&bytes, Format::Csv, &Limits::default()).unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.rows[0].company, "ООО «Ёлка»");
    assert_eq!(r.rows[0].relationship, Strength::Good);
    assert_eq!(r.rows[0].notes, "Заметка про ёжика");
}

#[rstest]
#[case::semicolon(";")]
#[case::comma(",")]
#[case::tab("\t")]
fn delimiters_are_sniffed_from_the_header(#[case] d: &str) {
    let text = format!(
        "Компания{d}Сегмент{d}Примечания\r\n\"ООО{d} Ромашка\"{d}частный{d}\"первая строка\nвторая{d} с разделителем и \"\"кавычками\"\"\"\r\n\r\nБета{d}{d}\r\nГамма\r\n"
    );
    let r = csv(&text);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.rows[0].company, format!("ООО{d} Ромашка"));
    assert_eq!(r.rows[0].segment, Segment::KeyPrivate);
    assert_eq!(
        r.rows[0].notes,
        format!("первая строка\nвторая{d} с разделителем и \"кавычками\"")
    );
    // The multi-line cell is one Excel row, the blank line another: Бета is on Excel
    // row 4 (text line 5), the short row after it on row 5.
    assert_eq!(r.rows[1].line, 4);
    assert_eq!(
        (r.errors[0].line, r.errors[0].code),
        (5, "wrong_field_count")
    );
}

#[rstest]
#[case::lf("\n")]
#[case::crlf("\r\n")]
// Excel for Mac's "CSV (Macintosh)": CR alone (found by fuzz/sheets_import: every row
// got line 2, so errors pointed at the wrong rows).
#[case::cr("\r")]
fn blank_lines_are_skipped_but_still_count_as_excel_rows(#[case] nl: &str) {
    let r = csv(&"Компания;Сегмент\n\nАльфа;\n;\n \nБета;госсектор\n".replace('\n', nl));
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0].line, 3);
    assert_eq!((r.errors[0].line, r.errors[0].code), (6, "unknown_segment"));
}

#[test]
fn cr_line_endings_give_each_row_its_own_line_also_after_a_multi_line_cell() {
    let r = csv(
        "Компания;Примечания\rООО «Ромашка»;\"первая\rвторая\"\rБета 🚀;\rооо  «ромашка»;дубль\r",
    );
    let lines: Vec<usize> = r.rows.iter().map(|c| c.line).collect();
    assert_eq!(lines, [2, 3]);
    assert_eq!(r.rows[0].notes, "первая\rвторая");
    assert_eq!(
        (r.errors[0].line, r.errors[0].code),
        (4, "duplicate_company")
    );
    assert!(
        r.errors[0].message_en.contains("line 2"),
        "{}",
        r.errors[0].message_en
    );
}

#[test]
fn unknown_columns_are_ignored_with_a_warning_naming_them() {
    let r = csv("Компания;ИНН;Сегмент;Регион\nАльфа;7701234567;;Москва\n");
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("«ИНН»"));
    assert!(r.warnings[1].contains("«Регион»"));
}

// ---------------------------------------------------------------- file-level errors

#[rstest]
#[case::nothing(b"".as_slice(), "empty_file")]
#[case::only_bom(b"\xEF\xBB\xBF".as_slice(), "empty_file")]
#[case::only_blank_lines(b" \r\n\r\n;;\r\n".as_slice(), "empty_file")]
#[case::header_only("Компания;Сегмент\n".as_bytes(), "no_data_rows")]
#[case::binary(b"\x00\x01\x02\x03garbage".as_slice(), "unrecognised_format")]
fn file_level_errors(#[case] bytes: &[u8], #[case] code: &str) {
    assert_eq!(csv_err(bytes, &Limits::default()).code(), code);
}

#[test]
fn missing_company_column_lists_the_headers_found() {
    let e = csv_err("Фирма;Сегмент\nАльфа;\n".as_bytes(), &Limits::default());
    assert_eq!(e.code(), "no_company_column");
    assert!(
        e.message_ru().contains("Фирма, Сегмент"),
        "{}",
        e.message_ru()
    );
    assert!(e.to_string().contains("Фирма, Сегмент"), "{e}");
}

#[test]
fn size_limit_refuses_before_reading() {
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let text = format!("Компания\n{}\n", "Альфа\n".repeat(20));
    let e = csv_err(text.as_bytes(), &limits);
    assert_eq!(
        e,
        SheetError::TooLarge {
            size: text.len(),
            limit: 100
        }
    );
    assert_eq!(Limits::default().max_bytes, 10 * 1024 * 1024);
    assert_eq!(Limits::default().max_rows, 50_000);
}

#[test]
fn row_limit_counts_client_rows_only() {
    let limits = Limits {
        max_rows: 3,
        ..Limits::default()
    };
    let ok = "Компания\nА\n\nБ\nВ\n";
    assert_eq!(
        read_clients(ok.as_bytes(), Format::Csv, &limits)
            .unwrap()
            .rows
            .len(),
        3
    );
    let e = csv_err(format!("{ok}Г\n").as_bytes(), &limits);
    assert_eq!(e, SheetError::TooManyRows { limit: 3 });
}

/// A list at the row limit imports whole, and quickly enough for a request handler.
#[test]
fn list_at_the_row_limit_imports_in_time() {
    let mut text = String::from("Компания;Сегмент;Отношения;Контакт;Почта;Примечания\r\n");
    for i in 0..50_000 {
        text.push_str(&format!(
            "ООО «Клиент №{i}» 🌼;корпоративный;хорошие;Иван Петров;info{i}@клиент.рф;заметка\r\n"
        ));
    }
    assert!(text.len() < Limits::default().max_bytes);
    let started = Instant::now();
    let r = csv(&text);
    let took = started.elapsed();
    assert_eq!(r.rows.len(), 50_000, "{:?}", r.errors.first());
    assert_eq!(r.rows[49_999].line, 50_001);
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn header_wider_than_excel_is_refused() {
    let text = format!("Компания{}\nАльфа\n", ";".repeat(20_000));
    assert_eq!(
        csv_err(text.as_bytes(), &Limits::default()),
        SheetError::TooManyColumns { limit: 16_384 }
    );
}

#[rstest]
#[case(Some("clients.xlsx"), b"PK\x03\x04rest".as_slice(), Some(Format::Xlsx))]
#[case(Some("clients.csv"), b"PK\x03\x04rest".as_slice(), Some(Format::Xlsx))]
#[case(None, "Компания\n".as_bytes(), Some(Format::Csv))]
#[case(Some("Клиенты.CSV"), "Компания\n".as_bytes(), Some(Format::Csv))]
#[case(Some("clients.xlsx"), "Компания\n".as_bytes(), None)]
#[case(Some("old.xls"), b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".as_slice(), None)]
#[case(None, b"\x00\x00\x00\x00".as_slice(), None)]
fn format_detection(
    #[case] name: Option<&str>,
    #[case] bytes: &[u8],
    #[case] expected: Option<Format>,
) {
    assert_eq!(Format::detect(name, bytes), expected);
}

// ---------------------------------------------------------------- XLSX

#[test]
fn xlsx_bad_row_is_reported_with_its_row_and_good_rows_are_imported() {
    let rows: &[&[X]] = &[
        &[
            X::S("Компания"),
            X::S("Сегмент"),
            X::S("Монополизирован"),
            X::S("Контакт"),
            X::S("Телефон"),
            X::S("Примечания"),
        ],
        &[
            X::S("ООО «Ромашка» 🌼"),
            X::S("частный"),
            X::B(true),
            X::S("Пётр"),
            X::N(79_161_234_567.0),
            X::D(2024, 1, 15),
        ],
        &[X::S("АО «Бета»"), X::S("госсектор")],
        &[X::S("ИП Гамма"), X::S(""), X::N(0.0)],
    ];
    let bytes = workbook(&[("Лист1", rows)]);
    assert_eq!(
        Format::detect(Some("клиенты.xlsx"), &bytes),
        Some(Format::Xlsx)
    );
    let r = read_clients(&bytes, Format::Xlsx, &Limits::default()).unwrap();
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!((r.errors[0].line, r.errors[0].code), (3, "unknown_segment"));
    assert_eq!(r.errors[0].column.as_deref(), Some("Сегмент"));
    assert_eq!(r.rows.len(), 2);
    let first = &r.rows[0];
    assert_eq!(
        (first.line, first.company.as_str()),
        (2, "ООО «Ромашка» 🌼")
    );
    assert_eq!(first.segment, Segment::KeyPrivate);
    assert!(first.monopolised);
    assert_eq!(first.contact.as_ref().unwrap().phone, "79161234567");
    assert_eq!(first.notes, "2024-01-15");
    let third = &r.rows[1];
    assert_eq!((third.line, third.monopolised), (4, false));
}

#[test]
fn xlsx_values_far_right_cost_nothing_and_are_ignored() {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "Компания").unwrap();
    sheet.write_string(0, 16_383, "Мусор").unwrap();
    for r in 1..=2_000u32 {
        sheet.write_string(r, 0, format!("Компания №{r}")).unwrap();
        sheet.write_string(r, 16_383, "ж").unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    // The anchor: the same rows without the far-right values, read in the same run.
    let mut plain = Workbook::new();
    let plain_sheet = plain.add_worksheet();
    plain_sheet.write_string(0, 0, "Компания").unwrap();
    for r in 1..=2_000u32 {
        plain_sheet
            .write_string(r, 0, format!("Компания №{r}"))
            .unwrap();
    }
    let plain = plain.save_to_buffer().unwrap();
    let started = Instant::now();
    read_clients(&plain, Format::Xlsx, &Limits::default()).unwrap();
    let anchor = started.elapsed().max(Duration::from_millis(1));
    let started = Instant::now();
    let r = read_clients(&bytes, Format::Xlsx, &Limits::default()).unwrap();
    let took = started.elapsed();
    assert_eq!(r.rows.len(), 2_000);
    assert_eq!(r.rows[1999].company, "Компания №2000");
    assert!(r.warnings.iter().any(|w| w.contains("«Мусор»")));
    // Filling the 16,000 empty columns between would cost thousands of times more.
    assert!(
        took < anchor * 20,
        "far-right values took {took:?}, the plain sheet {anchor:?}"
    );
}

#[test]
fn xlsx_prefers_the_sheet_named_clients() {
    let other: &[&[X]] = &[&[X::S("Компания")], &[X::S("Не тот лист")]];
    let clients: &[&[X]] = &[&[X::S("Компания")], &[X::S("Альфа")]];
    let bytes = workbook(&[("Сводка", other), ("Клиенты", clients)]);
    let r = read_clients(&bytes, Format::Xlsx, &Limits::default()).unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0].company, "Альфа");
    assert!(
        r.warnings.iter().any(|w| w.contains("«Клиенты»")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn xlsx_limits_on_rows_and_unzipped_size() {
    let rows: &[&[X]] = &[
        &[X::S("Компания")],
        &[X::S("А")],
        &[X::S("Б")],
        &[X::S("В")],
    ];
    let bytes = workbook(&[("Клиенты", rows)]);
    let few_rows = Limits {
        max_rows: 2,
        ..Limits::default()
    };
    assert_eq!(
        read_clients(&bytes, Format::Xlsx, &few_rows).unwrap_err(),
        SheetError::TooManyRows { limit: 2 }
    );
    let tiny_unzip = Limits {
        max_unzipped_bytes: 1_000,
        ..Limits::default()
    };
    assert_eq!(
        read_clients(&bytes, Format::Xlsx, &tiny_unzip)
            .unwrap_err()
            .code(),
        "unzipped_too_large"
    );
}

#[test]
fn xlsx_header_only_and_empty_sheet() {
    let header_only: &[&[X]] = &[&[X::S("Компания")]];
    let bytes = workbook(&[("Клиенты", header_only)]);
    assert_eq!(
        read_clients(&bytes, Format::Xlsx, &Limits::default()).unwrap_err(),
        SheetError::NoDataRows
    );
    let bytes = workbook(&[("Клиенты", &[])]);
    assert_eq!(
        read_clients(&bytes, Format::Xlsx, &Limits::default()).unwrap_err(),
        SheetError::Empty
    );
}

#[rstest]
#[case::truncated_half(|b: &[u8]| b[..b.len() / 2].to_vec())]
#[case::magic_only(|_: &[u8]| b"PK\x03\x04".to_vec())]
#[case::central_directory_lost(|b: &[u8]| b[..b.len() - 30].to_vec())]
#[case::text_as_xlsx(|_: &[u8]| "Компания\nАльфа\n".as_bytes().to_vec())]
fn broken_workbooks_are_refused(#[case] damage: fn(&[u8]) -> Vec<u8>) {
    let rows: &[&[X]] = &[&[X::S("Компания")], &[X::S("Альфа")]];
    let bytes = damage(&workbook(&[("Клиенты", rows)]));
    let e = read_clients(&bytes, Format::Xlsx, &Limits::default()).unwrap_err();
    assert_eq!(e.code(), "xlsx_unreadable", "{e}");
}

// ---------------------------------------------------------------- never panic

fn small_workbook() -> Vec<u8> {
    let rows: &[&[X]] = &[
        &[X::S("Компания"), X::S("Сегмент")],
        &[X::S("Альфа"), X::S("частный")],
    ];
    workbook(&[("Клиенты", rows)])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let started = Instant::now();
        let _ = read_clients(&bytes, Format::Csv, &Limits::default());
        let _ = read_clients(&bytes, Format::Xlsx, &Limits::default());
        let zipped = [b"PK\x03\x04".as_slice(), &bytes].concat();
        let _ = read_clients(&zipped, Format::Xlsx, &Limits::default());
        let _ = Format::detect(Some("x.csv"), &bytes);
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn damaged_workbooks_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut bytes = small_workbook();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = read_clients(&bytes, Format::Xlsx, &Limits::default());
    }

    /// CSV-like text made of the characters that matter (Cyrillic, emoji, delimiters,
    /// quotes, newlines): every reported line lies inside the file.
    #[test]
    fn csv_like_text_reports_lines_inside_the_file(
        body in "[а-яА-Я🌼;,\t\"\r\n ]{0,400}"
    ) {
        let text = format!("Компания;Сегмент\n{body}");
        if let Ok(r) = read_clients(text.as_bytes(), Format::Csv, &Limits::default()) {
            // A lone CR ends a line too (the csv crate splits records there).
            let last = text.replace("\r\n", "\n").replace('\r', "\n").lines().count().max(1);
            for line in r.rows.iter().map(|c| c.line).chain(r.errors.iter().map(|e| e.line)) {
                prop_assert!((2..=last).contains(&line), "line {line} of {last}");
            }
        }
    }
}

/// A list as a Russian CRM exports it: its own headers, one of which is no field.
const CRM: &str = "Наименование клиента;Контактное лицо;Комментарий;Статус сделки\n\
ООО «Ромашка»;Анна Петрова;Давний клиент;в работе\n\
АО «Север»;Олег Смирнов;;закрыта\n";

#[test]
fn a_crm_export_is_read_by_guessing_its_headers_and_says_what_it_skipped() {
    let headers = rapport_sheets::read_headers(CRM.as_bytes(), Format::Csv, &Limits::default())
        .expect("headers read");
    let guesses: Vec<(&str, Option<&str>)> = headers
        .iter()
        .map(|(h, f)| (h.as_str(), f.map(|f| f.wire())))
        .collect();
    assert_eq!(
        guesses,
        [
            ("Наименование клиента", Some("company")),
            ("Контактное лицо", Some("contact_name")),
            ("Комментарий", Some("notes")),
            ("Статус сделки", None),
        ]
    );
    let report = csv(CRM);
    assert_eq!(report.rows.len(), 2);
    assert_eq!(report.rows[0].company, "ООО «Ромашка»");
    assert!(
        report.warnings.iter().any(|w| w.contains("Статус сделки")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn the_leads_column_choice_overrides_the_guess_and_skips_columns_silently() {
    let columns: rapport_sheets::ColumnMap = [
        ("Комментарий".to_owned(), String::new()),
        ("Статус сделки".to_owned(), "notes".to_owned()),
    ]
    .into();
    let report = rapport_sheets::read_clients_with(
        CRM.as_bytes(),
        Format::Csv,
        &Limits::default(),
        &columns,
    )
    .expect("file accepted");
    assert_eq!(report.rows.len(), 2, "{:?}", report.errors);
    assert_eq!(report.rows[0].notes, "в работе");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // A file whose company column has no known name imports once the lead says which.
    let odd = "Юрлицо;Город\nООО «Ромашка»;Москва\n";
    assert!(matches!(
        csv_err(odd.as_bytes(), &Limits::default()),
        SheetError::NoCompanyColumn { .. }
    ));
    let columns: rapport_sheets::ColumnMap = [("Юрлицо".to_owned(), "company".to_owned())].into();
    let report = rapport_sheets::read_clients_with(
        odd.as_bytes(),
        Format::Csv,
        &Limits::default(),
        &columns,
    )
    .expect("file accepted");
    assert_eq!(report.rows[0].company, "ООО «Ромашка»");

    // A field that does not exist is refused by name.
    let columns: rapport_sheets::ColumnMap = [("Юрлицо".to_owned(), "инн".to_owned())].into();
    let err = rapport_sheets::read_clients_with(
        odd.as_bytes(),
        Format::Csv,
        &Limits::default(),
        &columns,
    )
    .expect_err("refused");
    assert_eq!(err.code(), "unknown_field");
    assert!(err.message_ru().contains("Юрлицо"), "{}", err.message_ru());
}
