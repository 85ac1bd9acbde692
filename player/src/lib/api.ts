// The REST API from the browser: one fetch wrapper that sends the bearer
// token, parses JSON, and turns refusals into errors a person can read.

import { currentToken } from './auth';

/** A refused or failed request, with words for the page and the status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What a person should read for a status the server gave without words. */
export function wordsFor(status: number): string {
  switch (status) {
    case 0:
      return 'The server cannot be reached. Check your connection; retrying may help.';
    case 401:
      return 'Your sign-in is missing or has expired. Open your class link again.';
    case 403:
      return 'You are not allowed to do this in this class.';
    case 404:
      return 'This class or item does not exist (or was removed).';
    case 409:
      return 'This conflicts with what is happening now. Try again in a moment.';
    case 410:
      return 'This link has expired or has been used up.';
    case 413:
      return 'That is too large.';
    case 429:
      return 'Too many attempts. Wait a moment and try again.';
    case 503:
      return 'The server is busy right now. Try again shortly.';
    default:
      return status >= 500 ? 'The server had a problem. Try again shortly.' : `The request was refused (${status}).`;
  }
}

export interface RequestOptions {
  /** A token other than the page's own (an invite redeem sends none). */
  token?: string | null;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** Calls `path` (same origin) and returns its JSON body (undefined for 204). */
export async function api<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  const token = opts.token === undefined ? currentToken() : opts.token;
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, wordsFor(0));
  }
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The server's own words (`{"error": "..."}`) where it gave them. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let message = '';
  try {
    const body = (await res.json()) as { error?: unknown };
    // "internal error" tells a person nothing; the status's words do.
    if (typeof body.error === 'string' && body.error !== 'internal error') message = body.error;
  } catch {
    // Not JSON: fall back to the status's words.
  }
  const retry = Number(res.headers.get('Retry-After'));
  return new ApiError(res.status, message || wordsFor(res.status), Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

/** An exception's message (else the thing itself as text), for a status line. */
export function messageOf(e: unknown): string {
  const message = (e as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' && message ? message : String(e);
}
