// The cards under the stage: devices (with the mic level), and the
// broadcast (what is sent, who watches, the OBS settings).
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Resolution } from '../../lib/devices';
import type { SendStats } from '../../lib/whip';
import { Button, Field } from '../../ui';
import type { Broadcast } from './broadcast';
import type { SessionWatch } from './session';

export function DevicesCard(props: { b: Broadcast }) {
  const { b } = props;
  const { cameras, mics } = b.devices.value;
  const choice = b.choice.value;
  const level = Math.round(b.level.value * 100);
  return (
    <section class="card studio-card" aria-labelledby="devices-heading">
      <h2 id="devices-heading">Camera and microphone</h2>
      <div class="device-grid">
        <Field label="Camera">
          <select value={choice.cameraId} disabled={b.opening.value} onChange={(e) => void b.choose({ cameraId: e.currentTarget.value })}>
            <option value="">Default camera</option>
            {cameras.map((c) => (
              <option key={c.id} value={c.id}>
                {c.label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Resolution">
          <select
            value={choice.resolution}
            disabled={b.opening.value || b.screen.value !== null}
            onChange={(e) => void b.choose({ resolution: e.currentTarget.value as Resolution })}
          >
            <option value="360p">360p (low bandwidth)</option>
            <option value="720p">720p (recommended)</option>
            <option value="1080p">1080p (fast network)</option>
          </select>
        </Field>
        <Field label="Microphone">
          <select value={choice.micId} disabled={b.opening.value} onChange={(e) => void b.choose({ micId: e.currentTarget.value })}>
            <option value="">Default microphone</option>
            {mics.map((m) => (
              <option key={m.id} value={m.id}>
                {m.label}
              </option>
            ))}
          </select>
        </Field>
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
      <CopyField label="WHIP server URL" value={props.whipUrl} />
      <CopyField label="Bearer token" value={props.token} secret={!shown}>
        <Button small aria-pressed={shown} onClick={() => setShown(!shown)}>
          Show token
        </Button>
      </CopyField>
    </details>
  );
}

function CopyField(props: { label: string; value: string; secret?: boolean; children?: ComponentChildren }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied('yes');
    } catch {
      setCopied('no');
    }
    setTimeout(() => setCopied(null), 2500);
  };
  return (
    <div class="copy-field">
      <Field label={props.label}>
        <input type={props.secret ? 'password' : 'text'} readOnly value={props.value} onFocus={(e) => e.currentTarget.select()} />
      </Field>
      <div class="copy-actions">
        {props.children}
        <Button small onClick={() => void copy()} aria-label={`Copy ${props.label}`}>
          Copy
        </Button>
        <span class="copied" role="status">
          {copied === 'yes' ? 'Copied' : copied === 'no' ? 'Select the text and copy it (Ctrl+C)' : ''}
        </span>
      </div>
    </div>
  );
}
