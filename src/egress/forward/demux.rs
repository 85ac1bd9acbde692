//! Which viewer a datagram on the shared socket is for: by the address it
//! came from once known, else by the ICE username of a STUN binding request
//! (`<our ufrag>:<their ufrag>`), which is how a new address (a viewer whose
//! network changed) makes itself known. Pure: tested without sockets.

use std::collections::HashMap;
use std::net::SocketAddr;

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER: usize = 20;
const USERNAME: u16 = 0x0006;
const USE_CANDIDATE: u16 = 0x0025;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;

/// A well-formed STUN message's type and attributes (type, value).
fn stun(datagram: &[u8]) -> Option<(u16, Attributes<'_>)> {
    if datagram.len() < HEADER || datagram[0] & 0xC0 != 0 || datagram[4..8] != MAGIC_COOKIE {
        return None;
    }
    let kind = u16::from_be_bytes([datagram[0], datagram[1]]);
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram.get(HEADER..HEADER + length)?;
    Some((kind, Attributes { body, at: 0 }))
}

struct Attributes<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let head = self.body.get(self.at..self.at + 4)?;
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = self.body.get(self.at + 4..self.at + 4 + len)?;
        // Attributes are padded to 4 bytes.
        self.at += 4 + len.div_ceil(4) * 4;
        Some((kind, value))
    }
}

/// Our ufrag from a STUN message's USERNAME attribute, if the datagram is a
/// well-formed STUN message that has one.
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    let (_, mut attributes) = stun(datagram)?;
    let (_, value) = attributes.find(|(kind, _)| *kind == USERNAME)?;
    let username = std::str::from_utf8(value).ok()?;
    username.split(':').next().filter(|u| !u.is_empty())
}

/// Whether the datagram is a binding request nominating its pair
/// (USE-CANDIDATE: the controlling viewer sends its media this way now).
pub fn stun_nominates(datagram: &[u8]) -> bool {
    stun(datagram).is_some_and(|(kind, mut attributes)| {
        kind == BINDING_REQUEST && attributes.any(|(a, _)| a == USE_CANDIDATE)
    })
}

/// Whether the datagram is a binding success response (str0m sends one
/// only to a request that passed its integrity check).
pub fn stun_binding_success(datagram: &[u8]) -> bool {
    stun(datagram).is_some_and(|(kind, _)| kind == BINDING_SUCCESS)
}

/// Viewers by ufrag and by the remote addresses they used.
#[derive(Debug, Default)]
pub struct Demux<Id> {
    by_ufrag: HashMap<String, Id>,
    by_addr: HashMap<SocketAddr, Id>,
}

impl<Id: Copy + Eq> Demux<Id> {
    pub fn add(&mut self, ufrag: &str, id: Id) {
        self.by_ufrag.insert(ufrag.to_owned(), id);
    }

    /// Forgets a viewer: its ufrag and every address it used.
    pub fn remove(&mut self, ufrag: &str) {
        if let Some(id) = self.by_ufrag.remove(ufrag) {
            self.by_addr.retain(|_, v| *v != id);
        }
    }

    /// The viewer a datagram from `source` is for. A STUN request naming a
    /// viewer's ufrag from a new address binds that address to it (ICE
    /// checks it; media goes there only once str0m nominates the pair).
    pub fn route(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<Id> {
        if let Some(ufrag) = stun_local_ufrag(datagram) {
            let id = *self.by_ufrag.get(ufrag)?;
            self.by_addr.insert(source, id);
            return Some(id);
        }
        self.by_addr.get(&source).copied()
    }

    pub fn addresses(&self) -> usize {
        self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        message(BINDING_REQUEST, username, false)
    }

    fn message(kind: u16, username: &str, use_candidate: bool) -> Vec<u8> {
        let mut attrs = Vec::new();
        // A PRIORITY attribute first, as browsers send.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        if use_candidate {
            attrs.extend_from_slice(&USE_CANDIDATE.to_be_bytes());
            attrs.extend_from_slice(&[0, 0]);
        }
        attrs.extend_from_slice(&USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut msg = kind.to_be_bytes().to_vec();
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attrs);
        msg
    }

    #[test]
    fn the_username_names_our_ufrag() {
        assert_eq!(stun_local_ufrag(&binding_request("srv1:cli")), Some("srv1"));
        assert_eq!(stun_local_ufrag(&binding_request(":cli")), None);
        // RTP (version 2) and truncated messages are not STUN.
        assert_eq!(stun_local_ufrag(&[0x80; 40]), None);
        let mut cut = binding_request("srv1:cli");
        cut.truncate(30);
        assert_eq!(stun_local_ufrag(&cut), None);
        assert_eq!(stun_local_ufrag(&[]), None);
    }

    #[test]
    fn a_nomination_and_an_answer_are_told_apart() {
        let nominating = message(BINDING_REQUEST, "srv1:cli", true);
        assert!(stun_nominates(&nominating));
        assert_eq!(stun_local_ufrag(&nominating), Some("srv1"));
        assert!(!stun_nominates(&binding_request("srv1:cli")));
        // A response carrying the attribute is not a request.
        assert!(!stun_nominates(&message(BINDING_SUCCESS, "srv1:cli", true)));
        assert!(stun_binding_success(&message(
            BINDING_SUCCESS,
            "x:y",
            false
        )));
        assert!(!stun_binding_success(&nominating));
        // RTP, DTLS and truncated messages are neither.
        for not_stun in [&[0x80u8; 40][..], &[22u8; 40][..], &nominating[..24]] {
            assert!(!stun_nominates(not_stun) && !stun_binding_success(not_stun));
        }
    }

    #[test]
    fn stun_binds_addresses_and_media_follows_them() {
        let mut demux = Demux::default();
        demux.add("aaaa", 1u32);
        demux.add("bbbb", 2u32);
        let a1: SocketAddr = "10.0.0.1:5000".parse().expect("address");
        let a2: SocketAddr = "10.0.0.9:6000".parse().expect("address");
        let rtcp = [0x80u8, 200, 0, 1, 0, 0, 0, 0];
        assert_eq!(demux.route(a1, &rtcp), None, "unknown address");
        assert_eq!(demux.route(a1, &binding_request("aaaa:x")), Some(1));
        assert_eq!(demux.route(a1, &rtcp), Some(1));
        // The viewer moved: the new address is bound by its check.
        assert_eq!(demux.route(a2, &binding_request("aaaa:x")), Some(1));
        assert_eq!(demux.route(a2, &rtcp), Some(1));
        assert_eq!(demux.route(a2, &binding_request("zzzz:x")), None);
        demux.remove("aaaa");
        assert_eq!(demux.route(a1, &rtcp), None);
        assert_eq!(demux.route(a2, &rtcp), None);
        assert_eq!(demux.addresses(), 0);
    }
}
