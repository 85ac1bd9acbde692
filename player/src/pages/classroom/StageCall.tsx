// The stage: called on with a publish token, the student is invited to
// speak, previews camera and microphone, goes on stage (WHIP with the stage
// token) and leaves. Mute requests turn the microphone off; being taken off
// stage ends the publish.
import { useEffect, useRef, useState } from 'preact/hooks';
import { publish, type PublishStatus, type WhipPublisher } from '../../lib/whip';
import type { Room } from '../../room/connection';
import { Button, Notice } from '../../ui';
import { Icon } from './icons';

type Step =
  | { kind: 'idle' }
  | { kind: 'invited'; token: string; whipUrl: string }
  | { kind: 'preview'; token: string; whipUrl: string }
  | { kind: 'on-stage'; token: string; whipUrl: string };

/** Words for a refused camera or microphone. */
function deviceWords(e: unknown): string {
  const name = e instanceof DOMException ? e.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Your browser did not allow the camera or microphone. Allow them (the icon in the address bar) and try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone was found. Plug one in and try again.';
    case 'NotReadableError':
      return 'Your camera or microphone is busy in another app. Close it there and try again.';
    default:
      return 'Your camera and microphone could not be started.';
  }
}

const statusWords: Record<PublishStatus['state'], string> = {
  idle: 'Getting ready…',
  connecting: 'Connecting…',
  live: 'You are on stage — everyone can see and hear you.',
  reconnecting: 'Connection lost — reconnecting…',
  failed: 'You could not go on stage.',
  stopped: 'You left the stage.',
};

