//! Answers that come back out of order: a page reads the same data again (after a
//! change, on a poll, when a sync brought news) and the reads can be answered in any
//! order. [`Answers`] keeps what is shown the newest: an answer is taken only if no
//! later read's answer (or anything newer shown meanwhile) was.

/// The reads of one piece of data a page shows, numbered as they start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Answers {
    /// Reads started.
    started: u64,
    /// The latest read whose answer was taken (or overtaken by something shown).
    taken: u64,
}

impl Answers {
    /// A read starts: its number, for [`Self::take`].
    pub fn start(&mut self) -> u64 {
        self.started += 1;
        self.started
    }

    /// Whether the answer of read `read` may be shown: no later read's answer was. Notes
    /// it as taken when it may.
    pub fn take(&mut self, read: u64) -> bool {
        if read <= self.taken {
            return false;
        }
        self.taken = read;
        true
    }

    /// Something newer than every read started so far is shown (e.g. the reply to the
    /// user's own change): their answers are all stale.
    pub fn overtake(&mut self) {
        self.started += 1;
        self.taken = self.started;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_arriving_after_a_later_reads_answer_is_dropped() {
        let mut answers = Answers::default();
        let poll = answers.start();
        let reload = answers.start();
        assert!(answers.take(reload));
        assert!(!answers.take(poll), "the older read answered last");
    }

    #[test]
    fn answers_in_order_are_all_taken_and_none_twice() {
        let mut answers = Answers::default();
        let first = answers.start();
        let second = answers.start();
        assert!(answers.take(first));
        assert!(answers.take(second));
        assert!(!answers.take(second));
    }

    #[test]
    fn a_read_is_not_starved_by_reads_started_after_it() {
        // Polls start faster than they are answered: each answer is still shown.
        let mut answers = Answers::default();
        let first = answers.start();
        let second = answers.start();
        assert!(answers.take(first));
        let third = answers.start();
        assert!(answers.take(second));
        assert!(answers.take(third));
    }

    #[test]
    fn what_the_user_changed_overtakes_the_reads_started_before() {
        let mut answers = Answers::default();
        let before = answers.start();
        answers.overtake();
        assert!(!answers.take(before), "read before the change");
        let after = answers.start();
        assert!(answers.take(after));
    }
}
