//! Encoding and decoding of the frames: the byte layout of the crate documentation,
//! every length checked against the [`Limits`] before anything is allocated.

use std::collections::BTreeSet;

use rapport_domain::DocId;

use super::errors::{DecodeError, EncodeError};
use super::types::*;

/// Bytes a varint of `n` takes.
pub(crate) fn varint_len(n: u64) -> usize {
    let bits = 64 - n.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Bytes an encoded [`DocMessage`] takes in a frame.
pub(crate) fn doc_message_len(message_len: usize) -> usize {
    16 + varint_len(message_len as u64) + message_len
}

/// Bytes of a frame header plus cursor, before the document list.
pub(crate) fn frame_overhead(cursor_len: usize) -> usize {
    // header, cursor, `more`, doc count, error count (counts up to 1000 take 2 bytes)
    HEADER_LEN + varint_len(cursor_len as u64) + cursor_len + 1 + 2 + 2
}

fn put_varint(out: &mut Vec<u8>, n: u64) {
    // Writing into a Vec cannot fail.
    let _ = leb128::write::unsigned(out, n);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn check_docs<'a>(
    docs: impl ExactSizeIterator<Item = (&'a DocId, usize)>,
    seen: &mut BTreeSet<DocId>,
    limits: &Limits,
    message_limit: usize,
    is_error: bool,
) -> Result<(), EncodeError> {
    if docs.len() > limits.max_docs {
        return Err(EncodeError::TooManyDocs {
            count: docs.len(),
            max: limits.max_docs,
        });
    }
    for (doc, len) in docs {
        if len > message_limit {
            return Err(if is_error {
                EncodeError::ErrorMessageTooLong { doc: *doc, len }
            } else {
                EncodeError::MessageTooLarge {
                    doc: *doc,
                    len,
                    max: message_limit,
                }
            });
        }
        if !seen.insert(*doc) {
            return Err(EncodeError::DuplicateDoc(*doc));
        }
    }
    Ok(())
}

fn check_cursor(cursor: &[u8], limits: &Limits) -> Result<(), EncodeError> {
    if cursor.len() > limits.max_cursor_bytes {
        return Err(EncodeError::CursorTooLong {
            len: cursor.len(),
            max: limits.max_cursor_bytes,
        });
    }
    Ok(())
}

fn check_frame(out: Vec<u8>, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
    if out.len() > limits.max_frame_bytes {
        return Err(EncodeError::FrameTooLarge {
            len: out.len(),
            max: limits.max_frame_bytes,
        });
    }
    Ok(out)
}

fn put_doc_messages(out: &mut Vec<u8>, docs: &[DocMessage]) {
    put_varint(out, docs.len() as u64);
    for d in docs {
        out.extend_from_slice(d.doc.as_bytes());
        put_bytes(out, &d.message);
    }
}

impl SyncRequest {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_cursor(&self.cursor, limits)?;
        check_docs(
            self.docs.iter().map(|d| (&d.doc, d.message.len())),
            &mut BTreeSet::new(),
            limits,
            limits.max_message_bytes,
            false,
        )?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[VERSION, KIND_REQUEST]);
        put_bytes(&mut out, &self.cursor);
        put_doc_messages(&mut out, &self.docs);
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_REQUEST, limits)?;
        let cursor = r.cursor()?;
        let mut seen = BTreeSet::new();
        let docs = r.doc_messages(&mut seen)?;
        r.finish()?;
        Ok(Self { cursor, docs })
    }
}

