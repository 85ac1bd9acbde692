// The Quality (hls.js levels) and Speed selectors.
import type { HlsLevel } from '../../lib/hls';
import { describe, page, setStatus, ui } from './page';

/** [{index, width, height, bitrate}] in hls.js order (ascending bitrate); [] for native HLS. */
export function levels(): HlsLevel[] {
  return (page.hls?.levels ?? []).map((l, index) => ({ index, width: l.width, height: l.height, bitrate: l.bitrate }));
}

function levelLabel(l: HlsLevel): string {
  return `${l.height ? `${l.height}p` : `level ${l.index}`} (${(l.bitrate / 1e6).toFixed(1)} Mb/s)`;
}

export function buildLevelSelector(): void {
  const list = levels().sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
  ui.level.replaceChildren(new Option('Auto', '-1'), ...list.map((l) => new Option(levelLabel(l), String(l.index))));
  ui.level.disabled = list.length === 0;
  updateLevelSelector();
}

export function updateLevelSelector(): void {
  const hls = page.hls;
  if (!hls) return;
  ui.level.value = String(hls.autoLevelEnabled ? -1 : hls.manualLevel);
  const current = hls.levels[hls.currentLevel];
  ui.level.options[0].text = hls.autoLevelEnabled && current ? `Auto (${current.height}p)` : 'Auto';
  if (page.state === 'playing') setStatus(describe());
}

/** WebRTC has no levels. */
export function clearLevelSelector(): void {
  ui.level.replaceChildren(new Option('Auto', '-1'));
  ui.level.disabled = true;
}

export function wireQualityAndSpeed(): void {
  ui.level.addEventListener('change', () => {
    if (page.hls) page.hls.currentLevel = Number(ui.level.value); // -1 = back to automatic
  });
  ui.speed.addEventListener('change', () => {
    const rate = Number(ui.speed.value);
    ui.video.defaultPlaybackRate = rate; // survives a reload of the source
    ui.video.playbackRate = rate;
  });
}
