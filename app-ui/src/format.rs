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

/// `2026-11-27T10:30` as `27.11.2026 10:30`; anything else as it is.
pub fn when(iso: &str) -> String {
    match iso.split_once('T') {
        Some((d, t)) => format!("{} {t}", day(d)),
        None => iso.to_owned(),
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

/// A date as people type it, whatever the browser's locale: `27.11.2026` (also with `/`
/// or `-` between, a one-digit day or month, a two-digit year of this century) or
/// ISO `2026-11-27`. `YYYY-MM-DD` when it is a real day of the calendar, else `None`.
pub fn parse_day(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.trim().split(['.', '/', '-']).map(str::trim).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if ![a, b, c]
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit()))
    {
        return None;
    }
    let (year, month, day) = if a.len() == 4 {
        (*a, *b, *c)
    } else {
        (*c, *b, *a)
    };
    let year: u32 = match year.len() {
        4 => year.parse().ok()?,
        2 => 2000 + year.parse::<u32>().ok()?,
        _ => return None,
    };
    let (month, day): (u32, u32) = (month.parse().ok()?, day.parse().ok()?);
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days)
        .contains(&day)
        .then(|| format!("{year:04}-{month:02}-{day:02}"))
}

/// A time of day as people type it: `9:30`, `09:30`, `9.30`, `930`, `9`. `HH:MM` when
/// it is one, else `None`.
pub fn parse_time(text: &str) -> Option<String> {
    let text = text.trim();
    let (h, m) = match text.split_once([':', '.']) {
        Some((h, m)) => (h.trim(), m.trim()),
        None if text.len() > 2 => text.split_at(text.len() - 2),
        None => (text, "00"),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.chars().all(|c| c.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then(|| format!("{h:02}:{m:02}"))
}

/// Monday and Sunday (`YYYY-MM-DD`) of this week, local time.
pub fn this_week() -> (String, String) {
    let iso = |d: &js_sys::Date| {
        format!(
            "{}-{:02}-{:02}",
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date()
        )
    };
    let today = local(js_sys::Date::now() as i64);
    let back = (today.get_day() + 6) % 7;
    let monday = js_sys::Date::new(&today);
    monday.set_date(today.get_date() - back);
    let sunday = js_sys::Date::new(&monday);
    sunday.set_date(monday.get_date() + 6);
    (iso(&monday), iso(&sunday))
}

#[cfg(test)]
mod tests {
    use super::{day, parse_day, parse_time};

    #[test]
    fn times_are_read_as_people_type_them() {
        for (typed, time) in [
            ("9:30", "09:30"),
            ("09:30", "09:30"),
            ("9.30", "09:30"),
            ("930", "09:30"),
            ("1745", "17:45"),
            ("9", "09:00"),
            (" 23:59 ", "23:59"),
        ] {
            assert_eq!(parse_time(typed).as_deref(), Some(time), "{typed}");
        }
        for typed in ["", "24:00", "9:60", "9:3", "полдень", "1:2:3", "12345"] {
            assert_eq!(parse_time(typed), None, "{typed}");
        }
    }

    #[test]
    fn dates_are_read_as_people_type_them() {
        assert_eq!(parse_day("27.11.2026").as_deref(), Some("2026-11-27"));
        assert_eq!(parse_day(" 5.3.2026 ").as_deref(), Some("2026-03-05"));
        assert_eq!(parse_day("05/03/26").as_deref(), Some("2026-03-05"));
        assert_eq!(parse_day("2026-03-05").as_deref(), Some("2026-03-05"));
        assert_eq!(parse_day("29.02.2028").as_deref(), Some("2028-02-29"));
    }

    #[test]
    fn what_is_not_a_day_of_the_calendar_is_refused() {
        for text in [
            "",
            "27.11",
            "31.04.2026",
            "29.02.2026",
            "00.01.2026",
            "12.13.2026",
            "завтра",
            "1.2.3.2026",
            "27.11.20261",
            "27..2026",
        ] {
            assert_eq!(parse_day(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_day_shown_reads_back_as_itself() {
        for iso in ["2026-11-27", "2028-02-29", "2027-01-01"] {
            assert_eq!(parse_day(&day(iso)).as_deref(), Some(iso));
        }
    }
}
