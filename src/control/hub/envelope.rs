//! What travels on a session's broker channel, and how it fits the broker's
//! payload limit: envelopes too large for one payload go in pieces and are
//! put back together on arrival.

use serde::{Deserialize, Serialize};

use super::super::broker::MAX_PAYLOAD_BYTES;
use super::super::protocol::{Layout, Publish, ServerMessage};
use super::super::room::Input;

/// One message on a session's broker channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "envelope", rename_all = "snake_case")]
pub(super) enum Envelope {
    Input {
        origin: String,
        input: Input,
    },
    /// A process that starts the room asks for a copy.
    SyncRequest {
        origin: String,
        nonce: String,
    },
    /// One piece of a room copy: the whole room (chat history included)
    /// exceeds what one broker message may carry (PostgreSQL: 8000 bytes).
    SnapshotPart {
        nonce: String,
        index: usize,
        total: usize,
        data: String,
    },
    /// An action on a participant's media, run by whichever process holds
    /// their WHIP/WHEP resources.
    Enforce {
        participant_id: String,
        action: Enforcement,
    },
    /// Someone publishes (or stopped) in the process that holds the publish.
    Live {
        live: bool,
    },
    /// The class's publishes that one process holds (when they change, and
    /// every few seconds).
    Publishes {
        origin: String,
        publishes: Vec<Publish>,
    },
    /// The broadcast's layout changed (and is stored): every process's
    /// composition of the session follows it.
    Layout {
        layout: Layout,
    },
    /// A message for one participant, wherever their socket is.
    Direct {
        participant_id: String,
        message: ServerMessage,
    },
    /// One piece of an envelope too large for one broker message (a long
    /// chat message full of characters JSON escapes); applied when the last
    /// piece arrives, so every process applies it at the same point.
    Part {
        id: String,
        index: usize,
        total: usize,
        data: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Enforcement {
    Kick,
    Demote,
    MuteAudio,
}

/// A room copy (or an oversized envelope) is sent in pieces of at most this
/// many bytes once escaped as a JSON string: with the envelope around it,
/// one piece stays under the broker's limit.
pub(super) const SNAPSHOT_PIECE: usize = 6000;
/// Pieces of oversized envelopes being put together at once (only server
/// processes publish on the channel; this bounds a confused one).
const MAX_PARTIAL_ENVELOPES: usize = 64;

#[derive(Debug, thiserror::Error)]
#[error("envelope: {0}")]
pub(super) struct EncodeError(#[from] serde_json::Error);

/// The broker payloads that carry `envelope`: one, or its `Envelope::Part`s
/// (under a fresh id from `new_id`) when it is over the broker's limit.
pub(super) fn encode(
    envelope: &Envelope,
    new_id: impl FnOnce() -> String,
) -> Result<Vec<String>, EncodeError> {
    let payload = serde_json::to_string(envelope)?;
    if payload.len() <= MAX_PAYLOAD_BYTES {
        return Ok(vec![payload]);
    }
    let id = new_id();
    let pieces = split_escaped(&payload, SNAPSHOT_PIECE);
    let total = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(index, data)| {
            let part = Envelope::Part {
                id: id.clone(),
                index,
                total,
                data,
            };
            Ok(serde_json::to_string(&part)?)
        })
        .collect()
}

/// A room copy as `Envelope::SnapshotPart`s answering the request `nonce`.
pub(super) fn snapshot_parts(copy: &serde_json::Value, nonce: &str) -> Vec<Envelope> {
    let pieces = split_escaped(&copy.to_string(), SNAPSHOT_PIECE);
    let total = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(index, data)| Envelope::SnapshotPart {
            nonce: nonce.to_owned(),
            index,
            total,
            data,
        })
        .collect()
}

/// Envelopes from broker payloads, putting oversized ones back together
/// from their `Envelope::Part`s.
#[derive(Default)]
pub(super) struct Parts {
    /// By envelope id, in arrival order of the first piece.
    partial: Vec<(String, Pieces)>,
}

impl Parts {
    /// The payload's envelope: `None` for a bad payload or a piece that does
    /// not complete its envelope.
    pub(super) fn envelope(&mut self, payload: &str) -> Option<Envelope> {
        let envelope = match serde_json::from_str::<Envelope>(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("bad envelope on the broker: {e}");
                return None;
            }
        };
        let Envelope::Part {
            id,
            index,
            total,
            data,
        } = envelope
        else {
            return Some(envelope);
        };
        let pos = match self.partial.iter().position(|(i, _)| *i == id) {
            Some(pos) => pos,
            None => {
                if self.partial.len() >= MAX_PARTIAL_ENVELOPES {
                    self.partial.remove(0);
                }
                self.partial.push((id, Pieces::default()));
                self.partial.len() - 1
            }
        };
        let text = self.partial.get_mut(pos)?.1.add(index, total, data)?;
        self.partial.remove(pos);
        match serde_json::from_str::<Envelope>(&text) {
            // Pieces do not nest.
            Ok(Envelope::Part { .. }) => None,
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!("bad envelope from pieces on the broker: {e}");
                None
            }
        }
    }
}

