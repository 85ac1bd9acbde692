import { AppShell, mount } from '../../ui';

mount(<AppShell title="studio">Coming soon.</AppShell>);
