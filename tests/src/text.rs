//! The text the tests type: Cyrillic, emoji and punctuation, so every text path sees
//! multi-byte characters (a byte/character mix-up would corrupt them).

/// Snippets typed into answers and notes.
pub const SNIPPETS: &[&str] = &[
    "Привет",
    "ё",
    "Щука 🐟",
    "ООО «Ромашка»",
    " ",
    "Ω",
    "мир",
    "👩‍💼",
];

/// `current` with `del` characters at `at` (`at` wrapped to its length, `del` cut at
/// its end) replaced by `ins`; counted in characters, never bytes.
pub fn splice(current: &str, at: u64, del: u64, ins: &str) -> String {
    let mut chars: Vec<char> = current.chars().collect();
    let len = chars.len() as u64;
    let at = usize::try_from(at % (len + 1)).expect("an index into the text");
    let del = usize::try_from(del.min(len - at as u64)).expect("a count within the text");
    chars.splice(at..at + del, ins.chars());
    chars.into_iter().collect()
}
