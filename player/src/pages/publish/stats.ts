// What the publish sends (outbound-rtp), for people and the test driver.
import { pub } from './page';

export interface SendSummary {
  video: {
    framesEncoded: number;
    frameWidth: number;
    frameHeight: number;
    bytesSent: number;
    packetsSent: number;
    codec: string | null;
    framesPerSecond: number;
    qualityLimitationReason: string | null;
  } | null;
  audio: { packetsSent: number; bytesSent: number; codec: string | null } | null;
}

export async function stats(): Promise<SendSummary> {
  const out: SendSummary = { video: null, audio: null };
  if (!pub.pc) return out;
  const report = await pub.pc.getStats();
  report.forEach((s: RTCOutboundRtpStreamStats) => {
    if (s.type !== 'outbound-rtp') return;
    const codec = s.codecId ? ((report.get(s.codecId) as { mimeType?: string } | undefined)?.mimeType ?? null) : null;
    if (s.kind === 'video') {
      out.video = {
        framesEncoded: s.framesEncoded ?? 0,
        frameWidth: s.frameWidth ?? 0,
        frameHeight: s.frameHeight ?? 0,
        bytesSent: s.bytesSent ?? 0,
        packetsSent: s.packetsSent ?? 0,
        codec,
        framesPerSecond: s.framesPerSecond ?? 0,
        qualityLimitationReason: s.qualityLimitationReason ?? null,
      };
    } else if (s.kind === 'audio') {
      out.audio = { packetsSent: s.packetsSent ?? 0, bytesSent: s.bytesSent ?? 0, codec };
    }
  });
  return out;
}
