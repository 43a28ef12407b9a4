//! The lead's bundle (`rapport-lead`): the programme lead's pages, with no device core.

fn main() {
    rapport_ui::mount_lead();
}
