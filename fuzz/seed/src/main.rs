//! Writes the seed corpora of the fuzz targets: a few small, real inputs per target, so
//! mutation starts from valid frames and files instead of from nothing.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml -p rapport-fuzz-seed -- fuzz/corpus`
//! (stable toolchain). Deterministic: the same files every run.

use std::path::{Path, PathBuf};

use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT};
use rapport_domain::DocId;
use rapport_protocol::{DocError, DocMessage, ErrorCode, Limits, SyncRequest, SyncResponse};
use rust_xlsxwriter::Workbook;

fn id(n: u8) -> DocId {
    DocId::from_bytes([n; 16])
}

/// A real automerge sync message of a small document with Cyrillic and emoji text:
/// the first message of a fresh sync state, and one that carries the changes.
fn sync_messages() -> Vec<Vec<u8>> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![0x7a; 16]));
    doc.put(ROOT, "kind", "visit").expect("put");
    let text = doc.put_object(ROOT, "notes", ObjType::Text).expect("text");
    doc.splice_text(&text, 0, 0, "Гордимся командой 🚀").expect("splice");
    doc.commit();
    let doc = doc.document().clone();
    let mut ours = State::new();
    let first = doc.generate_sync_message(&mut ours).expect("first message");
    // The peer answers from an empty document; our next message carries the changes.
    let mut peer = automerge::Automerge::new();
    let mut theirs = State::new();
    peer.receive_sync_message(&mut theirs, first.clone())
        .expect("peer receives");
    let reply = peer.generate_sync_message(&mut theirs).expect("reply");
    let mut doc2 = doc.clone();
    doc2.receive_sync_message(&mut ours, reply).expect("receive reply");
    let second = doc2.generate_sync_message(&mut ours).expect("changes");
    vec![first.encode(), second.encode()]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus folder");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let limits = Limits::DEFAULT;
    let msgs = sync_messages();
    let empty = SyncRequest::default().encode(&limits).expect("encode");
    let two = SyncRequest {
        // The store's cursor layout: version 1, transaction id, sequence (big endian).
        cursor: [&[1u8][..], &[0; 8], &42i64.to_be_bytes()].concat(),
        docs: vec![
            DocMessage {
                doc: id(1),
                message: msgs[0].clone(),
            },
            DocMessage {
                doc: id(2),
                message: msgs[1].clone(),
            },
        ],
    }
    .encode(&limits)
    .expect("encode");
    let response = SyncResponse {
        cursor: vec![7; 12],
        more: true,
        docs: vec![DocMessage {
            doc: id(3),
            message: msgs[1].clone(),
        }],
        errors: vec![
            DocError::new(id(4), ErrorCode::Forbidden, "Нет доступа к документу 🔒"),
            DocError::new(id(5), ErrorCode::Unknown(999), "неизвестная ошибка"),
        ],
        reconcile: false,
    }
    .encode(&limits)
    .expect("encode");
    let mut truncated = two.clone();
    truncated.truncate(two.len() - 3);
    vec![
        ("request-empty", empty),
        ("request-two-docs", two),
        ("response-docs-errors", response),
        ("request-truncated", truncated),
    ]
}

fn csv_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let utf8 = "Компания;Сегмент;Менеджер;Отношения;Монополизирован;Контакт;Должность;Телефон;Email;Примечания\n\
ООО «Ромашка»;корпоративный;ivanov@example.ru;хорошие;да;Пётр Петров;директор;+7 900 000-00-00;petrov@romashka.ru;Любит 🚀\n\
\"ЗАО \"\"Берёзка\"\"\";ключевой частный;;неизвестно;нет;;;;;\n\
;корпоративный;;;;;;;;пустая компания\n\
ИП Сидоров;оптовый;;отличные;может быть;;;;почта-без-собаки;плохая строка\n\
ООО «ромашка»;;;;;;;;;дубликат\n";
    let cp1251 = encoding_rs::WINDOWS_1251
        .encode("Название,Сегмент\nОАО Заря,частный\nОАО Восход,\n")
        .0
        .into_owned();
    // encoding_rs encodes to UTF-16 as UTF-8 (WHATWG): build UTF-16LE with a BOM by hand.
    let mut utf16le = vec![0xFF, 0xFE];
    for unit in "Компания\tСегмент\r\nООО Луч\tкорпоративный\r\n".encode_utf16() {
        utf16le.extend_from_slice(&unit.to_le_bytes());
    }
    vec![
        ("clients-utf8-bad-rows.csv", utf8.as_bytes().to_vec()),
        ("clients-cp1251.csv", cp1251),
        ("clients-utf16le.csv", utf16le),
    ]
}

fn xlsx_seed() -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Клиенты").expect("sheet name");
    let headers = ["Компания", "Сегмент", "Монополизирован", "Контакт", "Телефон", "Email"];
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    sheet.write_string(1, 0, "ООО «Ромашка» 🚀").expect("cell");
    sheet.write_string(1, 1, "корпоративный").expect("cell");
    sheet.write_boolean(1, 2, true).expect("cell");
    sheet.write_string(1, 3, "Пётр Петров").expect("cell");
    sheet.write_number(1, 4, 79_000_000_000.0).expect("cell");
    sheet.write_string(1, 5, "petrov@romashka.ru").expect("cell");
    sheet.write_string(2, 0, "АО Восток").expect("cell");
    sheet.write_string(2, 1, "неизвестный").expect("cell");
    sheet.write_number(3, 0, 42.5).expect("cell");
    sheet.write_string(3, 5, "без собаки").expect("cell");
    book.save_to_buffer().expect("xlsx")
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".to_owned()));
    let frames = frames();
    for (name, bytes) in &frames {
        write(&root.join("protocol_decode"), name, bytes);
        // server_sync: an even first byte sends the rest as the body.
        let mut raw = vec![0];
        raw.extend_from_slice(bytes);
        write(&root.join("server_sync"), name, &raw);
    }
    // server_sync, structured half (odd first byte): entries picked by `arbitrary`.
    for (i, seed) in [
        vec![1u8, 0, 0],
        vec![1, 1, 0, 0, 0, 0x40, 0, 0, 0, 0x40, 0, 0, 0],
        vec![1, 0, 1, 0, 0, 0, 0x80, 0, 0, 0, 0x20, 0, 0, 0, 1, 0, 0, 0, 0x60, 0, 0, 0],
        vec![3, 0, 1, 0x30, 0, 0, 0, 0x90, 0, 0, 0, 0x20, 0, 0, 0, 5, 0x41, 0x42, 0x43],
    ]
    .iter()
    .enumerate()
    {
        write(&root.join("server_sync"), &format!("structured-{i}"), seed);
    }
    for (name, bytes) in csv_seeds() {
        write(&root.join("sheets_import"), name, &bytes);
    }
    write(&root.join("sheets_import"), "clients.xlsx", &xlsx_seed());
}