impl SyncResponse {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_cursor(&self.cursor, limits)?;
        let mut seen = BTreeSet::new();
        check_docs(
            self.docs.iter().map(|d| (&d.doc, d.message.len())),
            &mut seen,
            limits,
            limits.max_message_bytes,
            false,
        )?;
        check_docs(
            self.errors.iter().map(|e| (&e.doc, e.message.len())),
            &mut seen,
            limits,
            MAX_ERROR_MESSAGE_BYTES,
            true,
        )?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[VERSION, KIND_RESPONSE]);
        put_bytes(&mut out, &self.cursor);
        let mut flags = 0;
        if self.more {
            flags |= FLAG_MORE;
        }
        if self.reconcile {
            flags |= FLAG_RECONCILE;
        }
        out.push(flags);
        put_doc_messages(&mut out, &self.docs);
        put_varint(&mut out, self.errors.len() as u64);
        for e in &self.errors {
            out.extend_from_slice(e.doc.as_bytes());
            out.extend_from_slice(&e.code.to_u16().to_le_bytes());
            put_bytes(&mut out, e.message.as_bytes());
        }
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_RESPONSE, limits)?;
        let cursor = r.cursor()?;
        let flags = r.take(1)?[0];
        if flags & !(FLAG_MORE | FLAG_RECONCILE) != 0 {
            return Err(DecodeError::BadFlag(flags));
        }
        let mut seen = BTreeSet::new();
        let docs = r.doc_messages(&mut seen)?;
        let count = r.count(MIN_DOC_ERROR_LEN)?;
        let mut errors = Vec::with_capacity(count);
        for _ in 0..count {
            let doc = r.doc_id(&mut seen)?;
            let code = r.take(2)?;
            let code = ErrorCode::from_u16(u16::from_le_bytes([code[0], code[1]]));
            let len = r.varint()?;
            if len > MAX_ERROR_MESSAGE_BYTES as u64 {
                return Err(DecodeError::ErrorMessageTooLong { doc, len });
            }
            let bytes = r.take_len(len)?;
            let message = std::str::from_utf8(bytes)
                .map_err(|_| DecodeError::InvalidUtf8(doc))?
                .to_owned();
            errors.push(DocError { doc, code, message });
        }
        r.finish()?;
        Ok(Self {
            cursor,
            more: flags & FLAG_MORE != 0,
            docs,
            errors,
            reconcile: flags & FLAG_RECONCILE != 0,
        })
    }
}

fn header(kind: u8) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[VERSION, kind]);
    out
}

fn check_heads_count(count: usize) -> Result<(), EncodeError> {
    if count > MAX_HEADS_DOCS {
        return Err(EncodeError::TooManyDocs {
            count,
            max: MAX_HEADS_DOCS,
        });
    }
    Ok(())
}

impl HeadsRequest {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_heads_count(self.docs.len())?;
        let mut seen = BTreeSet::new();
        let mut out = header(KIND_HEADS_REQUEST);
        put_varint(&mut out, self.docs.len() as u64);
        for (doc, heads) in &self.docs {
            if !seen.insert(*doc) {
                return Err(EncodeError::DuplicateDoc(*doc));
            }
            if heads.len() > MAX_HEADS_PER_DOC {
                return Err(EncodeError::TooManyHeads {
                    doc: *doc,
                    count: heads.len(),
                });
            }
            out.extend_from_slice(doc.as_bytes());
            put_varint(&mut out, heads.len() as u64);
            for head in heads {
                out.extend_from_slice(head.as_ref());
            }
        }
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_HEADS_REQUEST, limits)?;
        // A document with no heads takes 17 bytes.
        let count = r.count_up_to(MAX_HEADS_DOCS, 17)?;
        let mut seen = BTreeSet::new();
        let mut docs = Vec::with_capacity(count);
        for _ in 0..count {
            let doc = r.doc_id(&mut seen)?;
            let n = r.varint()?;
            if n > MAX_HEADS_PER_DOC as u64 {
                return Err(DecodeError::TooManyHeads { doc, count: n });
            }
            let mut heads = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let bytes: [u8; 32] = r.take(32)?.try_into().map_err(|_| DecodeError::Truncated)?;
                heads.push(automerge::ChangeHash(bytes));
            }
            docs.push((doc, heads));
        }
        r.finish()?;
        Ok(Self { docs })
    }
}

