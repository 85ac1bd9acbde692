//! The offer checks and planners against a Chromium offer and variants.

use super::codecs::KEPT_EXTENSIONS;
use super::*;

/// The shape of a Chromium WHIP offer (VP8 first, H.264 later).
pub const CHROME_OFFER: &str = include_str!("../../../tests/fixtures/chrome-offer.sdp");

fn plan(text: &str, prefer: VideoCodecPref) -> Result<OfferPlan, SdpError> {
    crate::media::init().expect("gstreamer");
    plan_offer(&parse(text)?, prefer)
}

#[test]
fn prefers_constrained_baseline_h264() {
    let p = plan(CHROME_OFFER, VideoCodecPref::H264).expect("plan");
    assert_eq!(p.media.len(), 2);
    assert_eq!((p.media[0].codec, p.media[0].payload), (Codec::Opus, 111));
    assert_eq!((p.media[1].codec, p.media[1].payload), (Codec::H264, 103));
    assert_eq!(p.ice_ufrags, vec!["abcd".to_owned()]);
    assert_eq!(p.mline_of_mid("1"), Some(1));
    let s = p.media[1].caps.structure(0).expect("structure");
    assert_eq!(s.name(), "application/x-rtp");
    assert_eq!(s.get::<i32>("payload").ok(), Some(103));
    assert_eq!(
        s.get::<String>("extmap-3").ok().as_deref(),
        Some(KEPT_EXTENSIONS[0])
    );
    assert!(!s.has_field("extmap-9"), "rid extension is dropped");
}

#[test]
fn vp8_when_preferred_or_only() {
    let p = plan(CHROME_OFFER, VideoCodecPref::Vp8).expect("plan");
    assert_eq!(p.media[1].codec, Codec::Vp8);
    let no_h264 = CHROME_OFFER.replace("H264/90000", "H265/90000");
    let p = plan(&no_h264, VideoCodecPref::H264).expect("plan");
    assert_eq!(p.media[1].codec, Codec::Vp8);
}

fn view(text: &str, codecs: &[Codec], audio_only: bool) -> Result<OfferPlan, SdpError> {
    crate::media::init().expect("gstreamer");
    plan_view_offer(&parse(text)?, codecs, audio_only)
}

/// A viewer's offer: Chromium's, received instead of sent.
fn viewer_offer() -> String {
    CHROME_OFFER.replace("a=sendonly", "a=recvonly")
}

#[test]
fn a_viewer_gets_the_publishers_codec_without_transport_cc() {
    let p = view(&viewer_offer(), &[Codec::H264], false).expect("plan");
    assert_eq!((p.media[0].codec, p.media[0].payload), (Codec::Opus, 111));
    assert_eq!((p.media[1].codec, p.media[1].payload), (Codec::H264, 103));
    let s = p.media[1].caps.structure(0).expect("structure");
    assert!(!s.has_field("extmap-3"), "no transport-cc extension: {s}");
    assert!(!s.has_field("rtcp-fb-transport-cc"), "{s}");
    let p = view(&viewer_offer(), &[Codec::Vp8, Codec::H264], false).expect("plan");
    assert_eq!(p.media[1].codec, Codec::Vp8);
    let no_vp8 = viewer_offer().replace("VP8/90000", "VP9/90000");
    let p = view(&no_vp8, &[Codec::Vp8, Codec::H264], false).expect("plan");
    assert_eq!(p.media[1].codec, Codec::H264, "the ladder's H.264 instead");
}

#[test]
fn audio_only_and_bad_view_offers() {
    let p = view(&viewer_offer(), &[Codec::H264], true).expect("plan");
    assert_eq!(p.media.len(), 1);
    assert_eq!(p.media[0].kind, MediaKind::Audio);
    assert!(matches!(
        view(CHROME_OFFER, &[Codec::H264], false),
        Err(SdpError::Direction(_))
    ));
    let no_h264 = viewer_offer()
        .replace("H264/90000", "AV1/90000")
        .replace("VP8/90000", "VP9/90000");
    assert!(matches!(
        view(&no_h264, &[Codec::H264], false),
        Err(SdpError::NoSupportedCodec { kind: "video", .. })
    ));
    assert!(matches!(
        view("v=0", &[Codec::H264], false),
        Err(SdpError::Parse(_)) | Err(SdpError::NoMedia)
    ));
}

