// The instructor's studio: media (camera, Go live over WHIP, screen share)
// on the left, the class (Sidebar) on the right.
import { claimsOf, tokenForSession, usePageToken } from '../../lib/auth';
import { AlertBanner, LinkBanner, Sidebar } from '../../panels';
import { connectRoom } from '../../room/connection';
import { AppShell, FullMessage, mount, pathParam } from '../../ui';

const sessionId = pathParam('/studio/');
const token = sessionId ? tokenForSession(sessionId) : null;
usePageToken(token);
const claims = token ? claimsOf(token) : null;

if (!sessionId || !token || !claims) {
  mount(
    <AppShell title="Studio">
      <FullMessage heading="Sign in to open the studio">
        <p>Open the studio from your classes page, or from the link your school gave you.</p>
      </FullMessage>
    </AppShell>,
  );
} else {
  const room = connectRoom(sessionId, token);
  mount(
    <AppShell title="Studio">
      <LinkBanner room={room} />
      <AlertBanner room={room} />
      <div class="studio-layout">
        <section class="card" aria-label="Your broadcast">
          <h2>Your broadcast</h2>
        </section>
        <Sidebar room={room} />
      </div>
    </AppShell>,
  );
}
