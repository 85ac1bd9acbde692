// The student's classroom: the instructor's video (WHEP, else HLS), the
// recording-consent question, the stage, and the class (Sidebar).
import { claimsOf, tokenForSession, usePageToken } from '../../lib/auth';
import { AppShell, FullMessage, mount, pathParam } from '../../ui';
import { Classroom } from './Classroom';

const sessionId = pathParam('/class/');
const token = sessionId ? tokenForSession(sessionId) : null;
usePageToken(token);
const claims = token ? claimsOf(token) : null;

if (!sessionId || !token || !claims) {
  mount(
    <AppShell title="Classroom">
      <FullMessage heading="Use your class link to join">
        <p>Ask your instructor for the class link; it lets you in with your name.</p>
      </FullMessage>
    </AppShell>,
  );
} else {
  mount(<Classroom sessionId={sessionId} token={token} claims={claims} />);
}
