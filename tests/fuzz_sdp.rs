//! Property-based fuzzing of what a client's offer and trickle PATCH bodies go
//! through before any media is set up: `media::sdp::{parse,
//! unbundle_if_mixed_credentials, plan_offer, plan_view_offer}` and
//! `ingest::trickle::parse_fragment`. Whatever the bytes, the analysis must
//! not panic, and its work and output stay bounded by the input's size.

use std::time::{Duration, Instant};

use classcast::ingest::trickle::parse_fragment;
use classcast::media::sdp::{
    self, parse, plan_offer, plan_view_offer, unbundle_if_mixed_credentials, Codec,
};
use classcast::media::VideoCodecPref;
use proptest::prelude::*;

/// The server's default `--max-sdp-bytes`: the largest body a client can send.
const MAX_SDP_BYTES: usize = 64 * 1024;

/// Time allowed for one whole analysis of one body (debug build, a busy
/// 2-core machine): generous, but far below what a quadratic walk over a
/// 64 KB offer or a thread per m-line would take.
const MAX_ANALYSIS: Duration = Duration::from_secs(2);

fn init() {
    classcast::media::init().expect("gstreamer");
}

/// Runs every analysis a WHIP and a WHEP POST make on `text`, the way the
/// handlers chain them, and checks the output is bounded by the input.
fn analyse_offer(text: &str) {
    let start = Instant::now();
    let Ok(mut offer) = parse(text) else {
        return;
    };
    let mlines = offer.medias_len() as usize;
    unbundle_if_mixed_credentials(&mut offer);
    assert_eq!(
        offer.medias_len() as usize,
        mlines,
        "unbundling keeps m-lines"
    );
    let view_codecs: [&[Codec]; 4] = [
        &[],
        &[Codec::H264],
        &[Codec::Vp8],
        &[Codec::Vp8, Codec::H264],
    ];
    let mut plans = Vec::new();
    for prefer in [VideoCodecPref::H264, VideoCodecPref::Vp8] {
        plans.push(plan_offer(&offer, prefer));
    }
    for codecs in view_codecs {
        plans.push(plan_view_offer(&offer, codecs, codecs.is_empty()));
    }
    for plan in plans.into_iter().flatten() {
        assert!(!plan.media.is_empty(), "an Ok plan has media");
        assert!(
            plan.media.len() <= mlines,
            "{} planned of {mlines}",
            plan.media.len()
        );
        assert_eq!(plan.mids.len(), mlines);
        assert!(plan.ice_ufrags.len() <= mlines + 1);
        for m in &plan.media {
            assert!((m.mline as usize) < mlines);
            // Caps come from the offer's own attributes: never larger than a
            // small multiple of it.
            assert!(m.caps.to_string().len() <= 4 * text.len() + 1024);
        }
    }
    let took = start.elapsed();
    assert!(
        took < MAX_ANALYSIS,
        "analysing a {} byte offer with {mlines} m-lines took {took:?}",
        text.len()
    );
}

fn analyse_fragment(text: &str) {
    let start = Instant::now();
    if let Ok(f) = parse_fragment(text) {
        let lines = text.lines().count();
        assert!(
            f.candidates.len() <= lines,
            "{} candidates of {lines} lines",
            f.candidates.len()
        );
        let kept: usize = f
            .candidates
            .iter()
            .map(|(m, c)| c.len() + m.as_ref().map_or(0, String::len))
            .sum();
        // A candidate's mid is repeated once per candidate; nothing else grows.
        assert!(kept <= text.len() * (1 + f.candidates.len()));
    }
    let took = start.elapsed();
    assert!(
        took < MAX_ANALYSIS,
        "a {} byte fragment took {took:?}",
        text.len()
    );
}

// ---------------------------------------------------------------- generators

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9+/]{0,32}",
        "[ -~]{0,40}",
        any::<String>().prop_map(|s| s.chars().take(64).collect()),
    ]
}

