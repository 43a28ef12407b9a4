//! Generates the `i18n` module from locales/<lang>/<area>.json: Russian first (the
//! default), English; every key must exist in both, or the build says which is missing.

use std::error::Error;
use std::path::PathBuf;

use leptos_i18n_build::{Config, ParseOptions, TranslationsInfos};

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("i18n");
    let config = Config::new("ru")?
        .add_locale("en")?
        .add_namespaces(["common", "rep", "lead"])?
        // Texts with values in them are also needed as plain strings (titles, attributes).
        .parse_options(ParseOptions::default().interpolate_display(true));
    let translations = TranslationsInfos::parse(config)?;
    translations.emit_diagnostics();
    translations.rerun_if_locales_changed();
    translations.generate_i18n_module(out)?;
    Ok(())
}
