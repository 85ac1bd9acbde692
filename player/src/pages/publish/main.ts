// classcast instructor publisher (player/publish.html): camera + mic → WHIP
// (RFC 9725) to the classcast server.
//
//   publish.html#token=<jwt>&session=<id>[&codec=auto|h264|vp8]   (the query string works too)
//
// Without a session, Go live (or Create session) creates one.
import { messageOf } from '../../lib/api';
import { installHook } from './hook';
import { pub, setState, setStatus, ui } from './page';
import { goLive, stop, toggle } from './publisher';
import { createSession, readParams, startPolling, stopPolling } from './sessions';

installHook();

ui.create.addEventListener('click', () => {
  ui.create.disabled = true;
  createSession()
    .catch((e: unknown) => {
      pub.lastError = messageOf(e);
      setStatus(pub.lastError, true);
    })
    .finally(() => {
      ui.create.disabled = pub.state === 'connecting' || pub.state === 'live';
    });
});
ui.controls.addEventListener('submit', (e) => e.preventDefault());
ui.golive.addEventListener('click', () => void goLive());
ui.stop.addEventListener('click', () => void stop());
ui.camera.addEventListener('click', () => toggle('video', ui.camera, 'Camera'));
ui.mic.addEventListener('click', () => toggle('audio', ui.mic, 'Mic'));
ui.session.addEventListener('change', () => {
  pub.session = ui.session.value.trim() || null;
  if (pub.session) startPolling();
  else stopPolling();
});

function init(): void {
  readParams();
  pub.session = ui.session.value.trim() || null;
  if (pub.session) startPolling();
  else stopPolling();
}
// Pasting a new #token=..&session=.. into the address bar re-reads it (unless publishing).
window.addEventListener('hashchange', () => {
  if (pub.state !== 'connecting' && pub.state !== 'live') init();
});
init();
setState('idle');
