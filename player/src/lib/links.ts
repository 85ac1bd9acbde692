// Link headers (RFC 8288) as the WHIP and WHEP endpoints send them: the ICE
// servers to use (`rel="ice-server"`, RFC 9725 §4.6) and, when a class is
// full, the HLS broadcast to watch instead (`rel="alternate"`).

export interface Link {
  url: string;
  /** The link's parameters, names lowercased, quoted values unescaped. */
  attrs: Record<string, string>;
}

/** Splits a (possibly combined) Link header into its links. */
export function parseLinks(header: string | null | undefined): Link[] {
  const out: Link[] = [];
  if (!header) return out;
  const quoted = '"((?:[^"\\\\]|\\\\.)*)"'; // "…" with \-escapes
  const links = new RegExp(`<([^>]*)>((?:\\s*;\\s*[^;,=\\s]+\\s*=\\s*(?:${quoted}|[^;,]*))*)`, 'g');
  const param = new RegExp(`;\\s*([^;,=\\s]+)\\s*=\\s*(?:${quoted}|([^;,]*))`, 'g');
  for (const m of header.matchAll(links)) {
    const attrs: Record<string, string> = {};
    for (const p of (m[2] ?? '').matchAll(param)) {
      const name = (p[1] ?? '').toLowerCase();
      attrs[name] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '').trim();
    }
    out.push({ url: m[1] ?? '', attrs });
  }
  return out;
}

/** Whether `rel` is among the link's relation types (compared case-insensitively). */
export function hasRel(link: Link, rel: string): boolean {
  return (link.attrs.rel ?? '').toLowerCase().split(/\s+/).includes(rel.toLowerCase());
}

/** ICE servers from `Link: <turn:…>; rel="ice-server"; username="u"; credential="c"`. */
export function iceServersFrom(header: string | null | undefined): RTCIceServer[] {
  return parseLinks(header)
    .filter((l) => hasRel(l, 'ice-server'))
    .map((l) =>
      l.attrs.username !== undefined
        ? { urls: l.url, username: l.attrs.username, credential: l.attrs.credential ?? '' }
        : { urls: l.url },
    );
}