export function StageCall(props: { room: Room }) {
  const { room } = props;
  const state = room.state.value;
  const [step, setStep] = useState<Step>({ kind: 'idle' });
  const [notice, setNotice] = useState<{ tone: 'info' | 'warn' | 'error'; text: string } | null>(null);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [micOn, setMicOn] = useState(true);
  const [status, setStatus] = useState<PublishStatus | null>(null);
  const publisher = useRef<WhipPublisher | null>(null);
  const preview = useRef<HTMLVideoElement>(null);
  // What this page has already answered: a call-on, mute requests.
  const seenCall = useRef(state.calledOn?.seq ?? 0);
  const seenMutes = useRef(state.muteRequests);
  const wasOnStage = useRef(state.you?.on_stage ?? false);

  const release = (s: MediaStream | null) => s?.getTracks().forEach((t) => t.stop());

  const stopPublishing = (endedByServer = false) => {
    const p = publisher.current;
    publisher.current = null;
    if (p) void p.stop(endedByServer).catch(() => undefined);
  };

  const leave = (words: { tone: 'info' | 'warn' | 'error'; text: string } | null, endedByServer = false) => {
    stopPublishing(endedByServer);
    setStream(null); // the tracks stop in the effect below
    setStatus(null);
    setStep({ kind: 'idle' });
    setNotice(words);
    room.send({ type: 'media_state', mic: false, camera: false, screen: false });
  };

  // A new call-on.
  const call = state.calledOn;
  useEffect(() => {
    if (!call || call.seq <= seenCall.current) return;
    seenCall.current = call.seq;
    if (call.publishToken && call.whipUrl) {
      setNotice(null);
      setStep({ kind: 'invited', token: call.publishToken, whipUrl: call.whipUrl });
    } else {
      setNotice({ tone: 'info', text: 'Your instructor called on you — speak up in the chat.' });
    }
  }, [call?.seq]);

  // A mute request: the microphone goes off, and the student is told.
  useEffect(() => {
    if (state.muteRequests <= seenMutes.current) return;
    seenMutes.current = state.muteRequests;
    if (!stream) return;
    stream.getAudioTracks().forEach((t) => (t.enabled = false));
    setMicOn(false);
    setNotice({ tone: 'warn', text: 'Your instructor muted your microphone.' });
    if (step.kind === 'on-stage') room.send({ type: 'media_state', mic: false, camera: true, screen: false });
  }, [state.muteRequests]);

  // Taken off stage: stop publishing.
  const onStage = state.you?.on_stage ?? false;
  useEffect(() => {
    const was = wasOnStage.current;
    wasOnStage.current = onStage;
    if (was && !onStage && step.kind !== 'idle') {
      // The demote already ended the publish on the server.
      leave({ tone: 'info', text: 'Your instructor ended your turn on stage.' }, true);
    }
  }, [onStage]);

  useEffect(() => {
    if (preview.current && preview.current.srcObject !== stream) preview.current.srcObject = stream;
  });

  // Leaving the page or the class ends everything.
  useEffect(
    () => () => {
      stopPublishing();
    },
    [],
  );
  useEffect(() => () => release(stream), [stream]);

  const startPreview = async (s: Extract<Step, { kind: 'invited' }>) => {
    setNotice(null);
    try {
      const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
      setStream(media);
      setMicOn(true);
      setStep({ kind: 'preview', token: s.token, whipUrl: s.whipUrl });
    } catch (e) {
      setNotice({ tone: 'error', text: deviceWords(e) });
    }
  };

  const goOnStage = (s: Extract<Step, { kind: 'preview' }>) => {
    if (!stream) return;
    setStatus({ state: 'connecting' });
    try {
      publisher.current = publish({
        url: s.whipUrl,
        token: s.token,
        stream,
        onStatus: (st) => {
          setStatus(st);
          const mic = stream.getAudioTracks().some((t) => t.enabled);
          if (st.state === 'live') room.send({ type: 'media_state', mic, camera: true, screen: false });
        },
      });
      setStep({ kind: 'on-stage', token: s.token, whipUrl: s.whipUrl });
    } catch (e) {
      setStatus(null);
      const why = e instanceof Error && e.message ? ` (${e.message})` : '';
      setNotice({ tone: 'error', text: `You could not go on stage${why}. Try again, or tell your instructor in the chat.` });
    }
  };

  const toggleMic = () => {
    if (!stream) return;
    const on = !micOn;
    stream.getAudioTracks().forEach((t) => (t.enabled = on));
    setMicOn(on);
    if (step.kind === 'on-stage') room.send({ type: 'media_state', mic: on, camera: true, screen: false });
  };

  if (step.kind === 'idle') {
    return notice ? (
      <div class="stage-notice">
        <Notice tone={notice.tone}>{notice.text}</Notice>
        <Button small onClick={() => setNotice(null)}>
          Dismiss
        </Button>
      </div>
    ) : null;
  }

  return (
    <section class="stage-card card" aria-label="Stage">
      {step.kind === 'invited' ? (
        <div class="stage-invite">
          <div>
            <h2>You’re invited to speak</h2>
            <p>Your instructor asked you on stage. Everyone in the class will see and hear you.</p>
          </div>
          <div class="stage-actions">
            <Button variant="primary" onClick={() => void startPreview(step)}>
              Set up camera and microphone
            </Button>
            <Button onClick={() => leave(null)}>Not now</Button>
          </div>
        </div>
      ) : (
        <div class="stage-live">
          <video ref={preview} class="stage-preview" muted playsInline autoplay aria-label="Your camera" />
          <div class="stage-side">
            <h2>{step.kind === 'preview' ? 'Check your camera and microphone' : 'On stage'}</h2>
            <p role="status">{status ? (status.state === 'failed' && status.reason ? status.reason : statusWords[status.state]) : 'This is what the class will see.'}</p>
            <div class="stage-actions">
              {step.kind === 'preview' ? (
                <Button variant="primary" onClick={() => goOnStage(step)}>
                  Go on stage
                </Button>
              ) : null}
              <Button onClick={toggleMic}>
                <Icon name={micOn ? 'mic' : 'micOff'} />
                {micOn ? 'Mute microphone' : 'Unmute microphone'}
              </Button>
              <Button variant={step.kind === 'on-stage' ? 'danger' : 'plain'} onClick={() => leave(null)}>
                {step.kind === 'on-stage' ? 'Leave stage' : 'Cancel'}
              </Button>
            </div>
          </div>
        </div>
      )}
      {notice ? <Notice tone={notice.tone}>{notice.text}</Notice> : null}
    </section>
  );
}
