//! What a running ladder writes: each closed segment into its rung's
//! playlists, and the master playlist once every rung has a segment.

use std::path::Path;

use super::Ladder;
use crate::hls::config::codecs_attribute;
use crate::hls::playlist::{self, Variant};
use crate::hls::HlsError;
use crate::time::now_ms;

impl Ladder {
    pub(super) async fn on_element(
        &mut self,
        source: &str,
        s: &gst::StructureRef,
    ) -> Result<(), HlsError> {
        let Some(name) = source.strip_prefix("mux_") else {
            return Ok(());
        };
        let Some(i) = self.rungs.iter().position(|r| r.rung.name == name) else {
            return Ok(());
        };
        let running_time = s.get::<u64>("running-time").ok();
        match s.name().as_str() {
            "splitmuxsink-fragment-opened" => self.rungs[i].opened_at_ns = running_time,
            "splitmuxsink-fragment-closed" => {
                let location = s.get::<String>("location").unwrap_or_default();
                let Some(index) = playlist::segment_index(&location) else {
                    return Ok(());
                };
                let rung = &mut self.rungs[i];
                let duration = match (rung.opened_at_ns, running_time) {
                    (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
                    _ => f64::from(self.config.segment_seconds),
                };
                for old in rung.playlist.push(index, duration) {
                    let path = self.dir.join(&rung.rung.name).join(old);
                    if let Err(e) = tokio::fs::remove_file(&path).await {
                        tracing::debug!(path = %path.display(), "deleting old segment: {e}");
                    }
                }
                if i == 0 && self.passthrough.is_some() && duration > 0.0 {
                    if let Ok(meta) = tokio::fs::metadata(&location).await {
                        let bps = (meta.len() as f64 * 8.0 / duration) as u64;
                        rung.measured_bps = Some(rung.measured_bps.map_or(bps, |m| m.max(bps)));
                    }
                }
                if let Some(uploader) = &self.uploader {
                    let relative = format!("{}/{}", rung.rung.name, playlist::segment_uri(index));
                    uploader.segment(&relative, &self.dir.join(&relative)).await;
                }
                rung.segments += 1;
                rung.last_segment_at = Some(now_ms());
                rung.last_segment_latency_ms = running_time
                    .and_then(|rt| self.boundaries.entered_at(rt))
                    .map(|entered| now_ms() - entered);
                self.write_rung(i).await?;
                if !self.master_written && self.rungs.iter().all(|r| r.segments > 0) {
                    self.write_master().await?;
                }
                self.publish_status("live");
            }
            _ => {}
        }
        Ok(())
    }

    async fn write_rung(&self, i: usize) -> Result<(), HlsError> {
        let rung = &self.rungs[i];
        let dir = self.dir.join(&rung.rung.name);
        // all.m3u8 first: it is what a restart reads back.
        write_atomic(
            &dir.join("all.m3u8"),
            &playlist::render_media(&rung.playlist.all()),
        )
        .await?;
        let live = playlist::render_media(&rung.playlist.live());
        write_atomic(&dir.join("index.m3u8"), &live).await?;
        if let Some(uploader) = &self.uploader {
            let relative = format!("{}/index.m3u8", rung.rung.name);
            uploader
                .playlist(&relative, &live, !rung.playlist.is_ended())
                .await;
        }
        Ok(())
    }

    pub(super) async fn write_playlists(&self) -> Result<(), HlsError> {
        for i in 0..self.rungs.len() {
            self.write_rung(i).await?;
        }
        Ok(())
    }

    pub(super) async fn write_master(&mut self) -> Result<(), HlsError> {
        let audio_bps = if self.has_audio {
            u64::from(self.config.audio.bitrate)
        } else {
            0
        };
        let variants: Vec<Variant> = self
            .rungs
            .iter()
            .map(|r| {
                let (profile, level) = r
                    .tap
                    .profile_level
                    .lock()
                    .ok()
                    .and_then(|p| p.clone())
                    .unwrap_or_else(|| (r.rung.profile.clone(), "4.0".into()));
                // MPEG-TS adds roughly 10% on top of the elementary streams.
                let (peak, average) = match r.measured_bps {
                    // The segment files, audio and overhead included; the
                    // publisher's encoder may burst above what it measured.
                    Some(measured) => (measured * 5 / 4, measured),
                    None => (
                        (u64::from(r.rung.max_bitrate_kbps) * 1000 + audio_bps) * 11 / 10,
                        (u64::from(r.rung.bitrate_kbps) * 1000 + audio_bps) * 11 / 10,
                    ),
                };
                Variant {
                    name: r.rung.name.clone(),
                    width: r.rung.width,
                    height: r.rung.height,
                    bandwidth: peak,
                    average_bandwidth: average,
                    frame_rate: f64::from(self.config.frame_rate),
                    codecs: codecs_attribute(&profile, &level, self.has_audio),
                }
            })
            .collect();
        let master = playlist::render_master(&playlist::master(&variants));
        write_atomic(&self.dir.join("master.m3u8"), &master).await?;
        if let Some(uploader) = &self.uploader {
            uploader.playlist("master.m3u8", &master, false).await;
        }
        self.master_written = true;
        Ok(())
    }
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HlsError> {
    let tmp = path.with_extension("tmp");
    let io = |e| HlsError::Io(path.display().to_string(), e);
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}
