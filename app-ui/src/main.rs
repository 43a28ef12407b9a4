//! The rep's bundle (`rapport-ui`): the start page and the rep's pages, with the device
//! core for a browser. The tablet's installable app downloads this one only.

fn main() {
    rapport_ui::mount_rep();
}
