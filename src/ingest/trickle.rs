//! `application/trickle-ice-sdpfrag` bodies (RFC 8840) sent with WHIP PATCH.

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
    fn rejects_garbage() {
        assert!(parse_fragment("").is_err());
        assert!(parse_fragment("hello world").is_err());
        assert!(parse_fragment("a=candidate:").is_err());
        assert!(parse_fragment("z=1").is_err());
    }
}
