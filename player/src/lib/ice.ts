// ICE for the WHIP and WHEP clients, which send no trickle with the offer:
// the offer goes once gathering is complete, or after a bound.

/** Resolves when `pc` has gathered its candidates, or after `maxMs` at the latest. */
export function iceGatheringDone(pc: RTCPeerConnection, maxMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, maxMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * The `application/trickle-ice-sdpfrag` body (RFC 8840) carrying candidates
 * found after the offer went (`null`: end of candidates), for a PATCH to the
 * resource; null when there is nothing to send (or no ICE credentials in
 * `localSdp`).
 */
export function trickleFragment(localSdp: string, candidates: readonly ({ candidate: string } | null)[]): string | null {
  const ufrag = /^a=ice-ufrag:(.*)$/m.exec(localSdp)?.[1]?.trim();
  const pwd = /^a=ice-pwd:(.*)$/m.exec(localSdp)?.[1]?.trim();
  const kind = /^m=(\S+) /m.exec(localSdp)?.[1] ?? 'audio';
  const mid = /^a=mid:(.*)$/m.exec(localSdp)?.[1]?.trim() ?? '0';
  if (!ufrag || !pwd) return null;
  const lines = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, `m=${kind} 9 UDP/TLS/RTP/SAVPF 0`, `a=mid:${mid}`];
  for (const c of candidates) {
    if (!c) lines.push('a=end-of-candidates');
    else if (c.candidate) lines.push(`a=${c.candidate}`);
  }
  if (lines.length === 4) return null;
  return `${lines.join('\r\n')}\r\n`;
}
