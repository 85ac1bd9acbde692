// The instructor's video, large (16:9, letterboxed), with its state in words
// over it and the controls below: tier badge, audio only, volume, quality,
// full screen. While a screen share takes the large place it is `compact`: a
// tile in the side column with the tier, the name and mute.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Badge, Button, Notice } from '../../ui';
import { Icon } from './icons';
import { idleSnapshot, LiveVideo, type LiveSnapshot, type Tier } from './live';
import { loadSession, type ClassSession } from './session';

const ENDED_CHECK_MS = 10_000;

interface Props {
  session: ClassSession;
  token: string;
  instructorName: string;
  /** The instructor's camera is off (room state): a calm placeholder over the video. */
  cameraOff: boolean;
  /** Someone publishes (room state; null before the room said): no offer while nobody does. */
  live: boolean | null;
  /** A tile beside the screen share rather than the large video. */
  compact?: boolean;
  /** How the video is watched (WebRTC or the HLS broadcast), whenever it changes. */
  onTier?: (tier: Tier | null) => void;
}

const initials = (name: string) =>
  name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase() ?? '')
    .join('');

/** What to say over the video, if anything. */
function overlayFor(snap: LiveSnapshot, ended: boolean): { heading: string; text?: string; busy?: boolean } | null {
  if (ended) return { heading: 'The class has ended', text: 'Thank you for joining.' };
  switch (snap.phase) {
    case 'connecting':
      return snap.everPlayed ? null : { heading: 'Connecting to the class…', busy: true };
    case 'not-live':
      return snap.everPlayed
        ? { heading: 'The instructor’s video has stopped', text: 'We’ll reconnect as soon as it is back.', busy: true }
        : { heading: 'The class has not started yet — we’ll connect when it does', busy: true };
    case 'reconnecting':
      return { heading: 'Connection lost — reconnecting…', busy: true };
    case 'denied':
      return { heading: 'You cannot watch this class’s video', text: snap.reason ?? 'Open your class link again.' };
    case 'failed':
      return { heading: 'The video cannot be played here', text: snap.reason ?? 'Try another browser.' };
    default:
      return null;
  }
}

const FALLBACK_WORDS: Record<NonNullable<LiveSnapshot['fallback']>, string> = {
  full: 'Class full — watching the broadcast. It runs a few seconds behind.',
  refused: 'Live viewing is not open to you in this class — watching the broadcast, a few seconds behind.',
  failed: 'The live connection kept failing — watching the broadcast, a few seconds behind.',
  unsupported: 'This browser cannot join live — watching the broadcast, a few seconds behind.',
};

