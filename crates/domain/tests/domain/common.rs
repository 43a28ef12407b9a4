//! Fixtures shared by the tests.

use automerge::{ActorId, Automerge};
use rapport_domain::client::new_client;
use rapport_domain::programme::{Lead, Period, ProgrammeInit, new_programme};
use rapport_domain::visit::new_visit;
use rapport_domain::{DocId, Segment, Template, VisitInit, default_template};

/// 2026-03-02 09:00 UTC, the start of the test clock.
pub const T0: i64 = 1_772_442_000_000;

/// A deterministic actor id for device `n`.
pub fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16])
}

/// A deterministic document id.
pub fn doc_id(n: u8) -> DocId {
    DocId::from_bytes([n; 16])
}

/// The programme id used by fixtures.
pub fn programme_id() -> DocId {
    doc_id(0xA0)
}

/// A programme document with the default template, written by device 1.
pub fn programme_doc() -> Automerge {
    new_programme(
        actor(1),
        &ProgrammeInit {
            id: programme_id(),
            name: "VIP-программа 2026".to_owned(),
            period: Period {
                start: "2026-03-01".to_owned(),
                end: "2026-06-30".to_owned(),
            },
            lead: Lead {
                name: "Ольга Смирнова".to_owned(),
                email: "olga@example.ru".to_owned(),
            },
        },
        &default_template(),
        T0,
    )
    .expect("valid programme")
}

/// Client 1, «Ромашка», a corporate client originally won by rep "anna", on device 1.
pub fn client_doc() -> Automerge {
    new_client(
        actor(1),
        doc_id(1),
        "ООО «Ромашка»",
        Segment::Corporate,
        Some("anna"),
        T0,
    )
    .expect("valid client")
}

/// A fresh visit of client `client` by rep "ivanov", on device 2.
pub fn visit_doc(template: &Template, client: u8) -> Automerge {
    visit_doc_by(
        template,
        client,
        0xB0u8.wrapping_add(client),
        "ivanov",
        actor(2),
    )
}

/// A fresh visit with its id, rep and actor chosen.
pub fn visit_doc_by(
    template: &Template,
    client: u8,
    visit: u8,
    rep: &str,
    device: ActorId,
) -> Automerge {
    new_visit(
        device,
        &VisitInit {
            id: doc_id(visit),
            programme_id: programme_id(),
            client_id: doc_id(client),
            date: "2026-03-10".to_owned(),
            rep_id: rep.to_owned(),
        },
        template,
        T0,
    )
    .expect("valid visit")
}
