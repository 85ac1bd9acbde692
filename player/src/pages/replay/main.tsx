import { AppShell, mount } from '../../ui';

mount(<AppShell title="replay">Coming soon.</AppShell>);
