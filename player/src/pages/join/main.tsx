import { AppShell, mount } from '../../ui';

mount(<AppShell title="join">Coming soon.</AppShell>);