impl HeadsResponse {
    /// Encode as a frame, refusing anything the receiver would refuse.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        check_heads_count(self.lacking.len() + self.stale.len())?;
        let mut seen = BTreeSet::new();
        let mut out = header(KIND_HEADS_RESPONSE);
        for list in [&self.lacking, &self.stale] {
            put_varint(&mut out, list.len() as u64);
            for doc in list {
                if !seen.insert(*doc) {
                    return Err(EncodeError::DuplicateDoc(*doc));
                }
                out.extend_from_slice(doc.as_bytes());
            }
        }
        check_frame(out, limits)
    }

    /// Decode a frame; any defect is an error, never a panic or a large allocation.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input, KIND_HEADS_RESPONSE, limits)?;
        let mut seen = BTreeSet::new();
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let count = r.count_up_to(MAX_HEADS_DOCS - seen.len(), 16)?;
            list.reserve(count);
            for _ in 0..count {
                list.push(r.doc_id(&mut seen)?);
            }
        }
        r.finish()?;
        let [lacking, stale] = lists;
        Ok(Self { lacking, stale })
    }
}

/// A bounds-checked cursor over a frame.
struct Reader<'a> {
    rest: &'a [u8],
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], kind: u8, limits: &'a Limits) -> Result<Self, DecodeError> {
        if input.len() > limits.max_frame_bytes {
            return Err(DecodeError::FrameTooLarge {
                len: input.len(),
                max: limits.max_frame_bytes,
            });
        }
        let mut r = Self {
            rest: input,
            limits,
        };
        let magic = r.take(MAGIC.len()).map_err(|_| DecodeError::BadMagic)?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let found = r.take(1)?[0];
        if found != kind {
            return Err(DecodeError::WrongKind {
                expected: kind,
                found,
            });
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Take `len` bytes, checking the declared length against the input first.
    fn take_len(&mut self, len: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        self.take(n)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut rest = self.rest;
        let n = leb128::read::unsigned(&mut rest).map_err(|e| match e {
            leb128::read::Error::IoError(_) => DecodeError::Truncated,
            leb128::read::Error::Overflow => DecodeError::BadVarint,
        })?;
        self.rest = rest;
        Ok(n)
    }

    fn cursor(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.varint()?;
        if len > self.limits.max_cursor_bytes as u64 {
            return Err(DecodeError::CursorTooLong {
                len,
                max: self.limits.max_cursor_bytes,
            });
        }
        Ok(self.take_len(len)?.to_vec())
    }

    /// A list count, checked against the limit and against what the input can hold.
    fn count(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        self.count_up_to(self.limits.max_docs, min_item_len)
    }

    /// A list count of at most `max` items.
    fn count_up_to(&mut self, max: usize, min_item_len: usize) -> Result<usize, DecodeError> {
        let count = self.varint()?;
        if count > max as u64 {
            return Err(DecodeError::TooManyDocs { count, max });
        }
        // Both bounds hold, so the cast is lossless and the capacity is small.
        let count = count as usize;
        if count.saturating_mul(min_item_len) > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(count)
    }

    fn doc_id(&mut self, seen: &mut BTreeSet<DocId>) -> Result<DocId, DecodeError> {
        let bytes: [u8; 16] = self
            .take(16)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        let doc = DocId::from_bytes(bytes);
        if !seen.insert(doc) {
            return Err(DecodeError::DuplicateDoc(doc));
        }
        Ok(doc)
    }

    fn doc_messages(&mut self, seen: &mut BTreeSet<DocId>) -> Result<Vec<DocMessage>, DecodeError> {
        let count = self.count(MIN_DOC_MESSAGE_LEN)?;
        let mut docs = Vec::with_capacity(count);
        for _ in 0..count {
            let doc = self.doc_id(seen)?;
            let len = self.varint()?;
            if len > self.limits.max_message_bytes as u64 {
                return Err(DecodeError::MessageTooLarge {
                    doc,
                    len,
                    max: self.limits.max_message_bytes,
                });
            }
            let message = self.take_len(len)?.to_vec();
            docs.push(DocMessage { doc, message });
        }
        Ok(docs)
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.rest.len()))
        }
    }
}
