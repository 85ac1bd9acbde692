//! Polls: creation, answers, live results, closing.

use std::collections::BTreeMap;

use super::super::protocol::{Poll, PollResults, ServerMessage};
use super::{
    forbidden, invalid, not_found, refusal, rfc3339, Ctx, Effect, Handled, PollState, Room, Step,
    Target, STUDENT,
};

const MAX_QUESTION_CHARS: usize = 500;
const MAX_OPTION_CHARS: usize = 200;
const MIN_OPTIONS: usize = 2;
const MAX_OPTIONS: usize = 6;
const MIN_DURATION_S: u32 = 5;
const MAX_DURATION_S: u32 = 3600;

/// A `create_poll` message's fields.
pub(super) struct NewPoll {
    pub question: String,
    pub options: Vec<String>,
    pub multiple: bool,
    pub duration_s: Option<u32>,
    pub share_results: bool,
}

impl PollState {
    pub(super) fn results(&self) -> PollResults {
        tally(
            &self.poll.id,
            self.poll.options.len(),
            self.answers.values().map(Vec::as_slice),
        )
    }
}

/// A poll's results from its answers (each the option indexes one
/// respondent chose): an option counts once per respondent, indexes out of
/// range are ignored, percentages are of the respondents, unrounded. The
/// live room and the session report both count this way.
pub fn tally<'a>(
    poll_id: &str,
    options: usize,
    answers: impl IntoIterator<Item = &'a [usize]>,
) -> PollResults {
    let mut counts = vec![0u64; options];
    let mut respondents = 0u64;
    for choices in answers {
        respondents = respondents.saturating_add(1);
        for (i, c) in choices.iter().enumerate() {
            // The room refuses repeated options; stored answers may not.
            let first = !choices[..i].contains(c);
            if let Some(n) = counts.get_mut(*c).filter(|_| first) {
                *n = n.saturating_add(1);
            }
        }
    }
    let percentages = counts
        .iter()
        .map(|&n| {
            if respondents == 0 {
                0.0
            } else {
                n as f64 / respondents as f64 * 100.0
            }
        })
        .collect();
    PollResults {
        poll_id: poll_id.to_owned(),
        counts,
        percentages,
        respondents,
    }
}

impl Room {
    pub(super) fn create_poll(
        &mut self,
        id: String,
        new: NewPoll,
        at_ms: i64,
        s: &mut Step,
    ) -> Handled {
        let question = new.question.trim().to_owned();
        let q_chars = question.chars().count();
        if q_chars == 0 || q_chars > MAX_QUESTION_CHARS {
            return Err(invalid(format!(
                "The question is 1 to {MAX_QUESTION_CHARS} characters."
            )));
        }
        if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&new.options.len()) {
            return Err(invalid(format!(
                "A poll has {MIN_OPTIONS} to {MAX_OPTIONS} options."
            )));
        }
        let options: Vec<String> = new.options.iter().map(|o| o.trim().to_owned()).collect();
        if options
            .iter()
            .any(|o| o.is_empty() || o.chars().count() > MAX_OPTION_CHARS)
        {
            return Err(invalid(format!(
                "Each option is 1 to {MAX_OPTION_CHARS} characters."
            )));
        }
        if let Some(d) = new.duration_s {
            if !(MIN_DURATION_S..=MAX_DURATION_S).contains(&d) {
                return Err(invalid(format!(
                    "A poll's timer is {MIN_DURATION_S} to {MAX_DURATION_S} seconds."
                )));
            }
        }
        if self.polls.iter().any(|p| p.poll.id == id) {
            return Err(invalid("Duplicate poll id."));
        }
        let closes_at_ms = new
            .duration_s
            .map(|d| at_ms.saturating_add(i64::from(d).saturating_mul(1000)));
        let poll = Poll {
            id,
            question,
            options,
            multiple: new.multiple,
            share_results: new.share_results,
            closes_at: closes_at_ms.map(rfc3339),
            closed: false,
        };
        self.open_poll(poll, closes_at_ms, s);
        Ok(())
    }

    /// Adds a new poll, open, and announces it.
    fn open_poll(&mut self, poll: Poll, closes_at_ms: Option<i64>, s: &mut Step) {
        self.polls.push(PollState {
            poll: poll.clone(),
            closes_at_ms,
            answers: BTreeMap::new(),
        });
        let stored = Effect::StorePoll(poll.clone());
        s.all_and_store(ServerMessage::PollOpened { poll }, stored);
    }

    pub(super) fn answer_poll(
        &mut self,
        c: &Ctx<'_>,
        poll_id: &str,
        choices: Vec<usize>,
        s: &mut Step,
    ) -> Handled {
        if c.role != STUDENT {
            return Err(forbidden("Only students answer polls."));
        }
        let Some(p) = self.polls.iter_mut().find(|p| p.poll.id == poll_id) else {
            return Err(not_found("No poll with that id."));
        };
        if p.poll.closed || p.closes_at_ms.is_some_and(|t| t <= c.at_ms) {
            return Err(invalid("The poll is closed."));
        }
        if p.answers.contains_key(c.from) {
            return Err(refusal(
                "already_answered",
                "You already answered this poll.",
            ));
        }
        if choices.is_empty() {
            return Err(invalid("Choose at least one option."));
        }
        if choices.iter().any(|&ch| ch >= p.poll.options.len()) {
            return Err(invalid("No such option."));
        }
        let mut sorted = choices.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != choices.len() {
            return Err(invalid("The same option twice."));
        }
        if !p.poll.multiple && choices.len() != 1 {
            return Err(invalid("This poll takes exactly one option."));
        }
        p.answers.insert(c.from.to_owned(), choices.clone());
        let to = if p.poll.share_results {
            Target::All
        } else {
            Target::Instructors
        };
        s.send(
            to,
            ServerMessage::PollResults {
                results: p.results(),
            },
        );
        s.effect(Effect::StoreAnswer {
            poll_id: poll_id.to_owned(),
            participant_id: c.from.to_owned(),
            choices,
        });
        Ok(())
    }

    /// Closes the poll at `pos` (open or not: the callers check).
    pub(super) fn close_poll(&mut self, pos: usize, s: &mut Step) {
        let Some(p) = self.polls.get_mut(pos) else {
            return;
        };
        p.poll.closed = true;
        let poll = p.poll.clone();
        let results = p.results();
        let stored = Effect::ClosePoll {
            poll: poll.clone(),
            results: results.clone(),
        };
        s.all_and_store(ServerMessage::PollClosed { poll, results }, stored);
    }
}

#[cfg(test)]
mod tally_tests {
    use super::tally;

    #[test]
    fn each_option_counts_once_per_respondent() {
        let answers = [vec![0], vec![0, 2], vec![2, 2, 7]];
        let r = tally("p", 3, answers.iter().map(Vec::as_slice));
        assert_eq!(r.poll_id, "p");
        assert_eq!(r.counts, vec![2, 0, 2]);
        assert_eq!(r.respondents, 3);
        assert!((r.percentages[0] - 200.0 / 3.0).abs() < 1e-9, "unrounded");
        assert_eq!(r.percentages[1], 0.0);
    }

    #[test]
    fn no_answers_no_division() {
        let r = tally("p", 2, []);
        assert_eq!(r.counts, vec![0, 0]);
        assert_eq!(r.percentages, vec![0.0, 0.0]);
        assert_eq!(r.respondents, 0);
    }
}
