// The student's classroom: the instructor's video (WHEP, else HLS) and the
// class (Sidebar).
import { claimsOf, tokenForSession, usePageToken } from '../../lib/auth';
import { LinkBanner, Sidebar } from '../../panels';
import { connectRoom } from '../../room/connection';
import { AppShell, FullMessage, mount, pathParam } from '../../ui';

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
  const room = connectRoom(sessionId, token);
  mount(
    <AppShell title="Classroom">
      <LinkBanner room={room} />
      <div class="classroom-layout">
        <section class="card" aria-label="Class video">
          <h2>Class video</h2>
        </section>
        <Sidebar room={room} />
      </div>
    </AppShell>,
  );
}
