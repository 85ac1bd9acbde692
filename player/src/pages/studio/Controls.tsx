// The bar under the stage: mic, camera, screen, record; Go live / Stop; End class.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Button } from '../../ui';
import type { Broadcast } from './broadcast';
import { CameraIcon, MicIcon, RecordIcon, ScreenIcon } from './icons';
import type { SessionWatch } from './session';

export function ControlBar(props: { b: Broadcast; session: SessionWatch; onEnd: () => void }) {
  const { b, session } = props;
  const [confirming, setConfirming] = useState(false);
  const publishing = b.publishing.value;
  const record = session.info.value?.record ?? false;
  const canScreen = typeof navigator.mediaDevices?.getDisplayMedia === 'function';
  const sharing = b.screen.value !== null;

  return (
    <>
      <div class="control-bar" role="toolbar" aria-label="Broadcast controls">
        <div class="control-group">
          <Button class="ctl" aria-pressed={!b.micOn.value} disabled={!b.mic.value} onClick={() => b.toggleMic()}>
            <MicIcon off={!b.micOn.value} />
            Mute mic
          </Button>
          <Button class="ctl" aria-pressed={!b.cameraOn.value} disabled={!b.camera.value} onClick={() => b.toggleCamera()}>
            <CameraIcon off={!b.cameraOn.value} />
            Camera off
          </Button>
          {canScreen ? (
            // Its words say what a click does (a toggle's name would have to stay the same).
            <Button
              class={sharing ? 'ctl ctl-sharing' : 'ctl'}
              onClick={() => void b.toggleScreen()}
              title={sharing ? 'Stop showing your screen to the class' : 'Show a screen, window or tab beside your camera'}
            >
              <ScreenIcon />
              {sharing ? 'Stop sharing' : 'Share screen'}
            </Button>
          ) : null}
          <Button
            class="ctl ctl-record"
            aria-pressed={record}
            disabled={session.busy.value}
            onClick={() => void session.setRecord(!record)}
          >
            <RecordIcon />
            Record
          </Button>
        </div>
        <div class="control-group">
          {publishing ? (
            <Button variant="danger" onClick={() => void b.stop()}>
              Stop
            </Button>
          ) : (
            <Button variant="primary" disabled={b.opening.value || (!b.camera.value && !b.mic.value)} onClick={() => b.goLive()}>
              Go live
            </Button>
          )}
          <Button onClick={() => setConfirming(true)} disabled={confirming}>
            End class
          </Button>
        </div>
      </div>
      {confirming ? (
        <EndConfirm
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            props.onEnd();
          }}
        />
      ) : null}
    </>
  );
}

function EndConfirm(props: { onConfirm: () => void; onCancel: () => void }) {
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => confirm.current?.focus(), []);
  return (
    <div class="end-confirm" role="alertdialog" aria-labelledby="end-confirm-text">
      <p id="end-confirm-text">
        End the class for everyone? The broadcast stops, students leave, and the class cannot be restarted.
      </p>
      <div class="control-group">
        <Button onClick={props.onCancel}>Cancel</Button>
        <button ref={confirm} type="button" class="btn btn-danger" onClick={props.onConfirm}>
          End class for everyone
        </button>
      </div>
    </div>
  );
}
