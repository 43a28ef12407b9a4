//! Languages of the UI and text given in both of them.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

/// A UI language: the first users are Russian-speaking, so both ship.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Russian.
    Ru,
    /// English.
    En,
}

/// A text in Russian and English (question wording, option labels, reasons).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Localized {
    /// The Russian text.
    pub ru: String,
    /// The English text.
    pub en: String,
}

impl Localized {
    /// A text from its Russian and English forms.
    pub fn new(ru: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            ru: ru.into(),
            en: en.into(),
        }
    }

    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Ru => &self.ru,
            Lang::En => &self.en,
        }
    }
}
