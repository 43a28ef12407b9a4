//! The server's clock: now in unix milliseconds, and today's date.

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Today (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    day(time::OffsetDateTime::now_utc().date())
}

/// The day (UTC) of unix milliseconds `ms`, `YYYY-MM-DD`.
pub fn day_of(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    day(at.date())
}

fn day(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
