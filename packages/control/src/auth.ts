// Who may use the control plane. On the unix socket: whoever can open it, which its 0600 mode
// limits to the host's user. On TCP: a request with the bearer token (header, or the cookie
// the dashboard gets from `/?token=`), addressed to the loopback name (a page on another
// site that rebinds its DNS name to 127.0.0.1 sends its own Host and is refused).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ControlCodes, ControlError } from './errors.js';

export const TOKEN_COOKIE = 'plugwire_token';

/** A fresh random token (256 bits, URL-safe). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token a request carries: `Authorization: Bearer …` or the cookie. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.startsWith('Bearer ')) return h.slice(7).trim();
  const cookie = req.headers.cookie;
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === TOKEN_COOKIE) return v.join('=');
    }
  }
  return undefined;
}

/** Throws unless a TCP request is addressed to loopback at our port and carries the token. */
export function checkTcp(
  req: IncomingMessage,
  token: string,
  port: number,
  given = tokenOf(req),
): void {
  const host = req.headers.host ?? '';
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
    throw new ControlError(
      403,
      ControlCodes.forbiddenHost,
      `the control API answers only requests for 127.0.0.1:${port} or localhost:${port}`,
    );
  }
  if (given === undefined || !same(given, token)) {
    throw new ControlError(
      401,
      ControlCodes.unauthorized,
      'a bearer token is needed: "Authorization: Bearer <token>" with the token from the token file',
    );
  }
}

/** True when `candidate` is the token (constant time). */
export function isToken(candidate: unknown, token: string): boolean {
  return typeof candidate === 'string' && same(candidate, token);
}
