// The recording player: play/pause, seek, speed with the pitch kept, and the
// position kept on the server so a reload (or another device) resumes.
import type { Signal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import { clock } from '../../lib/timefmt';
import { Button, Notice } from '../../ui';
import { Chapters } from './Chapters';
import { savePosition, savedPosition, type RecordingView } from './recordings';

const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
/** Below this, starting over is as good as resuming. */
const RESUME_FROM_S = 5;
const SAVE_EVERY_MS = 5000;
/** The server takes at most 2 writes a second per user. */
const MIN_GAP_MS = 1000;

export function Player(props: { rec: RecordingView; time: Signal<number> }) {
  const { rec, time } = props;
  const video = useRef<HTMLVideoElement>(null);
  const [playing, setPlaying] = useState(false);
  const [duration, setDuration] = useState(rec.duration_seconds ?? 0);
  const [rate, setRate] = useState(1);
  const [resumedAt, setResumedAt] = useState<number | null>(null);
  const [failed, setFailed] = useState(false);

  // Saving: every 5 s while playing, on pause, after a seek, when leaving.
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    v.preservesPitch = true;
    let lastSave = 0;
    let pending: ReturnType<typeof setTimeout> | undefined;
    const save = (leaving = false) => {
      clearTimeout(pending);
      const wait = lastSave + MIN_GAP_MS - Date.now();
      if (wait > 0 && !leaving) {
        pending = setTimeout(() => save(), wait);
        return;
      }
      lastSave = Date.now();
      // A position not saved is a small loss: never an error on the page.
      savePosition(rec.id, Math.max(0, v.currentTime), leaving).catch(() => undefined);
    };
    const every = setInterval(() => {
      if (!v.paused && !v.ended) save();
    }, SAVE_EVERY_MS);
    const onPause = () => save();
    const onSeeked = () => save();
    const onLeave = () => save(true);
    v.addEventListener('pause', onPause);
    v.addEventListener('seeked', onSeeked);
    addEventListener('pagehide', onLeave);
    return () => {
      clearInterval(every);
      clearTimeout(pending);
      v.removeEventListener('pause', onPause);
      v.removeEventListener('seeked', onSeeked);
      removeEventListener('pagehide', onLeave);
    };
  }, [rec.id]);

  // Resuming where this user left off.
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    let gone = false;
    setResumedAt(null);
    savedPosition(rec.id).then(
      (at) => {
        if (gone || at === null || at <= RESUME_FROM_S) return;
        const go = () => {
          const end = Number.isFinite(v.duration) ? v.duration : Infinity;
          // In the last moments (2 s, less of a short clip): it was watched; start again instead.
          if (at >= end - Math.min(2, end * 0.05)) return;
          v.currentTime = at;
          setResumedAt(at);
        };
        if (v.readyState >= HTMLMediaElement.HAVE_METADATA) go();
        else v.addEventListener('loadedmetadata', go, { once: true });
      },
      () => undefined,
    );
    return () => {
      gone = true;
    };
  }, [rec.id]);

  const v = () => video.current;
  const toggle = () => {
    const el = v();
    if (!el) return;
    if (el.paused) el.play().catch(() => setFailed(true));
    else el.pause();
  };
  const seekTo = (s: number) => {
    const el = v();
    if (el) el.currentTime = Math.max(0, Math.min(s, duration || s));
  };
  const setSpeed = (r: number) => {
    const el = v();
    if (!el) return;
    el.preservesPitch = true;
    el.playbackRate = r;
  };

  return (
    <div class="player">
      <div class="video-frame">
        <video
          ref={video}
          src={rec.url ?? undefined}
          preload="metadata"
          playsInline
          aria-label={`Recording of ${rec.session_title ?? 'the class'}`}
          onClick={toggle}
          onPlay={() => setPlaying(true)}
          onPause={() => setPlaying(false)}
          onEnded={() => setPlaying(false)}
          onTimeUpdate={(e) => (time.value = e.currentTarget.currentTime)}
          onSeeked={(e) => (time.value = e.currentTarget.currentTime)}
          onLoadedMetadata={(e) => Number.isFinite(e.currentTarget.duration) && setDuration(e.currentTarget.duration)}
          onRateChange={(e) => setRate(e.currentTarget.playbackRate)}
          onError={() => setFailed(true)}
        />
      </div>
      {failed ? (
        <Notice tone="error">
          This recording cannot be played right now: its link may have expired. Reload the page to try again.
        </Notice>
      ) : null}
      <div class="controls">
        <Button variant="primary" onClick={toggle} class="play">
          {playing ? 'Pause' : 'Play'}
        </Button>
        <Button small onClick={() => seekTo(time.value - 10)} title="Back 10 seconds">
          Back 10 s
        </Button>
        <Button small onClick={() => seekTo(time.value + 10)} title="Forward 10 seconds">
          Forward 10 s
        </Button>
        <span class="clock" aria-hidden="true">
          {clock(time.value)} / {clock(duration)}
        </span>
        <input
          class="seek"
          type="range"
          min={0}
          max={duration || 0}
          step={0.1}
          value={time.value}
          aria-label="Seek"
          aria-valuetext={`${clock(time.value)} of ${clock(duration)}`}
          onInput={(e) => seekTo(Number(e.currentTarget.value))}
        />
        <label class="speed">
          <span>Speed</span>
          <select value={String(rate)} onChange={(e) => setSpeed(Number(e.currentTarget.value))}>
            {SPEEDS.map((s) => (
              <option key={s} value={String(s)}>
                {s}×
              </option>
            ))}
          </select>
        </label>
      </div>
      <Chapters chapters={rec.chapters ?? []} now={time.value} seekTo={seekTo} />
      {resumedAt !== null ? (
        <div class="resume">
          <span role="status">Resumed at {clock(resumedAt)}, where you left off.</span>
          <Button
            small
            onClick={() => {
              seekTo(0);
              setResumedAt(null);
            }}
          >
            Start from the beginning
          </Button>
        </div>
      ) : null}
    </div>
  );
}
