// The building blocks every page shares: the page shell, buttons, fields,
// badges and notices. Panels and pages compose these; they do not restyle them.
import type { ComponentChildren, JSX } from 'preact';
import { render } from 'preact';
import '../styles/base.css';
import './ui.css';

/** Mounts a page into `#app`. */
export function mount(page: JSX.Element): void {
  const root = document.getElementById('app');
  if (root) render(page, root);
}

export function AppShell(props: { title?: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <div class="app">
      <header class="app-header">
        <a class="app-brand" href="/">
          class<span>cast</span>
        </a>
        <div class="app-title">{props.title}</div>
        {props.actions}
      </header>
      <main class="app-main" id="main">
        {props.children}
      </main>
    </div>
  );
}

type ButtonProps = JSX.ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: 'primary' | 'danger' | 'plain';
  small?: boolean;
};

export function Button({ variant = 'plain', small, class: cls, type, ...rest }: ButtonProps) {
  const extra = typeof cls === 'string' ? cls : '';
  const classes = ['btn', variant !== 'plain' ? `btn-${variant}` : '', small ? 'btn-small' : '', extra].filter((c) => c !== '').join(' ');
  return <button type={type ?? 'button'} class={classes} {...rest} />;
}

export function Field(props: { label: string; children: ComponentChildren; check?: boolean }) {
  return (
    <label class={props.check ? 'field field-check' : 'field'}>
      {props.check ? props.children : null}
      <span>{props.label}</span>
      {props.check ? null : props.children}
    </label>
  );
}

export function Badge(props: { tone?: 'live' | 'ok' | 'warn' | 'danger'; children: ComponentChildren; label?: string }) {
  return (
    <span class={props.tone ? `badge badge-${props.tone}` : 'badge'} aria-label={props.label}>
      {props.children}
    </span>
  );
}

/** A message in words; errors are announced to screen readers at once. */
export function Notice(props: { tone: 'error' | 'info' | 'warn' | 'ok'; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${props.tone}`} role={props.tone === 'error' ? 'alert' : 'status'}>
      {props.children}
    </div>
  );
}

/** A whole-page message: link expired, not allowed, removed from class. */
export function FullMessage(props: { heading: string; children?: ComponentChildren }) {
  return (
    <div class="full-message">
      <h1>{props.heading}</h1>
      {props.children}
    </div>
  );
}

/** The path segment after `prefix` (`/studio/{id}` → id), decoded. */
export function pathParam(prefix: string): string | null {
  const rest = location.pathname.startsWith(prefix) ? location.pathname.slice(prefix.length) : '';
  const id = rest.split('/')[0];
  return id ? decodeURIComponent(id) : null;
}
