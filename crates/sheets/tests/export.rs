//! Exports as the lead opens them: CSV and XLSX read back give the same values.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};
use rapport_sheets::{Cell, Format, Limits, Table, read_clients, write_csv, write_xlsx};
use rstest::rstest;

/// Text that breaks naive writers: Cyrillic, emoji, quotes, the delimiter, newlines.
const TRICKY: [&str; 6] = [
    "ООО «Ромашка»",
    "Смайлик 🌼 и 👍🏽",
    "кавычки \"внутри\" текста",
    "точка; с запятой, и запятая",
    "первая строка\nвторая строка\r\nтретья",
    "",
];

fn tricky_table() -> Table {
    Table {
        headers: vec![
            "Компания".into(),
            "Баллы".into(),
            "Дата визита".into(),
            "Качество в норме".into(),
            "Пусто".into(),
        ],
        rows: TRICKY
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    Cell::Text((*t).to_owned()),
                    Cell::Number(i as f64 + 0.5),
                    Cell::Date(format!("2024-0{}-1{}", i + 1, i)),
                    Cell::Bool(i % 2 == 0),
                    Cell::Empty,
                ]
            })
            .collect(),
    }
}

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("UTF-8 BOM first");
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(body);
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn csv_round_trip_keeps_every_value() {
    let table = tricky_table();
    let rows = read_csv(&write_csv(&table));
    assert_eq!(rows.len(), TRICKY.len() + 1);
    assert_eq!(rows[0], table.headers);
    for (i, t) in TRICKY.iter().enumerate() {
        let row = &rows[i + 1];
        assert_eq!(row[0], *t);
        // Decimal comma for Russian Excel.
        assert_eq!(row[1], format!("{i},5"));
        assert_eq!(row[2], format!("2024-0{}-1{}", i + 1, i));
        assert_eq!(row[3], if i % 2 == 0 { "да" } else { "нет" });
        assert_eq!(row[4], "");
    }
}

#[test]
fn csv_uses_semicolons_crlf_and_whole_numbers_without_fraction() {
    let table = Table {
        headers: vec!["Клиент".into(), "Визитов".into()],
        rows: vec![
            vec![Cell::Text("Альфа".into()), Cell::Number(42.0)],
            vec![Cell::Text("Бета".into())],
        ],
    };
    let text = String::from_utf8(write_csv(&table)).unwrap();
    // A short row is padded so columns line up in Excel.
    assert_eq!(text, "\u{FEFF}Клиент;Визитов\r\nАльфа;42\r\nБета;\r\n");
}

/// OWASP CSV injection: anything Excel would evaluate starts with `'` instead.
#[rstest]
#[case("=СУММ(A1:A9)", "'=СУММ(A1:A9)")]
#[case("+7 916 000-00-00", "'+7 916 000-00-00")]
#[case("-1+1", "'-1+1")]
#[case("@SUM(1)", "'@SUM(1)")]
#[case(
    "=HYPERLINK(\"http://evil\";\"жми\")",
    "'=HYPERLINK(\"http://evil\";\"жми\")"
)]
#[case("Ромашка = хорошо", "Ромашка = хорошо")]
#[case("🌼=1", "🌼=1")]
fn csv_formula_injection_is_neutralised(#[case] text: &str, #[case] written: &str) {
    let table = Table {
        headers: vec!["Примечание".into()],
        rows: vec![vec![Cell::Text(text.into())]],
    };
    let rows = read_csv(&write_csv(&table));
    assert_eq!(rows[1][0], written);
}

fn read_xlsx(bytes: &[u8]) -> (Vec<String>, Vec<Vec<Data>>) {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    let names = book.sheet_names();
    let range = book.worksheet_range(&names[0]).unwrap();
    let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
    (names, rows)
}

