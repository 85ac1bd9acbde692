import { AppShell, mount } from '../../ui';

mount(<AppShell title="classroom">Coming soon.</AppShell>);