export function VideoStage(props: Props) {
  const boxRef = useRef<HTMLDivElement>(null);
  const videoRef = useRef<HTMLVideoElement>(null);
  const live = useRef<LiveVideo | null>(null);
  const [snap, setSnap] = useState<LiveSnapshot | null>(null);
  const [muted, setMuted] = useState(false);
  const [volume, setVolume] = useState(1);
  const [fullscreen, setFullscreen] = useState(false);
  const [ended, setEnded] = useState(false);
  // Across players: the broadcast stopped and came back, or audio only was picked.
  const everPlayed = useRef(false);
  const audioOnly = useRef(false);
  const broadcasting = props.live !== false;

  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    if (!broadcasting) {
      setSnap({ ...idleSnapshot, phase: 'not-live', everPlayed: everPlayed.current, audioOnly: audioOnly.current });
      return;
    }
    const remember = (s: LiveSnapshot) => {
      everPlayed.current ||= s.everPlayed;
      audioOnly.current = s.audioOnly;
      setSnap({ ...s, everPlayed: everPlayed.current });
    };
    const player = new LiveVideo({
      video,
      whepUrl: props.session.whep_url,
      hlsUrl: props.session.hls_url,
      token: props.token,
      audioOnly: audioOnly.current,
      onChange: remember,
    });
    live.current = player;
    remember(player.snapshot);
    // A network change, or the tab coming back: retry now rather than at the next backoff.
    const retryNow = () => player.reconnectNow();
    const onVisible = () => {
      if (document.visibilityState === 'visible') player.reconnectNow();
    };
    const onFullscreen = () => setFullscreen(document.fullscreenElement === boxRef.current);
    window.addEventListener('online', retryNow);
    document.addEventListener('visibilitychange', onVisible);
    document.addEventListener('fullscreenchange', onFullscreen);
    // For the browser tests: figures a person cannot read off the page.
    (window as unknown as { classcast: unknown }).classcast = {
      get tier() {
        return player.snapshot.tier;
      },
      stats: () => player.stats(),
    };
    return () => {
      window.removeEventListener('online', retryNow);
      document.removeEventListener('visibilitychange', onVisible);
      document.removeEventListener('fullscreenchange', onFullscreen);
      player.stop();
      live.current = null;
    };
  }, [props.session.id, props.token, broadcasting]);

  // Not live for a while: perhaps the class ended (then it will not come back).
  const waiting = snap?.phase === 'not-live';
  useEffect(() => {
    if (!waiting || ended) return;
    const timer = setInterval(() => {
      loadSession(props.session.id)
        .then((s) => {
          if (s.state === 'ended') {
            live.current?.stop();
            setEnded(true);
          }
        })
        .catch(() => undefined);
    }, ENDED_CHECK_MS);
    return () => clearInterval(timer);
  }, [waiting, ended]);

  useEffect(() => {
    const v = videoRef.current;
    if (!v) return;
    v.muted = muted;
    v.volume = volume;
  }, [muted, volume]);

  const tier = snap?.tier ?? null;
  useEffect(() => props.onTier?.(tier), [tier]);

  const compact = props.compact ?? false;
  const overlay = snap ? overlayFor(snap, ended) : null;
  const playing = snap?.phase === 'playing' && !ended;
  const showCameraOff = playing && props.cameraOff && !snap?.audioOnly;
  const showAudioOnly = playing && snap?.audioOnly;

  const toggleFullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void boxRef.current?.requestFullscreen();
  };

  return (
    <section class={compact ? 'video-card is-compact' : 'video-card'} aria-label="Class video">
      <div class={`video-box${fullscreen ? ' is-fullscreen' : ''}`} ref={boxRef}>
        <video ref={videoRef} class={showAudioOnly ? 'is-hidden' : ''} playsInline autoplay />
        {showCameraOff ? (
          <div class="video-placeholder" role="status">
            <div class="avatar" aria-hidden="true">
              {initials(props.instructorName)}
            </div>
            <div class="placeholder-name">{props.instructorName}</div>
            <div class="placeholder-note">
              <Icon name="cameraOff" /> Camera is off
            </div>
          </div>
        ) : null}
        {showAudioOnly ? (
          <div class="video-placeholder" role="status">
            <div class="avatar" aria-hidden="true">
              <Icon name="headphones" />
            </div>
            <div class="placeholder-name">Listening to {props.instructorName}</div>
            <div class="placeholder-note">Audio only — the video is off to save data</div>
          </div>
        ) : null}
        {overlay ? (
          <div class="video-overlay" role="status">
            {overlay.busy ? <div class="spinner" aria-hidden="true" /> : null}
            <p class="overlay-heading">{overlay.heading}</p>
            {overlay.text ? <p class="overlay-text">{overlay.text}</p> : null}
            {ended ? <a href={`/replay/${encodeURIComponent(props.session.id)}`}>See the recordings</a> : null}
          </div>
        ) : null}
        {snap?.phase === 'blocked' ? (
          <div class="video-overlay">
            <p class="overlay-heading">Your browser is waiting for you to start the video</p>
            <Button variant="primary" onClick={() => live.current?.resume()}>
              Start watching
            </Button>
          </div>
        ) : null}
      </div>
      {snap && compact ? (
        <div class="control-bar">
          <TierStatus snap={snap} ended={ended} />
          <span class="video-name">{props.instructorName}</span>
          <Button
            small
            class="icon-only"
            aria-label={muted ? `Unmute ${props.instructorName}` : `Mute ${props.instructorName}`}
            title={muted ? 'Unmute' : 'Mute'}
            onClick={() => setMuted(!muted)}
          >
            <Icon name={muted ? 'muted' : 'volume'} />
          </Button>
        </div>
      ) : null}
      {snap && !compact ? (
        <ControlBar
          snap={snap}
          ended={ended}
          muted={muted}
          volume={volume}
          fullscreen={fullscreen}
          onMuted={setMuted}
          onVolume={(v) => {
            setVolume(v);
            if (v > 0) setMuted(false);
          }}
          onAudioOnly={(on) => live.current?.setAudioOnly(on)}
          onLevel={(i) => live.current?.setLevel(i)}
          onFullscreen={toggleFullscreen}
        />
      ) : null}
      {snap?.tier === 'hls' && snap.fallback && !ended ? (
        <div class="fallback-note">
          <Notice tone="info">{FALLBACK_WORDS[snap.fallback]}</Notice>
          {snap.fallback === 'full' || snap.fallback === 'failed' ? (
            <Button small onClick={() => live.current?.startLive()}>
              Try live again
            </Button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

function TierStatus(props: { snap: LiveSnapshot; ended: boolean }) {
  const { snap } = props;
  const live = snap.tier === 'webrtc';
  const showing = snap.phase === 'playing' || snap.phase === 'blocked';
  let badge: { text: string; tone?: 'live' | 'warn' };
  let detail: string;
  if (props.ended) {
    badge = { text: 'Ended' };
    detail = 'The class is over';
  } else if (showing) {
    badge = live ? { text: 'Live', tone: 'live' } : { text: 'Broadcast' };
    detail = live ? (snap.receivedHeight && !snap.audioOnly ? `Real time · ${snap.receivedHeight}p` : 'Real time') : 'A few seconds behind';
  } else if (snap.phase === 'reconnecting') {
    badge = { text: 'Reconnecting', tone: 'warn' };
    detail = 'Connection lost';
  } else if (snap.phase === 'not-live') {
    badge = { text: 'Not live' };
    detail = 'Waiting for the instructor';
  } else {
    badge = { text: 'Connecting' };
    detail = '';
  }
  return (
    <div class="tier-status" role="status" aria-label="How you watch" data-tier={showing ? snap.tier : undefined}>
      <Badge tone={badge.tone}>{badge.text}</Badge>
      {detail ? <span class="tier-detail">{detail}</span> : null}
    </div>
  );
}

interface ControlProps {
  snap: LiveSnapshot;
  ended: boolean;
  muted: boolean;
  volume: number;
  fullscreen: boolean;
  onMuted: (m: boolean) => void;
  onVolume: (v: number) => void;
  onAudioOnly: (on: boolean) => void;
  onLevel: (index: number) => void;
  onFullscreen: () => void;
}

function QualityPicker(props: { snap: LiveSnapshot; onLevel: (i: number) => void }) {
  const { snap } = props;
  if (snap.tier === 'hls' && snap.levels.length > 0) {
    const current = snap.levels.find((l) => l.index === snap.level);
    return (
      <label class="control-select">
        <span>Quality</span>
        <select
          value={String(snap.autoLevel ? -1 : snap.level)}
          disabled={snap.audioOnly}
          onChange={(e) => props.onLevel(Number(e.currentTarget.value))}
        >
          <option value="-1">{snap.autoLevel && current ? `Auto (${current.height}p)` : 'Auto'}</option>
          {snap.levels.map((l) => (
            <option key={l.index} value={String(l.index)}>
              {l.height ? `${l.height}p` : `${Math.round(l.bitrate / 1000)} kb/s`}
            </option>
          ))}
        </select>
      </label>
    );
  }
  // Live (WebRTC): the server picks the quality from the connection by itself.
  return (
    <label class="control-select" title="Live video adapts to your connection by itself">
      <span>Quality</span>
      <select disabled>
        <option>{snap.receivedHeight && !snap.audioOnly ? `Auto (${snap.receivedHeight}p)` : 'Auto'}</option>
      </select>
    </label>
  );
}

function ControlBar(props: ControlProps) {
  const { snap } = props;
  return (
    <div class="control-bar">
      <TierStatus snap={snap} ended={props.ended} />
      <div class="controls">
        <Button small aria-pressed={snap.audioOnly} onClick={() => props.onAudioOnly(!snap.audioOnly)}>
          <Icon name="headphones" />
          Audio only
        </Button>
        <Button small onClick={() => props.onMuted(!props.muted)}>
          <Icon name={props.muted ? 'muted' : 'volume'} />
          {props.muted ? 'Unmute' : 'Mute'}
        </Button>
        <label class="volume">
          <span class="visually-hidden">Volume</span>
          <input
            type="range"
            min="0"
            max="1"
            step="0.05"
            value={props.muted ? 0 : props.volume}
            onInput={(e) => props.onVolume(Number(e.currentTarget.value))}
          />
        </label>
        <QualityPicker snap={snap} onLevel={props.onLevel} />
        <Button small onClick={props.onFullscreen}>
          <Icon name={props.fullscreen ? 'shrink' : 'expand'} />
          {props.fullscreen ? 'Exit full screen' : 'Full screen'}
        </Button>
      </div>
    </div>
  );
}
