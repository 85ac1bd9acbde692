//! `application/trickle-ice-sdpfrag` bodies (RFC 8840) sent with WHIP and
//! WHEP PATCH, checked before any of it reaches webrtcbin: a bounded number of
//! candidates, each well-formed with a unicast address and a real port.

use std::net::IpAddr;

/// Trickled candidates one resource takes in all (a browser sends a handful
/// per network interface).
pub const MAX_CANDIDATES: usize = 50;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct TrickleFragment {
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    /// (mid of the m-section it appeared in, `candidate:…` without `a=`)
    pub candidates: Vec<(Option<String>, String)>,
    pub end_of_candidates: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed SDP fragment: {0}")]
pub struct FragmentError(pub String);

pub fn parse_fragment(text: &str) -> Result<TrickleFragment, FragmentError> {
    let mut frag = TrickleFragment::default();
    let mut mid = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (kind, value) = line
            .split_once('=')
            .filter(|(k, _)| k.len() == 1)
            .ok_or_else(|| FragmentError(format!("line {line:?} is not `x=value`")))?;
        match kind {
            "m" => mid = None,
            "a" => {
                let (attr, val) = value.split_once(':').unwrap_or((value, ""));
                match attr {
                    "ice-ufrag" => frag.ice_ufrag = Some(val.to_owned()),
                    "ice-pwd" => frag.ice_pwd = Some(val.to_owned()),
                    "mid" => mid = Some(val.to_owned()),
                    "candidate" if !val.is_empty() => {
                        check_candidate(val)?;
                        if frag.candidates.len() >= MAX_CANDIDATES {
                            return Err(FragmentError(format!(
                                "more than {MAX_CANDIDATES} candidates in one fragment"
                            )));
                        }
                        frag.candidates.push((mid.clone(), value.to_owned()))
                    }
                    "candidate" => return Err(FragmentError("empty candidate".into())),
                    "end-of-candidates" => frag.end_of_candidates = true,
                    _ => {}
                }
            }
            "c" | "b" | "t" | "s" | "o" | "v" => {}
            other => return Err(FragmentError(format!("unexpected line type {other:?}"))),
        }
    }
    if frag == TrickleFragment::default() {
        return Err(FragmentError("no ICE attributes or candidates".into()));
    }
    Ok(frag)
}

/// Checks one `candidate:` value (after `candidate:`), RFC 8839 §5.1:
/// `foundation component transport priority address port typ type …`.
/// The address must be a unicast IP or an mDNS `.local` name, the port
/// 1..=65535: nothing that points ICE checks at a broadcast, multicast or
/// unspecified address.
pub fn check_candidate(value: &str) -> Result<(), FragmentError> {
    let bad = |why: &str| FragmentError(format!("candidate {value:?}: {why}"));
    if value.len() > 512 {
        return Err(bad("longer than 512 bytes"));
    }
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [foundation, component, transport, priority, address, port, typ, kind, ..] = fields[..]
    else {
        return Err(bad(
            "fewer fields than `foundation component transport priority address port typ type`",
        ));
    };
    if foundation.is_empty() || foundation.len() > 32 {
        return Err(bad("foundation must be 1 to 32 characters"));
    }
    if !component
        .parse::<u16>()
        .is_ok_and(|c| (1..=256).contains(&c))
    {
        return Err(bad("component must be 1..=256"));
    }
    if !["udp", "tcp"].contains(&transport.to_ascii_lowercase().as_str()) {
        return Err(bad("transport must be UDP or TCP"));
    }
    if priority.parse::<u32>().is_err() {
        return Err(bad("priority must be a 32-bit number"));
    }
    match address.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
            return Err(bad("address must be unicast"))
        }
        Ok(IpAddr::V4(v4)) if v4.is_broadcast() => return Err(bad("address must be unicast")),
        Ok(_) => {}
        Err(_) if is_mdns_name(address) => {}
        Err(_) => return Err(bad("address must be an IP address or an mDNS .local name")),
    }
    if !port.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err(bad("port must be 1..=65535"));
    }
    if typ != "typ" || !["host", "srflx", "prflx", "relay"].contains(&kind) {
        return Err(bad("type must be `typ host|srflx|prflx|relay`"));
    }
    Ok(())
}

/// Browsers hide host addresses behind `<uuid>.local` names.
fn is_mdns_name(address: &str) -> bool {
    address.len() <= 253
        && address.strip_suffix(".local").is_some_and(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc8840_example() {
        let text = "a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\nm=audio 9 RTP/AVP 0\r\n\
                    a=mid:0\r\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n\
                    a=end-of-candidates\r\n";
        let f = parse_fragment(text).expect("parse");
        assert_eq!(f.ice_ufrag.as_deref(), Some("EsAw"));
        assert_eq!(f.candidates.len(), 1);
        assert_eq!(f.candidates[0].0.as_deref(), Some("0"));
        assert!(f.candidates[0].1.starts_with("candidate:1387637174 1 udp"));
        assert!(f.end_of_candidates);
    }

    #[test]
    fn refuses_candidates_to_odd_addresses_and_ports() {
        for ok in [
            "1 1 UDP 2015363327 192.0.2.77 40000 typ host",
            "842163049 1 udp 1677729535 203.0.113.5 3478 typ srflx raddr 0.0.0.0 rport 0",
            "1 1 udp 2122260223 4f1c2b7a-9d3e-4c55-a1c6-0d3f1d2b9e88.local 55000 typ host",
            "2 1 tcp 1518280447 fd00::1 9 typ host tcptype active",
        ] {
            assert_eq!(check_candidate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "1 1 UDP 2015363327 0.0.0.0 40000 typ host",
            "1 1 UDP 2015363327 255.255.255.255 40000 typ host",
            "1 1 UDP 2015363327 224.0.0.1 40000 typ host",
            "1 1 UDP 2015363327 ff02::1 40000 typ host",
            "1 1 UDP 2015363327 example.com 40000 typ host",
            "1 1 UDP 2015363327 192.0.2.1 0 typ host",
            "1 1 UDP 2015363327 192.0.2.1 70000 typ host",
            "1 0 UDP 2015363327 192.0.2.1 4000 typ host",
            "1 1 SCTP 2015363327 192.0.2.1 4000 typ host",
            "1 1 UDP 2015363327 192.0.2.1 4000 typ bogus",
            "1 1 UDP 2015363327 192.0.2.1",
        ] {
            assert!(check_candidate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_fragment_takes_at_most_the_limit() {
        let line = "a=candidate:1 1 UDP 2015363327 192.0.2.77 40000 typ host\r\n";
        assert!(parse_fragment(&line.repeat(MAX_CANDIDATES)).is_ok());
        let err = parse_fragment(&line.repeat(MAX_CANDIDATES + 1)).expect_err("too many");
        assert!(err.0.contains("more than"), "{err}");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_fragment("").is_err());
        assert!(parse_fragment("hello world").is_err());
        assert!(parse_fragment("a=candidate:").is_err());
        assert!(parse_fragment("z=1").is_err());
    }
}
