// Camera + microphone → WHIP (RFC 9725): one offer with every ICE candidate
// (no trickle), 201 + Location + answer; Stop DELETEs the resource.
import { messageOf } from '../../lib/api';
import { iceGatheringDone } from '../../lib/ice';
import { codecOrder } from '../../lib/whip';
import { authHeaders, fail, httpError, pub, setState, setStatus, ui } from './page';
import { createSession, startPolling } from './sessions';

const ICE_GATHER_MAX_MS = 2000;

/** The chosen codec first, plus the resilience "codecs"; 'auto' leaves the browser's order. */
function preferCodec(transceiver: RTCRtpTransceiver, codec: string): void {
  if (codec === 'auto' || typeof transceiver.setCodecPreferences !== 'function') return;
  const order = codecOrder(RTCRtpSender.getCapabilities('video')?.codecs ?? [], codec);
  if (!order) throw new Error(`this browser cannot send ${codec}`);
  transceiver.setCodecPreferences(order);
}

export async function goLive(): Promise<void> {
  const t0 = performance.now();
  pub.lastError = null;
  pub.location = null;
  setStatus('');
  setState('connecting');
  try {
    const id = ui.session.value.trim() || (await createSession());
    if (pub.session !== id) {
      pub.session = id;
      startPolling();
    }
    const whipUrl = new URL(`/whip/${encodeURIComponent(id)}`, location.href).href;

    setStatus('opening camera and microphone…');
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: 1280, height: 720, frameRate: 30 },
      audio: true,
    });
    pub.stream = stream;
    ui.preview.srcObject = stream;
    setState('connecting'); // refresh buttons now that a stream exists

    const conn = new RTCPeerConnection({ iceServers: [] });
    pub.pc = conn;
    conn.addEventListener('connectionstatechange', () => {
      if (conn !== pub.pc) return;
      if (conn.connectionState === 'failed' && pub.state === 'live') fail('connection failed (ICE/DTLS)');
    });
    for (const track of stream.getTracks()) {
      const tr = conn.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video') preferCodec(tr, ui.codec.value);
    }

    await conn.setLocalDescription(await conn.createOffer());
    setStatus('gathering ICE candidates…');
    await iceGatheringDone(conn, ICE_GATHER_MAX_MS);

    setStatus(`POST ${whipUrl}`);
    const res = await fetch(whipUrl, {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/sdp' }),
      body: conn.localDescription?.sdp ?? '',
    });
    if (res.status !== 201) throw new Error(await httpError(res));
    const answer = await res.text();
    const loc = res.headers.get('Location');
    if (loc) pub.location = new URL(loc, whipUrl).href;
    if (conn !== pub.pc) return; // stopped meanwhile
    await conn.setRemoteDescription({ type: 'answer', sdp: answer });

    setStatus(
      `live in ${Math.round(performance.now() - t0)} ms${pub.location ? '' : ' (no Location header: Stop cannot end the session)'}`,
    );
    setState('live');
  } catch (e) {
    const message = messageOf(e);
    teardown();
    fail(message);
  }
}

function teardown(): void {
  if (pub.pc) {
    pub.pc.close();
    pub.pc = null;
  }
  if (pub.stream) {
    for (const t of pub.stream.getTracks()) t.stop();
    pub.stream = null;
  }
  ui.preview.srcObject = null;
  ui.camera.textContent = 'Camera on';
  ui.camera.setAttribute('aria-pressed', 'true');
  ui.mic.textContent = 'Mic on';
  ui.mic.setAttribute('aria-pressed', 'true');
}

export async function stop(): Promise<void> {
  const loc = pub.location;
  teardown();
  let note = 'stopped';
  if (loc) {
    try {
      const res = await fetch(loc, { method: 'DELETE', headers: authHeaders() });
      if (!res.ok) note = `stopped; DELETE answered ${await httpError(res)}`;
    } catch (e) {
      note = `stopped; DELETE failed: ${messageOf(e)}`;
    }
    pub.location = null;
  }
  setStatus(note, note !== 'stopped');
  setState('stopped');
}

/** Camera or mic on/off: the track stays, disabled (black frames, silence). */
export function toggle(kind: 'video' | 'audio', button: HTMLButtonElement, label: string): void {
  const track = pub.stream?.getTracks().find((t) => t.kind === kind);
  if (!track) return;
  track.enabled = !track.enabled;
  button.textContent = `${label} ${track.enabled ? 'on' : 'off'}`;
  button.setAttribute('aria-pressed', String(track.enabled));
}
