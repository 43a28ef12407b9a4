//! Programmes read into typed form, kept per document with the heads they were read
//! at, so reading a programme again after an edit reads only what the edit touched.
//!
//! A full read of a programme of 10,000 clients takes most of a second (each value is a
//! lookup in Automerge's columns); after a lead adds one client,
//! [`read_programme_since`] re-reads that client's entries alone. A kept read is only a
//! starting point: the result is always the programme at the document's current heads,
//! and a document whose history does not hold the kept heads (a store put back in time)
//! is read whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{Automerge, ChangeHash};
use rapport_domain::programme::{Programme, read_programme, read_programme_since};
use rapport_domain::{DocId, DomainError};

/// How many programmes are kept (a server runs a few programmes at a time; one of
/// 10,000 clients takes a few MB read).
const KEPT: usize = 32;

/// The last read of each programme (see the module doc).
#[derive(Default)]
pub struct ProgrammeReads {
    kept: Mutex<HashMap<DocId, Kept>>,
}

struct Kept {
    heads: Vec<ChangeHash>,
    programme: Arc<Programme>,
    used: u64,
}

impl std::fmt::Debug for ProgrammeReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgrammeReads")
            .field("kept", &self.lock().len())
            .finish()
    }
}

impl ProgrammeReads {
    fn lock(&self) -> MutexGuard<'_, HashMap<DocId, Kept>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The programme `doc` (the document `id`) at its current heads.
    pub fn read(&self, id: DocId, doc: &Automerge) -> Result<Arc<Programme>, DomainError> {
        let heads = doc.get_heads();
        let start = {
            let mut kept = self.lock();
            match kept.get(&id) {
                Some(k) if k.heads == heads => return Ok(k.programme.clone()),
                // Taken out: a read no one else holds is changed in place, not copied.
                Some(_) => kept.remove(&id),
                None => None,
            }
        };
        let programme = match start {
            Some(k) => {
                let prev = Arc::try_unwrap(k.programme).unwrap_or_else(|p| (*p).clone());
                Arc::new(read_programme_since(doc, prev, &k.heads)?)
            }
            None => Arc::new(read_programme(doc)?),
        };
        let mut kept = self.lock();
        let used = kept.values().map(|k| k.used).max().unwrap_or(0) + 1;
        kept.insert(
            id,
            Kept {
                heads,
                programme: programme.clone(),
                used,
            },
        );
        if kept.len() > KEPT
            && let Some(oldest) = kept.iter().min_by_key(|(_, k)| k.used).map(|(id, _)| *id)
        {
            kept.remove(&oldest);
        }
        Ok(programme)
    }
}

#[cfg(test)]
mod tests {
    use rapport_domain::default_template;
    use rapport_domain::programme::{Lead, Period, ProgrammeInit, add_client, new_programme};

    use super::*;

    fn programme(id: DocId) -> Automerge {
        new_programme(
            automerge::ActorId::random(),
            &ProgrammeInit {
                id,
                name: "Программа «Лидеры»".into(),
                period: Period {
                    start: "2026-01-12".into(),
                    end: "2026-03-31".into(),
                },
                lead: Lead {
                    name: "Ольга Руководитель".into(),
                    email: "olga@example.ru".into(),
                },
            },
            &default_template(),
            1,
        )
        .expect("programme")
    }

    /// Each read is the programme at the document's heads: after an edit, after the
    /// document went back to an older copy, and for another document.
    #[test]
    fn every_read_is_the_programme_at_the_documents_heads() {
        let reads = ProgrammeReads::default();
        let id = DocId::random();
        let mut doc = programme(id);
        let older = doc.clone();
        let first = reads.read(id, &doc).expect("read");
        assert_eq!(*first, read_programme(&doc).expect("full read"));
        let kept = reads.read(id, &doc).expect("read again");
        assert!(
            Arc::ptr_eq(&first, &kept),
            "the same heads read nothing again"
        );
        drop((first, kept));

        let client = DocId::random();
        add_client(&mut doc, client, 2).expect("add a client");
        let after = reads.read(id, &doc).expect("read after the edit");
        assert!(after.clients.contains_key(&client.to_string()));
        assert_eq!(*after, read_programme(&doc).expect("full read"));

        // A copy from before the edit (a store put back in time).
        let back = reads.read(id, &older).expect("read the older copy");
        assert!(back.clients.is_empty());
        assert_eq!(*back, read_programme(&older).expect("full read"));

        let other_id = DocId::random();
        let other = programme(other_id);
        assert_eq!(reads.read(other_id, &other).expect("read").id, other_id);
        assert_eq!(reads.read(id, &older).expect("read").id, id);
    }
}
