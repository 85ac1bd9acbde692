// Control-bar icons (decorative: every button has its words beside them).
import type { JSX } from 'preact';

function Icon(props: { children: JSX.Element | JSX.Element[] }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
      {props.children}
    </svg>
  );
}

export const MicIcon = (p: { off?: boolean }) => (
  <Icon>
    <path d="M12 14a3 3 0 0 0 3-3V6a3 3 0 0 0-6 0v5a3 3 0 0 0 3 3Z" />
    <path d="M18 11a6 6 0 0 1-12 0M12 17v4" />
    {p.off ? <path d="M4 4l16 16" /> : <g />}
  </Icon>
);

export const CameraIcon = (p: { off?: boolean }) => (
  <Icon>
    <rect x="3" y="6" width="12" height="12" rx="2" />
    <path d="M15 10l6-3v10l-6-3" />
    {p.off ? <path d="M3 3l18 18" /> : <g />}
  </Icon>
);

export const ScreenIcon = () => (
  <Icon>
    <rect x="3" y="4" width="18" height="12" rx="2" />
    <path d="M8 20h8M12 16v4" />
  </Icon>
);

export const RecordIcon = () => (
  <Icon>
    <circle cx="12" cy="12" r="6" class="icon-fill" />
  </Icon>
);
