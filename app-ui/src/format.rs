//! Times, dates and amounts as people read them (local time; spaces between thousands).

use crate::translations::i18n::*;

fn local(ms: i64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64))
}

/// `15:32:07`, local time.
pub fn clock(ms: i64) -> String {
    let d = local(ms);
    format!(
        "{:02}:{:02}:{:02}",
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}

/// `27.11.2026 15:32`, local time.
pub fn date_time(ms: i64) -> String {
    let d = local(ms);
    format!(
        "{:02}.{:02}.{} {:02}:{:02}",
        d.get_date(),
        d.get_month() + 1,
        d.get_full_year(),
        d.get_hours(),
        d.get_minutes()
    )
}

/// `2026-11-27` as `27.11.2026`; anything else as it is.
pub fn day(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => format!("{d}.{m}.{y}"),
        _ => iso.to_owned(),
    }
}

/// Today as `YYYY-MM-DD`, local time.
pub fn today_iso() -> String {
    let d = local(js_sys::Date::now() as i64);
    format!(
        "{}-{:02}-{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date()
    )
}

/// "just now", "5 min ago", "15:32" today, or the date and time.
pub fn since(i18n: leptos_i18n::I18nContext<Locale>, now_ms: i64, at_ms: i64) -> String {
    let minutes = (now_ms - at_ms).max(0) / 60_000;
    if minutes < 1 {
        t_string!(i18n, common.time.just_now).to_string()
    } else if minutes < 60 {
        t_string!(i18n, common.time.minutes_ago, minutes = minutes).to_string()
    } else if local(now_ms).to_date_string() == local(at_ms).to_date_string() {
        clock(at_ms)[..5].to_owned()
    } else {
        date_time(at_ms)
    }
}

/// `1 250 000` (a narrow no-break space between thousands), no decimals.
pub fn amount(value: f64) -> String {
    let rounded = value.round();
    let negative = rounded < 0.0;
    let digits = format!("{}", rounded.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if negative { format!("−{out}") } else { out }
}

/// A number as the rep types it: "2,5" and "2.5" both, spaces between thousands allowed.
pub fn parse_number(text: &str) -> Option<f64> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}
