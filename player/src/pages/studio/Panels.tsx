// The cards under the stage: devices (with the mic level), and the
// broadcast (what is sent, who watches, the OBS settings).
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Resolution } from '../../lib/devices';
import type { SendStats } from '../../lib/whip';
import { Button } from '../../ui';
import type { Broadcast } from './broadcast';
import type { SessionWatch } from './session';

/** A control with a label of its own (a wrapping label would add the chosen option to the name). */
function Labelled(props: { id: string; label: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
    </div>
  );
}

export function DevicesCard(props: { b: Broadcast }) {
  const { b } = props;
  const { cameras, mics } = b.devices.value;
  const choice = b.choice.value;
  const level = Math.round(b.level.value * 100);
  return (
    <section class="card studio-card" aria-labelledby="devices-heading">
      <h2 id="devices-heading">Camera and microphone</h2>
      <div class="device-grid">
        <Labelled id="pick-camera" label="Camera">
          <select id="pick-camera" value={choice.cameraId} disabled={b.opening.value} onChange={(e) => void b.choose({ cameraId: e.currentTarget.value })}>
            <option value="">Default camera</option>
            {cameras.map((c) => (
              <option key={c.id} value={c.id}>
                {c.label}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled id="pick-resolution" label="Resolution">
          <select
            id="pick-resolution"
            value={choice.resolution}
            disabled={b.opening.value}
            onChange={(e) => void b.choose({ resolution: e.currentTarget.value as Resolution })}
          >
            <option value="360p">360p (low)</option>
            <option value="720p">720p (HD)</option>
            <option value="1080p">1080p (full HD)</option>
          </select>
        </Labelled>
        <Labelled id="pick-mic" label="Microphone">
          <select id="pick-mic" value={choice.micId} disabled={b.opening.value} onChange={(e) => void b.choose({ micId: e.currentTarget.value })}>
            <option value="">Default microphone</option>
            {mics.map((m) => (
              <option key={m.id} value={m.id}>
                {m.label}
              </option>
            ))}
          </select>
        </Labelled>
        <div class="meter-field">
          <span id="meter-label">Microphone level</span>
          <div
            class="meter"
            role="meter"
            aria-labelledby="meter-label"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={level}
            aria-valuetext={b.mic.value ? (b.micOn.value ? `${level} %` : 'muted') : 'no microphone'}
          >
            <div class="meter-fill" style={{ transform: `scaleX(${b.micOn.value ? b.level.value : 0})` }} />
          </div>
        </div>
      </div>
    </section>
  );
}

/** "1280×720 · 2,450 kbps · 30 fps", or what is not known yet. */
export function sentWords(s: SendStats | null): string {
  if (!s) return 'Measuring…';
  const parts: string[] = [];
  if (s.width && s.height) parts.push(`${s.width}×${s.height}`);
  if (s.bitrateKbps !== undefined) parts.push(`${s.bitrateKbps.toLocaleString('en-US')} kbps`);
  if (s.fps !== undefined) parts.push(`${Math.round(s.fps)} fps`);
  return parts.length ? parts.join(' · ') : 'Measuring…';
}

export function BroadcastCard(props: { b: Broadcast; session: SessionWatch; token: string }) {
  const { b, session } = props;
  const info = session.info.value;
  const live = b.status.value.state === 'live';
  return (
    <section class="card studio-card" aria-labelledby="broadcast-heading">
      <h2 id="broadcast-heading">Broadcast</h2>
      <dl class="facts">
        <div>
          <dt>Sending</dt>
          <dd aria-live="off" data-testid="sending">
            {live ? sentWords(b.sent.value) : 'Nothing (not live)'}
          </dd>
        </div>
        <div>
          <dt>Viewers</dt>
          <dd>
            <span class="tier">WebRTC {info?.viewers.webrtc ?? 0}</span>
            <span class="tier">HLS {info?.viewers.hls ?? 0}</span>
          </dd>
        </div>
        <div>
          <dt>Recording</dt>
          <dd>{info?.record ? 'On' : 'Off'}</dd>
        </div>
      </dl>
      {info ? <ObsSettings whipUrl={info.whip_url} token={props.token} /> : null}
    </section>
  );
}

function ObsSettings(props: { whipUrl: string; token: string }) {
  const [shown, setShown] = useState(false);
  return (
    <details class="obs">
      <summary>Stream from OBS</summary>
      <p class="hint">In OBS: Settings → Stream → Service “WHIP”, then paste these. Stop the broadcast here first.</p>
      <CopyField id="obs-url" label="WHIP server URL" value={props.whipUrl} />
      <CopyField id="obs-token" label="Bearer token" value={props.token} secret={!shown}>
        <Button small aria-pressed={shown} onClick={() => setShown(!shown)}>
          Show token
        </Button>
      </CopyField>
    </details>
  );
}

function CopyField(props: { id: string; label: string; value: string; secret?: boolean; children?: ComponentChildren }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied('yes');
    } catch {
      // No clipboard access (an insecure origin, or refused): select it for Ctrl+C.
      const input = document.getElementById(props.id);
      if (input instanceof HTMLInputElement) {
        input.type = 'text';
        input.select();
      }
      setCopied('no');
    }
    setTimeout(() => setCopied(null), 2500);
  };
  return (
    <div class="copy-field">
      <Labelled id={props.id} label={props.label}>
        <input id={props.id} type={props.secret ? 'password' : 'text'} readOnly value={props.value} onFocus={(e) => e.currentTarget.select()} />
      </Labelled>
      <div class="copy-actions">
        {props.children}
        <Button small onClick={() => void copy()} aria-label={`Copy ${props.label}`}>
          Copy
        </Button>
        <span class="copied" role="status">
          {copied === 'yes' ? 'Copied' : copied === 'no' ? 'Press Ctrl+C' : ''}
        </span>
      </div>
    </div>
  );
}