fn payload_type() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u32..=255).prop_map(|p| p.to_string()),
        1 => any::<i64>().prop_map(|p| p.to_string()),
        1 => "[0-9a-z-]{0,6}",
    ]
}

fn encoding() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("opus".to_owned()),
        Just("OPUS".to_owned()),
        Just("H264".to_owned()),
        Just("h264".to_owned()),
        Just("VP8".to_owned()),
        Just("VP9".to_owned()),
        Just("AV1".to_owned()),
        Just("red".to_owned()),
        Just("rtx".to_owned()),
        Just("ulpfec".to_owned()),
        "[A-Za-z0-9-]{0,12}",
    ]
}

fn rtpmap() -> impl Strategy<Value = String> {
    (
        payload_type(),
        encoding(),
        prop_oneof![Just(90000u64), Just(48000), any::<u64>()],
        prop::option::of(prop_oneof![Just("2".to_owned()), "[0-9a-z]{0,4}"]),
    )
        .prop_map(|(pt, enc, clock, channels)| match channels {
            Some(c) => format!("a=rtpmap:{pt} {enc}/{clock}/{c}"),
            None => format!("a=rtpmap:{pt} {enc}/{clock}"),
        })
}

fn fmtp() -> impl Strategy<Value = String> {
    (
        payload_type(),
        prop::collection::vec(
            prop_oneof![
                (0u8..=3).prop_map(|m| format!("packetization-mode={m}")),
                "[0-9a-fA-F]{0,8}".prop_map(|p| format!("profile-level-id={p}")),
                Just("level-asymmetry-allowed=1".to_owned()),
                Just("minptime=10".to_owned()),
                "[0-9]{1,3}".prop_map(|a| format!("apt={a}")),
                "[ -~]{0,20}",
            ],
            0..6,
        ),
    )
        .prop_map(|(pt, params)| format!("a=fmtp:{pt} {}", params.join(";")))
}

fn attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => rtpmap(),
        3 => fmtp(),
        1 => (payload_type(), "(nack|nack pli|ccm fir|goog-remb|transport-cc|[ -~]{0,12})")
            .prop_map(|(pt, fb)| format!("a=rtcp-fb:{pt} {fb}")),
        1 => (any::<u16>(), prop_oneof![
                Just("http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01".to_owned()),
                Just("urn:ietf:params:rtp-hdrext:sdes:mid".to_owned()),
                "[ -~]{0,30}",
            ]).prop_map(|(id, uri)| format!("a=extmap:{id} {uri}")),
        1 => prop_oneof![
                Just("a=sendonly"), Just("a=recvonly"), Just("a=sendrecv"),
                Just("a=inactive"), Just("a=bundle-only"), Just("a=rtcp-mux"),
                Just("a=rtcp-rsize"), Just("a=setup:actpass"), Just("a=end-of-candidates"),
            ].prop_map(str::to_owned),
        1 => token().prop_map(|m| format!("a=mid:{m}")),
        1 => token().prop_map(|u| format!("a=ice-ufrag:{u}")),
        1 => token().prop_map(|p| format!("a=ice-pwd:{p}")),
        1 => (any::<u32>(), "[ -~]{0,20}").prop_map(|(s, c)| format!("a=ssrc:{s} cname:{c}")),
        1 => "[a-z-]{0,12}(:[ -~]{0,30})?".prop_map(|a| format!("a={a}")),
        1 => "[ -~]{0,60}",
    ]
}

fn media_section() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("audio".to_owned()),
            Just("video".to_owned()),
            Just("application".to_owned()),
            "[a-z]{0,8}",
        ],
        prop_oneof![Just(9u32), Just(0), any::<u32>()],
        prop_oneof![
            Just("UDP/TLS/RTP/SAVPF".to_owned()),
            Just("RTP/AVP".to_owned()),
            "[A-Z/]{0,16}",
        ],
        prop::collection::vec(payload_type(), 0..12),
        prop::collection::vec(attribute(), 0..24),
    )
        .prop_map(|(kind, port, proto, formats, attrs)| {
            let mut s = format!(
                "m={kind} {port} {proto} {}\r\nc=IN IP4 0.0.0.0\r\n",
                formats.join(" ")
            );
            for a in attrs {
                s.push_str(&a);
                s.push_str("\r\n");
            }
            s
        })
}

