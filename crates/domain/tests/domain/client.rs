//! The client document: contacts lifecycle and relationship notes (Text).

use rapport_domain::client::{
    add_contact, confirm_contact, mark_contact_left, new_client, read_client, set_company,
    set_notes, set_segment, update_contact,
};
use rapport_domain::{ContactInput, Segment, check_document};

use crate::common::{T0, actor, client_doc, doc_id};

#[test]
fn contacts_are_added_updated_confirmed_and_marked_left() {
    let mut doc = client_doc();
    let input = ContactInput {
        name: "Анна Кузнецова".to_owned(),
        role: "Финансовый директор".to_owned(),
        ..Default::default()
    };
    let id = add_contact(&mut doc, &input, T0 + 1).unwrap();
    update_contact(
        &mut doc,
        &id,
        &ContactInput {
            phone: "+7 495 000-00-01".to_owned(),
            ..input.clone()
        },
        T0 + 2,
    )
    .unwrap();
    confirm_contact(&mut doc, &id, "2026-03-10", T0 + 3).unwrap();
    mark_contact_left(&mut doc, &id, T0 + 4).unwrap();
    let client = read_client(&doc).unwrap();
    let c = &client.contacts[&id];
    assert_eq!(
        (c.name.as_str(), c.phone.as_str()),
        ("Анна Кузнецова", "+7 495 000-00-01")
    );
    assert_eq!(c.last_confirmed.as_deref(), Some("2026-03-10"));
    assert!(c.has_left);
    assert_eq!(c.created_ms, T0 + 1);
    assert_eq!(client.original_rep.as_deref(), Some("anna"));

    // Bad edits: typed errors, nothing written.
    let heads = doc.get_heads();
    assert_eq!(
        add_contact(&mut doc, &ContactInput::default(), T0)
            .unwrap_err()
            .code(),
        "empty_required_field"
    );
    assert_eq!(
        confirm_contact(&mut doc, &id, "10.03.2026", T0)
            .unwrap_err()
            .code(),
        "invalid_date"
    );
    assert_eq!(
        mark_contact_left(&mut doc, "nobody", T0)
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(doc.get_heads(), heads);
    assert!(check_document(&doc).is_ok());
}

#[test]
fn concurrent_edits_to_the_notes_merge_by_character() {
    let mut base = new_client(
        actor(1),
        doc_id(1),
        "ИП Соколов",
        Segment::KeyPrivate,
        None,
        T0,
    )
    .unwrap();
    set_notes(&mut base, "Лояльный клиент", T0 + 1).unwrap();
    let mut rep = base.fork().with_actor(actor(2));
    let mut lead = base.fork().with_actor(actor(3));
    set_notes(&mut rep, "Очень лояльный клиент", T0 + 2).unwrap();
    set_notes(&mut lead, "Лояльный клиент 👍, продлить договор", T0 + 3).unwrap();
    rep.merge(&mut lead).unwrap();
    assert_eq!(
        read_client(&rep).unwrap().notes,
        "Очень лояльный клиент 👍, продлить договор"
    );
}

#[test]
fn doc_scope_names_kind_programme_and_client() {
    use rapport_domain::{DocKind, doc_scope};
    let client = crate::common::client_doc();
    let scope = doc_scope(&client).expect("client scope");
    assert_eq!(scope.kind, DocKind::Client);
    assert_eq!(scope.client_id, Some(scope.id));
    assert_eq!(scope.programme_id, None);
    let garbage = automerge::Automerge::new();
    assert!(
        doc_scope(&garbage).is_err(),
        "a document without a type has no scope"
    );
}

#[test]
fn doc_scope_of_a_visit_names_its_programme_and_client() {
    use rapport_domain::{DocKind, doc_scope, programme::read_programme};
    let programme = read_programme(&crate::common::programme_doc()).expect("programme");
    let visit = crate::common::visit_doc(&programme.template, 7);
    let read = rapport_domain::visit::read_visit(&visit).expect("visit");
    let scope = doc_scope(&visit).expect("visit scope");
    assert_eq!(scope.kind, DocKind::Visit);
    assert_eq!(scope.id, read.id);
    assert_eq!(scope.programme_id, Some(read.programme_id));
    assert_eq!(scope.client_id, Some(read.client_id));
}

#[test]
fn per_edit_actors_are_attributed_by_their_registered_prefix() {
    use rapport_domain::programme::{read_programme, register_device};
    let mut doc = crate::common::programme_doc();
    let lead = automerge::ActorId::from(vec![0xab; 16]);
    register_device(&mut doc, &lead, "lead", "Руководитель", 5).expect("register");
    let programme = read_programme(&doc).expect("programme");
    let mut per_edit = vec![0xab; 16];
    per_edit.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let who = programme.who_wrote(&automerge::ActorId::from(per_edit).to_hex_string());
    assert_eq!(who.map(|d| d.label.as_str()), Some("Руководитель"));
    let stranger = automerge::ActorId::from(vec![0xcd; 24]).to_hex_string();
    assert!(programme.who_wrote(&stranger).is_none());
}

#[test]
fn company_and_segment_are_edited_and_bad_names_refused() {
    let mut doc = client_doc();
    set_company(&mut doc, "АО «Север» 🚀", T0 + 1).unwrap();
    set_segment(&mut doc, Segment::KeyPrivate, T0 + 2).unwrap();
    let client = read_client(&doc).unwrap();
    assert_eq!(client.company, "АО «Север» 🚀");
    assert_eq!(client.segment, Segment::KeyPrivate);
    check_document(&doc).unwrap();

    let heads = doc.get_heads();
    assert_eq!(
        set_company(&mut doc, "  ", T0 + 3).unwrap_err().code(),
        "empty_required_field"
    );
    assert_eq!(doc.get_heads(), heads, "a refused rename writes nothing");
    assert_eq!(read_client(&doc).unwrap().company, "АО «Север» 🚀");
}

#[test]
fn company_keys_ignore_case_and_surrounding_spaces_in_cyrillic_too() {
    use rapport_domain::client::company_key;
    assert_eq!(
        company_key("  ООО «Ромашка» "),
        company_key("ооо «ромашка»")
    );
    assert_eq!(company_key("ИП ЁЛКИН"), "ип ёлкин");
    assert_eq!(company_key("Cafe ☕ Север"), "cafe ☕ север");
    assert_ne!(
        company_key("ИП Ёлкин"),
        company_key("ИП Елкин"),
        "Ё is its own letter"
    );
    assert_ne!(
        company_key("ООО  Ромашка"),
        company_key("ООО Ромашка"),
        "spaces inside the name are kept"
    );
}
