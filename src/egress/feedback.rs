//! What a viewer's RTCP tells us: webrtcbin's statistics (bytes sent,
//! NACKs, PLIs, loss and round trip from receiver reports) and the REMB
//! bandwidth estimates browsers send, read from the RTP session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gst::glib;
use gst::prelude::*;

use crate::time::now_ms;

/// A REMB older than this no longer describes the link.
pub(super) const REMB_MAX_AGE_MS: u64 = 3_000;

/// The latest REMB from the viewer.
#[derive(Debug, Default)]
pub struct Remb {
    bitrate_bps: AtomicU64,
    at_ms: AtomicU64,
}

impl Remb {
    fn set(&self, bitrate_bps: u64, now: u64) {
        self.bitrate_bps.store(bitrate_bps, Ordering::Relaxed);
        self.at_ms.store(now, Ordering::Relaxed);
    }

    /// The estimate, if one arrived lately.
    pub fn recent(&self, now: u64) -> Option<u64> {
        let at = self.at_ms.load(Ordering::Relaxed);
        (at > 0 && now.saturating_sub(at) <= REMB_MAX_AGE_MS)
            .then(|| self.bitrate_bps.load(Ordering::Relaxed))
    }
}

/// Parses a REMB feedback control information block
/// (draft-alvestrand-rmcat-remb): "REMB", SSRC count, 6-bit exponent and
/// 18-bit mantissa.
pub fn parse_remb(fci: &[u8]) -> Option<u64> {
    if fci.len() < 8 || &fci[..4] != b"REMB" {
        return None;
    }
    let exponent = u32::from(fci[5] >> 2);
    let mantissa = (u64::from(fci[5] & 0x03) << 16) | (u64::from(fci[6]) << 8) | u64::from(fci[7]);
    mantissa.checked_shl(exponent)
}

/// RTCP payload-specific feedback, application layer (RFC 4585).
const RTCP_PSFB: u32 = 206;
const PSFB_AFB: u32 = 15;

/// Hooks the viewer's RTP sessions (after negotiation, when they exist):
/// REMBs go to `remb`, and RTCP from the viewer stamps `last_rtcp_ms` (a
/// viewer that stops sending RTCP is gone).
pub fn watch_session(webrtcbin: &gst::Element, remb: Arc<Remb>, last_rtcp_ms: Arc<AtomicU64>) {
    let Some(rtpbin) = webrtcbin
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("rtpbin"))
    else {
        tracing::warn!("webrtcbin has no rtpbin child: no REMB or RTCP liveness");
        return;
    };
    rtpbin.connect("on-ssrc-active", false, move |_| {
        last_rtcp_ms.store(now_ms() as u64, Ordering::Relaxed);
        None
    });
    // With max-bundle there is one session; unbundled offers have one per m-line.
    for id in 0u32..4 {
        let Some(session) =
            rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&id])
        else {
            continue;
        };
        let remb = remb.clone();
        session.connect("on-feedback-rtcp", false, move |args| {
            let kind = args.get(1).and_then(|v| v.get::<u32>().ok());
            let fb = args.get(2).and_then(|v| v.get::<u32>().ok());
            if kind == Some(RTCP_PSFB) && fb == Some(PSFB_AFB) {
                let fci = args
                    .get(5)
                    .and_then(|v| v.get::<Option<gst::Buffer>>().ok())
                    .flatten();
                let bps = fci
                    .as_ref()
                    .and_then(|b| b.map_readable().ok().and_then(|m| parse_remb(m.as_slice())));
                if let Some(bps) = bps {
                    remb.set(bps, now_ms() as u64);
                }
            }
            None
        });
    }
}

/// One `get-stats` reply, reduced to what we use.
#[derive(Debug, Default, Clone)]
pub struct Report {
    outbound: Vec<Outbound>,
    remote_inbound: Vec<RemoteInbound>,
}

#[derive(Debug, Default, Clone)]
struct Outbound {
    ssrc: u32,
    kind: String,
    bytes_sent: u64,
    packets_sent: u64,
    nacks: u64,
    plis: u64,
}

#[derive(Debug, Default, Clone)]
struct RemoteInbound {
    ssrc: u32,
    fraction_lost: Option<f64>,
    rtt_s: Option<f64>,
}