/// A near-valid offer: a correct session header, optional session-level ICE
/// credentials and BUNDLE group, then random m-sections.
fn offer(max_sections: usize) -> impl Strategy<Value = String> {
    (
        prop::option::of(token()),
        prop::option::of(prop::collection::vec(token(), 0..6)),
        prop::collection::vec(media_section(), 0..max_sections),
        prop_oneof![Just("\r\n"), Just("\n")],
    )
        .prop_map(|(ufrag, bundle, sections, eol)| {
            let mut s = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
            if let Some(mids) = bundle {
                s.push_str(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
            }
            if let Some(u) = ufrag {
                s.push_str(&format!("a=ice-ufrag:{u}\r\n"));
            }
            for m in sections {
                s.push_str(&m);
            }
            s.replace("\r\n", eol)
        })
}

fn fragment_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[0-9]{1,10}", 0u32..3, "(udp|tcp|[a-z]{0,4})", any::<u32>(),
              "(192\\.0\\.2\\.[0-9]{1,3}|::1|[0-9a-f:.]{0,20}|[a-z0-9.-]{0,20})", any::<u16>(),
              "(host|srflx|relay|[a-z]{0,6})")
            .prop_map(|(f, c, t, p, a, port, typ)| format!("a=candidate:{f} {c} {t} {p} {a} {port} typ {typ}")),
        1 => Just("a=candidate:".to_owned()),
        1 => token().prop_map(|m| format!("a=mid:{m}")),
        1 => token().prop_map(|u| format!("a=ice-ufrag:{u}")),
        1 => token().prop_map(|p| format!("a=ice-pwd:{p}")),
        1 => Just("a=end-of-candidates".to_owned()),
        1 => Just("m=audio 9 RTP/AVP 0".to_owned()),
        1 => "[a-z]=[ -~]{0,30}",
        1 => "[ -~]{0,40}",
    ]
}

fn fragment() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(fragment_line(), 0..40),
        prop_oneof![Just("\r\n"), Just("\n"), Just("\r")],
    )
        .prop_map(|(lines, eol)| lines.join(eol))
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Shrinking a slow case can take minutes; the failing input is
        // printed either way.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

