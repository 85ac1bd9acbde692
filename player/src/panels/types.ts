import type { Room } from '../room/connection';

export interface PanelProps {
  room: Room;
}
