// Line icons for media state (stroke follows the text colour), decorative:
// the words go beside them for screen readers.
const common = {
  width: 16,
  height: 16,
  viewBox: '0 0 24 24',
  fill: 'none',
  stroke: 'currentColor',
  'stroke-width': 2,
  'stroke-linecap': 'round' as const,
  'stroke-linejoin': 'round' as const,
  'aria-hidden': true,
  focusable: 'false',
};

const Slash = () => <line x1="3" y1="3" x2="21" y2="21" />;

export const MicIcon = ({ off }: { off?: boolean }) => (
  <svg {...common}>
    <rect x="9" y="2" width="6" height="12" rx="3" />
    <path d="M5 10a7 7 0 0 0 14 0M12 17v4M8 21h8" />
    {off ? <Slash /> : null}
  </svg>
);

export const CameraIcon = ({ off }: { off?: boolean }) => (
  <svg {...common}>
    <rect x="2" y="6" width="14" height="12" rx="2" />
    <path d="M16 10l6-3v10l-6-3" />
    {off ? <Slash /> : null}
  </svg>
);

export const ScreenIcon = () => (
  <svg {...common}>
    <rect x="2" y="4" width="20" height="13" rx="2" />
    <path d="M8 21h8M12 17v4" />
  </svg>
);
