//! Reading a whole document into typed form with one pass over each map.
//!
//! autosurgeon's derived `Hydrate` reads a struct field by field, and a map's values
//! key by key: each is one `get`, and each `get` seeks the key among the map's
//! operations. A whole document read that way is one seek per field of every entry:
//! about two thirds of the time of reading a filled visit, and of reading a programme
//! of 10,000 clients whole.
//!
//! [`OnePass`] is a `ReadDoc` for autosurgeon that reads a map's visible values with
//! one `map_range` the first time any of its keys is asked, and answers every later
//! key from what it kept. Everything else (lists, text, heads) is the document's own
//! answer. The values are the same `get` gives: `map_range` yields each key's winning
//! value, the one `get` returns. Use it where a reader asks most keys of the maps it
//! opens (a whole document); for a key or two, the document's own `get` is cheaper.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Range, RangeBounds};

use automerge::{Automerge, AutomergeError, ObjId, ObjType, Prop, Value, ValueRef};
use autosurgeon::{Hydrate, HydrateError, ReadDoc};

/// One visible value of a map: its key and value as the document holds them (no copy
/// of a key or a string: a value is made when it is asked, as `get` makes it).
type Entry<'a> = (Cow<'a, str>, ValueRef<'a>, ObjId);

/// What a [`OnePass`] read of the maps it opened so far.
///
/// Every map's entries are in one vector (each map's run sorted by key), so the
/// reading allocates a few large blocks, not one per map: what the reader builds and
/// keeps is not spread among allocations dropped after the read (a programme of
/// 10,000 clients read that way was twice as slow to clone and to read again).
#[derive(Default)]
struct Kept<'a> {
    entries: Vec<Entry<'a>>,
    /// Each object asked by key so far: its run in `entries`, or `None` when it is not
    /// a map (the document answers).
    maps: HashMap<ObjId, Option<Range<usize>>>,
}

/// A document read with one pass over each map it opens (see the module's note).
pub(crate) struct OnePass<'a> {
    doc: &'a Automerge,
    kept: RefCell<Kept<'a>>,
}

impl<'a> OnePass<'a> {
    pub(crate) fn new(doc: &'a Automerge) -> Self {
        OnePass {
            doc,
            kept: RefCell::new(Kept::default()),
        }
    }

    /// The visible value under `key` of the map `obj`; `None` when `obj` is not a map
    /// or a table (the caller asks the document).
    fn get_kept(&self, obj: &ObjId, key: &str) -> Option<Option<(Value<'static>, ObjId)>> {
        let mut kept = self.kept.borrow_mut();
        let run = match kept.maps.get(obj) {
            Some(run) => run.clone(),
            None => {
                let run = self.read_map(&mut kept.entries, obj);
                kept.maps.insert(obj.clone(), run.clone());
                run
            }
        }?;
        let entries = kept.entries.get(run)?;
        let found = entries
            .binary_search_by(|(k, _, _)| k.as_ref().cmp(key))
            .ok()
            .and_then(|i| entries.get(i));
        Some(found.map(|(_, value, id)| (value.clone().into_value(), id.clone())))
    }

    /// Appends the visible values of `obj` to `entries` if it is a map or a table;
    /// returns their run.
    fn read_map(&self, entries: &mut Vec<Entry<'a>>, obj: &ObjId) -> Option<Range<usize>> {
        if !matches!(
            automerge::ReadDoc::object_type(self.doc, obj),
            Ok(ObjType::Map | ObjType::Table)
        ) {
            return None;
        }
        let start = entries.len();
        entries.extend(
            automerge::ReadDoc::map_range(self.doc, obj, ..).map(|item| {
                let id = item.id();
                (item.key, item.value, id)
            }),
        );
        let run = entries.get_mut(start..)?;
        // map_range yields the keys in order; the lookup relies on it.
        if !run.is_sorted_by(|a, b| a.0 <= b.0) {
            run.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Some(start..entries.len())
    }
}

/// Reads the whole of `doc` into `T`, one pass per map.
pub(crate) fn hydrate_whole<T: Hydrate>(doc: &Automerge) -> Result<T, HydrateError> {
    autosurgeon::hydrate(&OnePass::new(doc))
}

impl ReadDoc for OnePass<'_> {
    type Parents<'b>
        = automerge::Parents<'b>
    where
        Self: 'b;