// -------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        init();
        let text = String::from_utf8_lossy(&bytes);
        analyse_offer(&text);
        analyse_offer(&format!("v=0\r\n{text}"));
        analyse_fragment(&text);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        init();
        analyse_offer(&text);
        analyse_offer(&format!("v=0\n{text}"));
        analyse_fragment(&text);
    }

    #[test]
    fn near_valid_offers_never_panic(text in offer(8)) {
        init();
        analyse_offer(&text);
    }

    #[test]
    fn trickle_fragments_never_panic(text in fragment()) {
        analyse_fragment(&text);
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// Offers as large as the server accepts: many m-lines, many payloads.
    #[test]
    fn offers_up_to_the_size_limit_stay_bounded(text in offer(160)) {
        init();
        let text = truncate(&text, MAX_SDP_BYTES);
        analyse_offer(&text);
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The largest counts a 64 KB body allows, built directly rather than
/// randomly: each must still be analysed quickly.
#[test]
fn huge_counts_stay_bounded() {
    init();
    let head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    let video = "a=sendonly\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n";
    let mut cases = Vec::new();
    // Thousands of tiny m-lines, each with its own credentials (unbundled).
    let mut many = String::from(head);
    let mut i = 0;
    while many.len() < MAX_SDP_BYTES - 200 {
        many.push_str(&format!(
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{i}\r\na=ice-ufrag:u{i}\r\n{video}"
        ));
        i += 1;
    }
    cases.push(many);
    // One m-line listing every payload type 0..=255, each with an rtpmap
    // and fmtp, repeated until the limit.
    let mut pts = String::from(head);
    let all: Vec<String> = (0..=255).map(|p| p.to_string()).collect();
    pts.push_str(&format!(
        "m=video 9 UDP/TLS/RTP/SAVPF {}\r\na=sendonly\r\n",
        all.join(" ")
    ));
    let mut p = 0;
    while pts.len() < MAX_SDP_BYTES - 200 {
        pts.push_str(&format!(
            "a=rtpmap:{} VP9/90000\r\na=fmtp:{} x=1\r\n",
            p % 256,
            p % 256
        ));
        p += 1;
    }
    pts.push_str("a=rtpmap:255 H264/90000\r\na=fmtp:255 packetization-mode=1\r\n");
    cases.push(pts);
    // Thousands of attributes on one m-line.
    let mut attrs = String::from(head);
    attrs
        .push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n");
    while attrs.len() < MAX_SDP_BYTES - 100 {
        attrs.push_str("a=extmap:1 urn:x\r\n");
    }
    cases.push(attrs);
    for text in &cases {
        assert!(text.len() <= MAX_SDP_BYTES);
        analyse_offer(text);
    }
    // A fragment of a thousand candidates.
    let mut frag = String::from("a=ice-ufrag:x\r\na=ice-pwd:y\r\na=mid:0\r\n");
    while frag.len() < MAX_SDP_BYTES - 100 {
        frag.push_str("a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n");
    }
    analyse_fragment(&frag);
}

/// The fixture offer still plans after the fuzzing helpers touch it (keeps the
/// helpers honest: a property that never reaches a plan proves little).
#[test]
fn the_fixture_offer_reaches_a_plan() {
    init();
    let text = include_str!("fixtures/chrome-offer.sdp");
    let offer = parse(text).expect("parse");
    assert!(plan_offer(&offer, VideoCodecPref::H264).is_ok());
    let _: Result<_, sdp::SdpError> = plan_view_offer(&offer, &[Codec::H264], false);
    analyse_offer(text);
}

/// An attribute name longer than GStreamer's 8 KB line buffer, with a
/// multi-byte character across the cut: probe whether the truncated name
/// reaches Rust as invalid UTF-8.
fn long_attribute_key_offer(session_level: bool) -> String {
    let key = format!("{}é", "k".repeat(8190));
    let mut s = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    if session_level {
        s.push_str(&format!("a=ice-ufrag:a\r\na={key}:v\r\n"));
    }
    // Two m-lines with different credentials: unbundling walks the session
    // attributes by name.
    s.push_str("a=group:BUNDLE 0 1\r\n");
    s.push_str("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ice-ufrag:c\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n");
    s.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:b\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n");
    if !session_level {
        s.push_str(&format!("a={key}:v\r\n"));
    }
    s
}

/// Found by this file: GStreamer cut an attribute name longer than 8191
/// bytes inside a UTF-8 character and `SDPAttribute::key()` (gstreamer-sdp
/// 0.23.5) panicked on the invalid string, from `plan_offer` and from
/// `unbundle_if_mixed_credentials` alike: any WHIP or WHEP POST reached it.
/// `parse` now refuses lines over `MAX_LINE_BYTES`, so nothing is cut.
#[test]
fn a_long_media_attribute_name_cut_inside_a_character() {
    init();
    let text = long_attribute_key_offer(false);
    assert!(parse(&text).is_err(), "an over-long line is refused");
    analyse_offer(&text);
}

#[test]
fn a_long_session_attribute_name_cut_inside_a_character() {
    init();
    let text = long_attribute_key_offer(true);
    assert!(parse(&text).is_err(), "an over-long line is refused");
    analyse_offer(&text);
}
