// Whether the server has the invite, chat-replay and position endpoints of
// issue 15 (docs/web.md). An unknown /api path falls through to the pages'
// plain-text "not found"; an endpoint that exists answers JSON, even to a
// bad request. Scenarios assert the pages' behaviour with those endpoints
// when they exist and, until then, the words the pages show without them.
export async function hasIssue15Api(base) {
  const res = await fetch(`${base}/api/invites/probe-not-a-code`);
  return (res.headers.get('content-type') ?? '').includes('application/json');
}

/** Console lines a page logs for a request the server refused on purpose. */
export const REFUSED = (...statuses) => statuses.map((s) => new RegExp(`status of ${s}`));