    fn get_heads(&self) -> Vec<automerge::ChangeHash> {
        ReadDoc::get_heads(self.doc)
    }

    fn get<P: Into<Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError> {
        let prop = prop.into();
        if let Prop::Map(key) = &prop
            && let Some(found) = self.get_kept(obj, key)
        {
            return Ok(found);
        }
        automerge::ReadDoc::get(self.doc, obj, prop)
    }

    fn object_type<O: AsRef<ObjId>>(&self, obj: O) -> Option<ObjType> {
        ReadDoc::object_type(self.doc, obj)
    }

    fn map_range<'b, O, R>(&'b self, obj: O, range: R) -> automerge::iter::MapRange<'b>
    where
        R: RangeBounds<String> + 'b,
        O: AsRef<ObjId>,
        R: RangeBounds<String>,
    {
        ReadDoc::map_range(self.doc, obj, range)
    }

    fn list_range<O: AsRef<ObjId>, R: RangeBounds<usize>>(
        &self,
        obj: O,
        range: R,
    ) -> automerge::iter::ListRange<'_> {
        ReadDoc::list_range(self.doc, obj, range)
    }

    fn length<O: AsRef<ObjId>>(&self, obj: O) -> usize {
        ReadDoc::length(self.doc, obj)
    }

    fn text<O: AsRef<ObjId>>(&self, obj: O) -> Result<String, AutomergeError> {
        ReadDoc::text(self.doc, obj)
    }

    fn parents<O: AsRef<ObjId>>(&self, obj: O) -> Result<Self::Parents<'_>, AutomergeError> {
        ReadDoc::parents(self.doc, obj)
    }

    fn is_empty(&self) -> bool {
        ReadDoc::is_empty(self.doc)
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT, ScalarValue};

    use super::*;
    use crate::ids::DocId;
    use crate::template::{QuestionKind, Template, default_template};
    use crate::visit::{
        ContactInput, ScalarAnswer, Visit, VisitInit, new_visit, put_contact_update,
        set_scalar_answer, set_text_answer,
    };

    /// Every map of `doc` and the keys any of its operations ever named.
    fn maps_and_keys(doc: &Automerge) -> Vec<(ObjId, Vec<String>)> {
        let mut out = Vec::new();
        let mut todo = vec![ROOT];
        while let Some(obj) = todo.pop() {
            let mut keys: Vec<String> = automerge::ReadDoc::keys(doc, &obj).collect();
            keys.push("никогда не было".to_owned());
            for key in &keys {
                for (value, id) in automerge::ReadDoc::get_all(doc, &obj, key.as_str()).unwrap() {
                    if matches!(value, Value::Object(ObjType::Map | ObjType::Table)) {
                        todo.push(id);
                    }
                }
            }
            out.push((obj, keys));
        }
        out
    }

    /// Two writers putting, deleting and making maps under the same keys at once.
    fn conflicted() -> Automerge {
        let mut a = Automerge::new().with_actor(ActorId::from(b"aaaa".as_slice()));
        let mut tx = a.transaction();
        tx.put(ROOT, "имя", "Анна").unwrap();
        tx.put(ROOT, "gone", 1).unwrap();
        let inner = tx.put_object(ROOT, "inner", ObjType::Map).unwrap();
        tx.put(&inner, "x", 1.5).unwrap();
        tx.commit();
        let mut b = a.fork().with_actor(ActorId::from(b"bbbb".as_slice()));
        let mut tx = a.transaction();
        tx.put(ROOT, "имя", "Борис").unwrap();
        tx.delete(ROOT, "gone").unwrap();
        tx.put(ROOT, "both", ScalarValue::Null).unwrap();
        tx.commit();
        let mut tx = b.transaction();
        tx.put(ROOT, "имя", "Вера").unwrap();
        let both = tx.put_object(ROOT, "both", ObjType::Map).unwrap();
        tx.put(&both, "y", "у").unwrap();
        tx.put(&inner, "x", 2.5).unwrap();
        tx.commit();
        a.merge(&mut b).unwrap();
        a
    }

    #[test]
    fn every_key_reads_as_the_documents_own_get() {
        let doc = conflicted();
        let one = OnePass::new(&doc);
        let mut asked = 0;
        for (obj, keys) in maps_and_keys(&doc) {
            for key in keys {
                let own = automerge::ReadDoc::get(&doc, &obj, key.as_str())
                    .unwrap()
                    .map(|(v, id)| (v.to_owned(), id));
                let kept = ReadDoc::get(&one, &obj, key.as_str()).unwrap();
                assert_eq!(kept, own, "{obj} {key}");
                asked += 1;
            }
        }
        assert!(asked >= 8, "the test read too little: {asked} keys");
    }

    /// A new visit of `template`, nothing answered.
    fn empty_visit(template: &Template) -> Automerge {
        let init = VisitInit {
            id: DocId::random(),
            programme_id: DocId::random(),
            client_id: DocId::random(),
            date: "2026-12-01".to_owned(),
            rep_id: "rep-1".to_owned(),
        };
        new_visit(ActorId::random(), &init, template, 1).unwrap()
    }

    #[test]
    fn a_visit_reads_as_autosurgeon_reads_it() {
        let template = default_template();
        let mut a = empty_visit(&template);
        let mut b = a.fork();
        let text = template
            .active()
            .into_iter()
            .find(|q| q.kind == QuestionKind::Text)
            .unwrap()
            .id
            .clone();
        let yes_no = template
            .active()
            .into_iter()
            .find(|q| q.kind == QuestionKind::YesNo)
            .unwrap()
            .id
            .clone();
        set_text_answer(&mut a, &template, &text, "Гордимся сервисом", 2).unwrap();
        set_text_answer(&mut b, &template, &text, "Гордимся людьми", 3).unwrap();
        set_scalar_answer(&mut a, &template, &yes_no, &ScalarAnswer::YesNo(true), 4).unwrap();
        set_scalar_answer(&mut b, &template, &yes_no, &ScalarAnswer::YesNo(false), 5).unwrap();
        let contact = ContactInput {
            updates_contact_id: None,
            name: "Иван Петров".to_owned(),
            role: "директор".to_owned(),
            phone: "+7 900 000-00-00".to_owned(),
            email: "ivan@example.ru".to_owned(),
        };
        put_contact_update(&mut a, None, &contact, 6).unwrap();
        put_contact_update(&mut b, None, &contact, 7).unwrap();
        a.merge(&mut b).unwrap();
        let mine: Visit = hydrate_whole(&a).unwrap();
        let theirs: Visit = autosurgeon::hydrate(&a).unwrap();
        assert_eq!(mine, theirs);
        assert_eq!(mine.contact_updates.len(), 2);
    }

    #[test]
    fn a_malformed_field_fails_as_autosurgeon_fails() {
        let mut doc = empty_visit(&default_template());
        let mut tx = doc.transaction();
        tx.put(ROOT, "created_ms", "вчера").unwrap();
        tx.commit();
        let mine = hydrate_whole::<Visit>(&doc).unwrap_err().to_string();
        let theirs = autosurgeon::hydrate::<_, Visit>(&doc)
            .unwrap_err()
            .to_string();
        assert_eq!(mine, theirs);
    }
}
