//! The lead API's server-sent events (`GET /api/v1/programmes/{id}/events`) as their
//! bytes arrive: one parser for every follower, the page's `fetch` in a browser and the
//! app's HTTP client, so both read the stream alike.

/// Server-sent events as their bytes arrive: complete events (blocks ending in a blank
/// line) come out by name, a partial one waits for the rest. Comment lines (`:`, the
/// keep-alive) and unnamed events are skipped.
#[derive(Debug, Default)]
pub struct EventLines {
    pending: Vec<u8>,
}

impl EventLines {
    /// Takes `bytes` and returns the names of the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending
            .extend(bytes.iter().copied().filter(|&b| b != b'\r'));
        let mut names = Vec::new();
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.pending.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            if let Some(name) = text
                .lines()
                .find_map(|line| line.strip_prefix("event:"))
                .map(str::trim)
                .filter(|name| !name.is_empty())
            {
                names.push(name.to_owned());
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::EventLines;

    #[test]
    fn events_split_across_chunks_come_out_whole_and_in_order() {
        let mut lines = EventLines::default();
        assert!(lines.push(b"event: sta").is_empty());
        assert!(lines.push(b"tus\ndata: {\"version\":1}\n").is_empty());
        assert_eq!(
            lines.push(b"\nevent: status\ndata: {}\n\nevent:"),
            ["status", "status"]
        );
        assert_eq!(lines.push(b" status\r\n\r\n"), ["status"]);
    }

    #[test]
    fn keep_alive_comments_and_unnamed_events_are_skipped() {
        let mut lines = EventLines::default();
        assert!(lines.push(b":\n\n: ping\n\ndata: x\n\n").is_empty());
        assert_eq!(lines.push(b"event: status\n\n"), ["status"]);
    }
}