#[test]
fn xlsx_round_trip_keeps_types_and_values() {
    let table = tricky_table();
    let bytes = write_xlsx(&table, "Визиты").unwrap();
    let (names, rows) = read_xlsx(&bytes);
    assert_eq!(names, vec!["Визиты".to_owned()]);
    let headers: Vec<String> = rows[0].iter().map(|d| d.to_string()).collect();
    assert_eq!(headers[..4], table.headers[..4]);
    for (i, t) in TRICKY.iter().enumerate() {
        let row = &rows[i + 1];
        if t.is_empty() {
            // Excel keeps no empty strings: the cell reads back as blank.
            assert!(matches!(&row[0], Data::Empty) || row[0] == Data::String(String::new()));
        } else {
            assert_eq!(row[0], Data::String((*t).to_owned()));
        }
        assert_eq!(row[1], Data::Float(i as f64 + 0.5));
        match &row[2] {
            Data::DateTime(d) => {
                assert!(d.is_datetime());
                // 2024-01-10 is Excel serial 45301; later rows are later dates.
                if i == 0 {
                    assert_eq!(d.as_f64(), 45_301.0);
                }
            }
            other => panic!("date cell read back as {other:?}"),
        }
        assert_eq!(row[3], Data::Bool(i % 2 == 0));
    }
}

#[test]
fn xlsx_header_is_bold_and_frozen() {
    let bytes = write_xlsx(&tricky_table(), "Визиты").unwrap();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.as_slice())).unwrap();
    let styles = book.worksheet_style("Визиты").unwrap();
    let bold = |r, c| {
        styles
            .get((r, c))
            .and_then(|s| s.font.as_ref())
            .is_some_and(|f| f.is_bold())
    };
    assert!(bold(0, 0) && bold(0, 3));
    assert!(!bold(1, 0));

    let mut zip = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    assert!(
        xml.contains("ySplit=\"1\"") && xml.contains("state=\"frozen\""),
        "{xml}"
    );
}

#[rstest]
#[case("Слишком длинное имя листа для Excel, больше 31")]
#[case("Визиты/2024")]
#[case("")]
fn xlsx_refuses_sheet_names_excel_refuses(#[case] name: &str) {
    let e = write_xlsx(&tricky_table(), name).unwrap_err();
    assert_eq!(e.code(), "xlsx_write_failed");
}

#[test]
fn malformed_date_is_written_as_text_not_dropped() {
    let table = Table {
        headers: vec!["Дата".into()],
        rows: vec![vec![Cell::Date("15 января".into())]],
    };
    let (_, rows) = read_xlsx(&write_xlsx(&table, "Лист").unwrap());
    assert_eq!(rows[1][0], Data::String("15 января".into()));
}

/// What we export, we can import: a client list exported as CSV and as XLSX comes
/// back as the same clients.
#[test]
fn exported_client_list_imports_back() {
    let table = Table {
        headers: vec![
            "Компания".into(),
            "Сегмент".into(),
            "Монополизирован".into(),
            "Примечания".into(),
        ],
        rows: vec![
            vec![
                Cell::Text("ООО «Ромашка» 🌼".into()),
                Cell::Text("частный".into()),
                Cell::Bool(true),
                Cell::Text("звонить; после\nобеда".into()),
            ],
            vec![
                Cell::Text("АО Бета".into()),
                Cell::Empty,
                Cell::Bool(false),
                Cell::Empty,
            ],
        ],
    };
    for (bytes, format) in [
        (write_csv(&table), Format::Csv),
        (write_xlsx(&table, "Клиенты").unwrap(), Format::Xlsx),
    ] {
        assert_eq!(Format::detect(None, &bytes), Some(format));
        let r = read_clients(&bytes, format, &Limits::default()).unwrap();
        assert!(r.errors.is_empty(), "{format:?}: {:?}", r.errors);
        let got: Vec<(&str, bool, &str)> = r
            .rows
            .iter()
            .map(|c| (c.company.as_str(), c.monopolised, c.notes.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ООО «Ромашка» 🌼", true, "звонить; после\nобеда"),
                ("АО Бета", false, ""),
            ],
            "{format:?}"
        );
        assert_eq!(r.rows[1].line, 3, "{format:?}");
    }
}