/// A text arriving in pieces (a room copy, an oversized envelope).
#[derive(Default)]
pub(super) struct Pieces(Vec<Option<String>>);

impl Pieces {
    /// Adds one piece (again is harmless); the whole text once every piece
    /// is in.
    pub(super) fn add(&mut self, index: usize, total: usize, data: String) -> Option<String> {
        if self.0.len() != total {
            self.0 = vec![None; total.min(10_000)];
        }
        if let Some(slot) = self.0.get_mut(index) {
            *slot = Some(data);
        }
        if self.0.is_empty() || !self.0.iter().all(Option::is_some) {
            return None;
        }
        Some(self.0.iter().flatten().map(String::as_str).collect())
    }
}

/// `text` in pieces that take at most `max` bytes each once escaped as a
/// JSON string (a piece travels inside an envelope: `"` and `\` double,
/// control characters grow to six bytes), cut at character boundaries.
fn split_escaped(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut size = 0;
    for c in text.chars() {
        let escaped = match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if size + escaped > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            size = 0;
        }
        current.push(c);
        size += escaped;
    }
    pieces.push(current);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_cut_into_pieces_that_join_back() {
        let text = "é".repeat(5000) + "abc";
        let pieces = split_escaped(&text, 6000);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.len() <= 6000));
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_escaped("", 10), vec![String::new()]);
    }

    #[test]
    fn pieces_fit_once_escaped_and_oversized_envelopes_join_back() {
        // Quotes and control characters grow when a piece is escaped again.
        let text = "\"\\\u{1}é😀".repeat(3000);
        let pieces = split_escaped(&text, SNAPSHOT_PIECE);
        assert_eq!(pieces.concat(), text);
        for p in &pieces {
            let escaped = serde_json::to_string(p).expect("json").len() - 2;
            assert!(escaped <= SNAPSHOT_PIECE, "{escaped}");
        }
        // An envelope over the broker limit goes in parts, each under it,
        // and comes back whole, whatever else is interleaved.
        let envelope = Envelope::Direct {
            participant_id: "p".into(),
            message: ServerMessage::Alert {
                kind: "k".into(),
                message: text.clone(),
            },
        };
        let payloads = encode(&envelope, || "x".into()).expect("encodes");
        assert!(payloads.len() > 1);
        let total = payloads.len();
        let mut parts = Parts::default();
        let mut got = None;
        for (index, part) in payloads.iter().enumerate() {
            assert!(part.len() <= MAX_PAYLOAD_BYTES, "{}", part.len());
            assert!(parts
                .envelope(r#"{"envelope":"live","live":true}"#)
                .is_some());
            got = parts.envelope(part);
            assert_eq!(got.is_some(), index + 1 == total);
        }
        assert_eq!(got, Some(envelope));
    }

    #[test]
    fn small_envelopes_go_whole() {
        let envelope = Envelope::Live { live: true };
        let payloads = encode(&envelope, || "x".into()).expect("encodes");
        assert_eq!(payloads.len(), 1);
        assert_eq!(Parts::default().envelope(&payloads[0]), Some(envelope));
    }
}
