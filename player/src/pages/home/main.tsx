import { AppShell, mount } from '../../ui';

mount(<AppShell title="Your classes">Sessions will be listed here.</AppShell>);
