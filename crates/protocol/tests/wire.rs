//! Frame encoding and decoding: round trips, every malformed case, fuzzed input.

use proptest::prelude::*;
use rapport_domain::DocId;
use rapport_protocol::{
    DecodeError, DocError, DocMessage, EncodeError, ErrorCode, Limits, SyncRequest, SyncResponse,
};
use rstest::rstest;

const L: Limits = Limits::DEFAULT;

fn id(n: u8) -> DocId {
    DocId::from_bytes([n; 16])
}

fn doc_message() -> impl Strategy<Value = DocMessage> {
    (
        any::<[u8; 16]>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(b, m)| DocMessage {
            doc: DocId::from_bytes(b),
            message: m,
        })
}

fn dedup<T>(mut v: Vec<T>, key: impl Fn(&T) -> DocId) -> Vec<T> {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|x| seen.insert(key(x)));
    v
}

fn request() -> impl Strategy<Value = SyncRequest> {
    (
        proptest::collection::vec(any::<u8>(), 0..=64),
        proptest::collection::vec(doc_message(), 0..12),
    )
        .prop_map(|(cursor, docs)| SyncRequest {
            cursor,
            docs: dedup(docs, |d| d.doc),
        })
}

fn response() -> impl Strategy<Value = SyncResponse> {
    let error = (any::<[u8; 16]>(), any::<u16>(), "[а-яА-Яa-z0-9 😀]{0,80}").prop_map(
        |(b, code, message)| {
            DocError::new(DocId::from_bytes(b), ErrorCode::from_u16(code), message)
        },
    );
    (
        proptest::collection::vec(any::<u8>(), 0..=64),
        any::<(bool, bool)>(),
        proptest::collection::vec(doc_message(), 0..12),
        proptest::collection::vec(error, 0..6),
    )
        .prop_map(|(cursor, (more, reconcile), docs, errors)| {
            let docs = dedup(docs, |d| d.doc);
            let taken: std::collections::BTreeSet<_> = docs.iter().map(|d| d.doc).collect();
            let errors = dedup(errors, |e| e.doc)
                .into_iter()
                .filter(|e| !taken.contains(&e.doc))
                .collect();
            SyncResponse {
                cursor,
                more,
                docs,
                errors,
                reconcile,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn request_round_trips(req in request()) {
        let bytes = req.encode(&L).unwrap();
        prop_assert_eq!(SyncRequest::decode(&bytes, &L).unwrap(), req);
    }

    #[test]
    fn response_round_trips(resp in response()) {
        let bytes = resp.encode(&L).unwrap();
        prop_assert_eq!(SyncResponse::decode(&bytes, &L).unwrap(), resp);
    }

    #[test]
    fn every_truncation_of_a_valid_frame_is_an_error(resp in response(), req in request()) {
        let bytes = resp.encode(&L).unwrap();
        for cut in 0..bytes.len() {
            prop_assert!(SyncResponse::decode(&bytes[..cut], &L).is_err());
        }
        let bytes = req.encode(&L).unwrap();
        for cut in 0..bytes.len() {
            prop_assert!(SyncRequest::decode(&bytes[..cut], &L).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SyncRequest::decode(&bytes, &L);
        let _ = SyncResponse::decode(&bytes, &L);
    }

    #[test]
    fn random_bodies_after_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = b"RPS\x01\x02".to_vec();
        bytes.extend(&body);
        let _ = SyncResponse::decode(&bytes, &L);
        bytes[4] = 1;
        let _ = SyncRequest::decode(&bytes, &L);
    }

    #[test]
    fn flipped_bytes_of_a_valid_frame_never_panic(resp in response(), pos in any::<prop::sample::Index>(), val in any::<u8>()) {
        let mut bytes = resp.encode(&L).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] = val;
        let _ = SyncResponse::decode(&bytes, &L);
    }
}

/// A valid response with one message and one error, for hand-made corruptions.
fn sample_response() -> Vec<u8> {
    SyncResponse {
        cursor: vec![7],
        more: false,
        docs: vec![DocMessage {
            doc: id(1),
            message: vec![0x42, 0, 0],
        }],
        errors: vec![DocError::new(id(2), ErrorCode::Forbidden, "нет доступа")],
        reconcile: false,
    }
    .encode(&L)
    .unwrap()
}

fn response_with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = b"RPS\x01\x02".to_vec();
    f(&mut b);
    b
}

#[rstest]
#[case::empty(vec![], DecodeError::BadMagic)]
#[case::wrong_magic(b"RPX\x01\x02\x00\x00\x00\x00".to_vec(), DecodeError::BadMagic)]
#[case::unknown_version(b"RPS\x02\x02\x00\x00\x00\x00".to_vec(), DecodeError::UnsupportedVersion(2))]
#[case::request_kind(b"RPS\x01\x01\x00\x00".to_vec(), DecodeError::WrongKind { expected: 2, found: 1 })]
#[case::header_only(b"RPS\x01\x02".to_vec(), DecodeError::Truncated)]
#[case::truncated(sample_response()[..20].to_vec(), DecodeError::Truncated)]
#[case::trailing(response_with(|b| b.extend([0, 0, 0, 0, 9])), DecodeError::TrailingBytes(1))]
#[case::bad_flags(response_with(|b| b.extend([0, 4, 0, 0])), DecodeError::BadFlag(4))]
#[case::cursor_too_long(response_with(|b| { b.push(65); b.extend([0; 65]); }), DecodeError::CursorTooLong { len: 65, max: 64 })]
#[case::too_many_docs(response_with(|b| b.extend([0, 0, 0xE9, 0x07])), DecodeError::TooManyDocs { count: 1001, max: 1000 })]
#[case::count_beyond_input(response_with(|b| b.extend([0, 0, 5])), DecodeError::Truncated)]
#[case::length_beyond_input(response_with(|b| { b.extend([0, 0, 1]); b.extend([1; 16]); b.extend([0x7f, 1]); }), DecodeError::Truncated)]
#[case::message_too_large(response_with(|b| { b.extend([0, 0, 1]); b.extend([1; 16]); b.extend([0x81, 0x80, 0x80, 0x04]); }), DecodeError::MessageTooLarge { doc: id(1), len: 8 * 1024 * 1024 + 1, max: 8 * 1024 * 1024 })]
#[case::varint_overflow(response_with(|b| { b.extend([0xff; 11]); b.push(1); }), DecodeError::BadVarint)]
#[case::duplicate_doc(response_with(|b| { b.extend([0, 0, 2]); b.extend([1; 16]); b.push(0); b.extend([1; 16]); b.push(0); b.push(0); }), DecodeError::DuplicateDoc(id(1)))]
#[case::duplicate_across_lists(response_with(|b| { b.extend([0, 0, 1]); b.extend([1; 16]); b.push(0); b.push(1); b.extend([1; 16]); b.extend([1, 0, 0]); }), DecodeError::DuplicateDoc(id(1)))]
#[case::invalid_utf8(response_with(|b| { b.extend([0, 0, 0, 1]); b.extend([3; 16]); b.extend([1, 0, 2, 0xd0, 0x28]); }), DecodeError::InvalidUtf8(id(3)))]
#[case::error_message_too_long(response_with(|b| { b.extend([0, 0, 0, 1]); b.extend([3; 16]); b.extend([1, 0, 0x81, 0x08]); b.extend(vec![b'a'; 1025]); }), DecodeError::ErrorMessageTooLong { doc: id(3), len: 1025 })]
fn malformed_responses_are_typed_errors(#[case] bytes: Vec<u8>, #[case] expected: DecodeError) {
    let err = SyncResponse::decode(&bytes, &L).unwrap_err();
    assert_eq!(err, expected, "{}", err.code());
}

#[test]
fn frame_larger_than_the_limit_is_refused_before_parsing() {
    let limits = Limits {
        max_frame_bytes: 100,
        ..L
    };
    let bytes = vec![0u8; 101];
    assert_eq!(
        SyncRequest::decode(&bytes, &limits),
        Err(DecodeError::FrameTooLarge { len: 101, max: 100 })
    );
}

#[test]
fn request_frame_is_not_a_response() {
    let bytes = SyncRequest::default().encode(&L).unwrap();
    assert_eq!(
        SyncResponse::decode(&bytes, &L),
        Err(DecodeError::WrongKind {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(SyncRequest::decode(&bytes, &L), Ok(SyncRequest::default()));
}

#[test]
fn unknown_error_codes_survive_a_round_trip() {
    let resp = SyncResponse {
        errors: vec![DocError::new(id(9), ErrorCode::from_u16(4242), "x")],
        ..Default::default()
    };
    let back = SyncResponse::decode(&resp.encode(&L).unwrap(), &L).unwrap();
    assert_eq!(back.errors[0].code, ErrorCode::Unknown(4242));
    assert_eq!(back.errors[0].code.to_u16(), 4242);
}

#[test]
fn long_cyrillic_error_messages_are_cut_on_a_character_boundary() {
    let e = DocError::new(id(1), ErrorCode::Rejected, "ошибка ".repeat(200));
    assert!(e.message.len() <= 1024);
    assert!(e.message.starts_with("ошибка"));
    let resp = SyncResponse {
        errors: vec![e.clone()],
        ..Default::default()
    };
    let back = SyncResponse::decode(&resp.encode(&L).unwrap(), &L).unwrap();
    assert_eq!(back.errors[0], e);
}

#[rstest]
#[case::cursor(SyncRequest { cursor: vec![0; 65], docs: vec![] }, "encode_cursor_too_long")]
#[case::duplicate(SyncRequest { cursor: vec![], docs: vec![DocMessage { doc: id(1), message: vec![] }, DocMessage { doc: id(1), message: vec![] }] }, "encode_duplicate_doc")]
#[case::too_many(SyncRequest { cursor: vec![], docs: (0..1001u32).map(|n| { let mut b = [0; 16]; b[..4].copy_from_slice(&n.to_le_bytes()); DocMessage { doc: DocId::from_bytes(b), message: vec![] } }).collect() }, "encode_too_many_docs")]
fn encoding_refuses_what_decoding_would_refuse(#[case] req: SyncRequest, #[case] code: &str) {
    let err: EncodeError = req.encode(&L).unwrap_err();
    assert_eq!(err.code(), code);
}

#[test]
fn encoding_refuses_oversize_messages_and_frames() {
    let limits = Limits {
        max_message_bytes: 10,
        max_frame_bytes: 40,
        ..L
    };
    let req = SyncRequest {
        cursor: vec![],
        docs: vec![DocMessage {
            doc: id(1),
            message: vec![0; 11],
        }],
    };
    assert_eq!(
        req.encode(&limits).unwrap_err().code(),
        "encode_message_too_large"
    );
    let req = SyncRequest {
        cursor: vec![],
        docs: vec![
            DocMessage {
                doc: id(1),
                message: vec![0; 10],
            },
            DocMessage {
                doc: id(2),
                message: vec![0; 10],
            },
        ],
    };
    assert_eq!(
        req.encode(&limits).unwrap_err().code(),
        "encode_frame_too_large"
    );
}

#[test]
fn a_heads_request_and_response_round_trip_and_refuse_what_they_must() {
    use automerge::ChangeHash;
    use rapport_protocol::{HeadsRequest, HeadsResponse, MAX_HEADS_PER_DOC};
    let request = HeadsRequest {
        docs: vec![
            (id(1), vec![ChangeHash([1; 32]), ChangeHash([2; 32])]),
            (id(2), vec![]),
        ],
    };
    let bytes = request.encode(&L).unwrap();
    assert_eq!(HeadsRequest::decode(&bytes, &L).unwrap(), request);
    // 5 header + 1 count + (16 + 1 + 64) + (16 + 1)
    assert_eq!(bytes.len(), 104);
    // A request is not a response, nor a sync frame.
    assert!(matches!(
        HeadsResponse::decode(&bytes, &L),
        Err(DecodeError::WrongKind { .. })
    ));
    assert!(SyncRequest::decode(&bytes, &L).is_err());
    for cut in 0..bytes.len() {
        assert!(
            HeadsRequest::decode(&bytes[..cut], &L).is_err(),
            "cut at {cut}"
        );
    }
    let twice = HeadsRequest {
        docs: vec![(id(1), vec![]), (id(1), vec![])],
    };
    assert!(twice.encode(&L).is_err());
    let many_heads = HeadsRequest {
        docs: vec![(id(3), vec![ChangeHash([9; 32]); MAX_HEADS_PER_DOC + 1])],
    };
    assert_eq!(
        many_heads.encode(&L).unwrap_err().code(),
        "encode_too_many_heads"
    );
    // A decoder meets the same bound before allocating.
    let mut forged = b"RPS\x01\x03\x01".to_vec();
    forged.extend_from_slice(&[7; 16]);
    forged.extend_from_slice(&[0xff, 0x7f]);
    assert!(matches!(
        HeadsRequest::decode(&forged, &L),
        Err(DecodeError::TooManyHeads { .. })
    ));
    let response = HeadsResponse {
        lacking: vec![id(4), id(5)],
        stale: vec![id(6)],
    };
    let bytes = response.encode(&L).unwrap();
    assert_eq!(HeadsResponse::decode(&bytes, &L).unwrap(), response);
    // The same document in both lists.
    let mut dup = b"RPS\x01\x04\x01".to_vec();
    dup.extend_from_slice(&[4; 16]);
    dup.push(1);
    dup.extend_from_slice(&[4; 16]);
    assert!(matches!(
        HeadsResponse::decode(&dup, &L),
        Err(DecodeError::DuplicateDoc(_))
    ));
}

#[test]
fn the_reconcile_flag_survives_the_wire() {
    let response = SyncResponse {
        cursor: vec![1, 2],
        reconcile: true,
        ..Default::default()
    };
    let back = SyncResponse::decode(&response.encode(&L).unwrap(), &L).unwrap();
    assert!(back.reconcile && !back.more);
}
