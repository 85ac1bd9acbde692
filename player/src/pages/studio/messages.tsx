// Whole-page messages of the studio: not an instructor's token, not this
// instructor's class, an ended class, refused by the class.
import type { ComponentChildren } from 'preact';
import { AppShell, FullMessage } from '../../ui';

export function Ended(props: { id: string; title: string }) {
  return (
    <AppShell title={props.title}>
      <FullMessage heading="This class has ended">
        <p>The broadcast is over and students can no longer join. Its recordings, if any, appear in the replay.</p>
        <p>
          <a href={`/replay/${encodeURIComponent(props.id)}`}>Open the replay</a> · <a href="/">Back to your classes</a>
        </p>
      </FullMessage>
    </AppShell>
  );
}

export function Blocked(props: { title: string; reason: string }) {
  return (
    <AppShell title={props.title}>
      <FullMessage heading="The studio cannot open">
        <p>{props.reason}</p>
        <p>
          <a href="/">Back to your classes</a>
        </p>
      </FullMessage>
    </AppShell>
  );
}

/** A page-level refusal before anything else loads. */
export function Refused(props: { heading: string; children: ComponentChildren }) {
  return (
    <AppShell title="Studio">
      <FullMessage heading={props.heading}>{props.children}</FullMessage>
    </AppShell>
  );
}
