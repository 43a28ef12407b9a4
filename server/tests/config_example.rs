//! The commented example configuration shipped beside the server
//! (`server/rapport.example.toml`) parses, holds exactly the defaults, and names every
//! setting the server has — so the file a newcomer copies can never drift from the code.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Toml};
use rapport_server::Config;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rapport.example.toml")
}

#[test]
fn the_example_holds_every_default() {
    // The file alone, without the defaults beneath it: a setting missing from the
    // example (other than the optional ones) fails to extract.
    let parsed: Config = Figment::from(Toml::file(example()))
        .extract()
        .expect("the example configuration parses as a whole Config");
    assert_eq!(parsed, Config::default());
}

#[test]
fn the_example_names_every_setting() {
    let text = std::fs::read_to_string(example()).expect("read the example");
    let defaults = serde_json::to_value(Config::default()).expect("serialise the defaults");
    let keys = defaults.as_object().expect("Config is a table");
    for key in keys.keys() {
        let set = format!("\n{key} = ");
        let commented = format!("\n# {key} = ");
        assert!(
            text.contains(&set) || text.contains(&commented),
            "the example configuration does not mention `{key}`: add it with a comment"
        );
    }
}