#[test]
fn unbundles_only_mixed_credentials() {
    crate::media::init().expect("gstreamer");
    let mut same = parse(CHROME_OFFER).expect("parse");
    assert!(!unbundle_if_mixed_credentials(&mut same));
    assert!(same.as_text().expect("text").contains("a=group:BUNDLE"));
    let mixed_text = CHROME_OFFER.replacen("a=ice-ufrag:abcd", "a=ice-ufrag:wxyz", 1);
    let mut mixed = parse(&mixed_text).expect("parse");
    assert!(unbundle_if_mixed_credentials(&mut mixed));
    assert!(!mixed.as_text().expect("text").contains("a=group:BUNDLE"));
}

/// An offer with `n` copies of the Chromium offer's video m-section.
fn offer_with_video_mlines(n: usize) -> String {
    let start = CHROME_OFFER.find("m=video").expect("video m-line");
    let (head, video) = CHROME_OFFER.split_at(start);
    let head = head
        .lines()
        .filter(|l| !l.starts_with("a=group:BUNDLE"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>();
    let mut text = head;
    for i in 0..n {
        text.push_str(&video.replace("a=mid:1", &format!("a=mid:v{i}")));
    }
    text
}

#[test]
fn refuses_more_m_lines_than_the_limit() {
    assert!(plan(
        &offer_with_video_mlines(MAX_MEDIA - 1),
        VideoCodecPref::H264
    )
    .is_ok());
    let err = plan(&offer_with_video_mlines(300), VideoCodecPref::H264).expect_err("many");
    assert_eq!(
        err,
        SdpError::TooManyMedia {
            count: 301,
            max: MAX_MEDIA
        }
    );
    assert!(err.to_string().contains("at most 4"), "{err}");
}

#[test]
fn refuses_payload_types_and_rtpmaps_out_of_range() {
    for (from, to) in [
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:300 opus/48000/2"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/0/2"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000/99"),
        (
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:111 opus/99999999999/2",
        ),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:-1 opus/48000/2"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111"),
        ("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 128"),
        ("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 x"),
    ] {
        assert!(CHROME_OFFER.contains(from), "fixture has {from}");
        let text = CHROME_OFFER.replacen(from, to, 1);
        match plan(&text, VideoCodecPref::H264) {
            Err(SdpError::Payload { .. }) | Err(SdpError::Parse(_)) => {}
            other => panic!("{to}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn rejects_bad_offers() {
    assert!(matches!(
        plan("hello", VideoCodecPref::H264),
        Err(SdpError::Parse(_))
    ));
    let only_vp9 = CHROME_OFFER
        .replace("VP8/90000", "VP9/90000")
        .replace("H264/90000", "AV1/90000");
    let err = plan(&only_vp9, VideoCodecPref::H264).expect_err("no codec");
    assert!(err.to_string().contains("VP9"), "{err}");
    let no_opus = CHROME_OFFER.replace("opus/48000/2", "PCMU/8000");
    assert!(matches!(
        plan(&no_opus, VideoCodecPref::H264),
        Err(SdpError::NoSupportedCodec { kind: "audio", .. })
    ));
    let recvonly = CHROME_OFFER.replace("a=sendonly", "a=recvonly");
    assert!(matches!(
        plan(&recvonly, VideoCodecPref::H264),
        Err(SdpError::Direction(_))
    ));
    assert_eq!(
        plan(
            "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
            VideoCodecPref::H264
        )
        .err(),
        Some(SdpError::NoMedia)
    );
}