fn number(s: &gst::StructureRef, field: &str) -> Option<f64> {
    let v = s.value(field).ok()?;
    v.get::<u64>()
        .map(|n| n as f64)
        .or_else(|_| v.get::<u32>().map(f64::from))
        .or_else(|_| v.get::<i64>().map(|n| n as f64))
        .or_else(|_| v.get::<i32>().map(f64::from))
        .or_else(|_| v.get::<f64>())
        .ok()
}

fn stats_type(s: &gst::StructureRef) -> Option<gst_webrtc::WebRTCStatsType> {
    s.get::<gst_webrtc::WebRTCStatsType>("type").ok()
}

/// Reads webrtcbin's stats structure (one field per stats object).
pub fn read_stats(all: &gst::StructureRef) -> Report {
    let mut report = Report::default();
    for (_, value) in all.iter() {
        let Ok(s) = value.get::<gst::Structure>() else {
            continue;
        };
        let ssrc = number(&s, "ssrc").unwrap_or(0.0) as u32;
        match stats_type(&s) {
            Some(gst_webrtc::WebRTCStatsType::OutboundRtp) => report.outbound.push(Outbound {
                ssrc,
                kind: s.get::<String>("kind").unwrap_or_default(),
                bytes_sent: number(&s, "bytes-sent").unwrap_or(0.0) as u64,
                packets_sent: number(&s, "packets-sent").unwrap_or(0.0) as u64,
                nacks: number(&s, "nack-count").unwrap_or(0.0) as u64,
                plis: number(&s, "pli-count").unwrap_or(0.0) as u64,
            }),
            Some(gst_webrtc::WebRTCStatsType::RemoteInboundRtp) => {
                report.remote_inbound.push(RemoteInbound {
                    ssrc,
                    fraction_lost: number(&s, "fraction-lost"),
                    rtt_s: number(&s, "round-trip-time"),
                })
            }
            _ => {}
        }
    }
    report
}

impl Report {
    pub fn bytes_sent(&self) -> u64 {
        self.outbound.iter().map(|o| o.bytes_sent).sum()
    }

    pub fn packets_sent(&self) -> u64 {
        self.outbound.iter().map(|o| o.packets_sent).sum()
    }

    pub fn nacks(&self) -> u64 {
        self.outbound.iter().map(|o| o.nacks).sum()
    }

    pub fn plis(&self) -> u64 {
        self.outbound.iter().map(|o| o.plis).sum()
    }

    /// Loss of the video stream as the viewer last reported it (the largest
    /// when kinds are unknown: video is what suffers first).
    pub fn video_fraction_lost(&self) -> Option<f64> {
        let video: Vec<u32> = self
            .outbound
            .iter()
            .filter(|o| o.kind == "video")
            .map(|o| o.ssrc)
            .collect();
        self.remote_inbound
            .iter()
            .filter(|r| video.is_empty() || video.contains(&r.ssrc))
            .filter_map(|r| r.fraction_lost)
            .map(|f| if f > 1.0 { f / 256.0 } else { f })
            .reduce(f64::max)
    }

    pub fn rtt_ms(&self) -> Option<f64> {
        self.remote_inbound
            .iter()
            .filter_map(|r| r.rtt_s)
            .filter(|r| *r > 0.0)
            .reduce(f64::max)
            .map(|s| s * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remb_is_parsed() {
        // 1 SSRC, exponent 3, mantissa 125000 → 1 000 000 b/s.
        let mantissa: u32 = 125_000;
        let b5 = (3u8 << 2) | ((mantissa >> 16) as u8 & 0x03);
        let fci = [
            b'R',
            b'E',
            b'M',
            b'B',
            1,
            b5,
            (mantissa >> 8) as u8,
            mantissa as u8,
            0,
            0,
            0,
            1,
        ];
        assert_eq!(parse_remb(&fci), Some(1_000_000));
        assert_eq!(parse_remb(b"REMX\x01\x00\x00\x01"), None);
        assert_eq!(parse_remb(b"REMB"), None);
    }

    #[test]
    fn a_remb_goes_stale() {
        let r = Remb::default();
        assert_eq!(r.recent(10_000), None);
        r.set(500_000, 10_000);
        assert_eq!(r.recent(12_000), Some(500_000));
        assert_eq!(r.recent(20_000), None);
    }
}
