//! The sockets of one room in this process, and delivery of the room's
//! outputs to the ones they address.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use super::super::protocol::{serialize, Quality, ServerMessage};
use super::super::room::{Output, Target};

/// What a socket receives from its room. Messages come serialized: a
/// message to the whole room is written once, not once per receiver.
#[derive(Debug, Clone)]
pub enum ToSocket {
    Message(Utf8Bytes),
    /// An `error` answering one of the socket's messages: it counts toward
    /// the socket's abuse limit like a frame that does not parse.
    Refused(Utf8Bytes),
    Close {
        code: u16,
        reason: String,
    },
}

pub(super) struct LocalSocket {
    pub(super) participant_id: String,
    pub(super) instructor: bool,
    /// Welcomed into the room (not waiting in the lobby).
    pub(super) admitted: bool,
    pub(super) socket: mpsc::Sender<ToSocket>,
    /// Told when the socket's queue overflowed.
    pub(super) too_slow: Arc<Notify>,
}

/// A room's local sockets, by connection.
#[derive(Default)]
pub(super) struct Registry {
    sockets: HashMap<String, LocalSocket>,
    /// The quality last published per local participant.
    quality: HashMap<String, Option<Quality>>,
}

impl Registry {
    pub(super) fn connect(&mut self, connection: String, socket: LocalSocket) {
        self.sockets.insert(connection, socket);
    }

    pub(super) fn disconnect(&mut self, connection: &str) {
        self.sockets.remove(connection);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// The local participants welcomed into the room.
    pub(super) fn admitted(&self) -> BTreeSet<String> {
        self.sockets
            .values()
            .filter(|s| s.admitted)
            .map(|s| s.participant_id.clone())
            .collect()
    }

    /// Records `quality` for the participant; `false` when it is what was
    /// last recorded (nothing to publish).
    pub(super) fn quality_changed(
        &mut self,
        participant_id: &str,
        quality: Option<Quality>,
    ) -> bool {
        if self.quality.get(participant_id) == Some(&quality) {
            return false;
        }
        self.quality.insert(participant_id.to_owned(), quality);
        true
    }

    /// Hands each output to the local sockets it addresses (without
    /// waiting: a full queue closes that socket as too slow).
    pub(super) fn deliver(&mut self, outputs: Vec<Output>) {
        let mut too_slow: Vec<String> = Vec::new();
        for output in outputs {
            match output {
                Output::Send { to, msg } => self.send(&to, &msg, &mut too_slow),
                Output::Close {
                    connection,
                    code,
                    reason,
                } => {
                    if let Some(s) = self.sockets.remove(&connection) {
                        if let Err(mpsc::error::TrySendError::Full(_)) =
                            s.socket.try_send(ToSocket::Close { code, reason })
                        {
                            s.too_slow.notify_one();
                        }
                    }
                }
            }
        }
        // Its socket leaves the room when it closes (`Membership::leave`).
        for connection in too_slow {
            self.sockets.remove(&connection);
        }
    }

    fn send(&mut self, to: &Target, msg: &ServerMessage, too_slow: &mut Vec<String>) {
        if matches!(msg, ServerMessage::Welcome { .. }) {
            if let Target::Participant(p) = to {
                for s in self.sockets.values_mut() {
                    if &s.participant_id == p {
                        s.admitted = true;
                    }
                }
            }
        }
        let mut serialized: Option<Utf8Bytes> = None;
        let refusal = matches!(msg, ServerMessage::Error { .. });
        for (connection, s) in &self.sockets {
            let addressed = match to {
                Target::All => s.admitted,
                Target::AllExcept(p) => s.admitted && &s.participant_id != p,
                Target::Participant(p) => &s.participant_id == p,
                Target::Instructors => s.admitted && s.instructor,
            };
            if !addressed || too_slow.contains(connection) {
                continue;
            }
            let text = serialized.get_or_insert_with(|| serialize(msg)).clone();
            let item = if refusal {
                ToSocket::Refused(text)
            } else {
                ToSocket::Message(text)
            };
            // A socket that cannot keep up never holds up the room: its
            // queue is bounded, and once full the socket is let go (it
            // closes with 4008 and its client reconnects to a fresh
            // `welcome`) rather than going on with a hole in what it was
            // sent.
            if let Err(mpsc::error::TrySendError::Full(_)) = s.socket.try_send(item) {
                tracing::info!(participant = %s.participant_id, "socket queue full; closing it as too slow");
                s.too_slow.notify_one();
                too_slow.push(connection.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn socket(
        registry: &mut Registry,
        connection: &str,
        queue: usize,
    ) -> (mpsc::Receiver<ToSocket>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(queue);
        let too_slow = Arc::new(Notify::new());
        registry.connect(
            connection.into(),
            LocalSocket {
                participant_id: connection.into(),
                instructor: false,
                admitted: true,
                socket: tx,
                too_slow: too_slow.clone(),
            },
        );
        (rx, too_slow)
    }

    fn to_all(n: usize) -> Vec<Output> {
        (0..n)
            .map(|_| Output::Send {
                to: Target::All,
                msg: ServerMessage::MuteRequested,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_socket_whose_queue_fills_is_let_go_not_left_with_holes() {
        let mut registry = Registry::default();
        let (mut slow_rx, slow) = socket(&mut registry, "slow", 4);
        let (mut fast_rx, _) = socket(&mut registry, "fast", 64);
        registry.deliver(to_all(6));
        // Told to close, and no longer fed: nothing after the hole.
        tokio::time::timeout(Duration::from_secs(5), slow.notified())
            .await
            .expect("the slow socket is told");
        assert!(!registry.sockets.contains_key("slow"));
        registry.deliver(to_all(1));
        let mut got = 0;
        while slow_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 4, "what fitted, then nothing");
        // The others get everything.
        let mut got = 0;
        while fast_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 7);
    }

    #[test]
    fn refusals_are_marked_for_the_abuse_count() {
        let mut registry = Registry::default();
        let (mut rx, _) = socket(&mut registry, "a", 4);
        registry.deliver(vec![Output::Send {
            to: Target::Participant("a".into()),
            msg: ServerMessage::Error {
                code: "rate_limited".into(),
                message: "m".into(),
            },
        }]);
        assert!(matches!(rx.try_recv(), Ok(ToSocket::Refused(_))));
    }
}
