// The host's way to a plugin's socket: connect (unix or loopback tcp), present the tcp
// token, then the TLS handshake when there is TLS. Everything waits against the start's
// deadline.
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { TCP_AUTH_ACK } from './constants.js';
import type { StartDeadline } from './deadline.js';
import { HandshakeError } from './errors.js';
import type { Handshake } from './handshake.js';

export interface DialOptions {
  deadline: StartDeadline;
  /** The plugin's last stderr lines, for error messages. */
  stderr: () => readonly string[];
  /** TLS to run over the connection, when there is TLS. */
  tls?: ConnectionOptions | undefined;
  /** The tcp authentication token (Env.AuthToken); ignored for unix sockets. */
  token?: string | undefined;
}

/** Connects to the handshake's address and returns the socket the yamux session runs on. */
export async function dial(h: Handshake, o: DialOptions): Promise<Socket> {
  const raw = await connectRaw(h, o);
  try {
    if (h.network === 'tcp' && o.token) await presentToken(raw, h, o);
    return o.tls ? await startTls(raw, o.tls, o) : raw;
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

function connectRaw(h: Handshake, o: DialOptions): Promise<Socket> {
  let socket: Socket;
  if (h.network === 'unix') {
    socket = connect({ path: h.address });
  } else {
    const i = h.address.lastIndexOf(':');
    socket = connect({
      host: h.address.slice(0, i).replace(/^\[|\]$/g, ''),
      port: Number(h.address.slice(i + 1)),
      noDelay: true,
    });
  }
  const connected = new Promise<Socket>((resolve, reject) => {
    const onError = (err: Error) =>
      reject(
        new HandshakeError(
          `could not connect to the plugin at ${h.network}:${h.address}: ${err.message}`,
          { cause: err, stderr: o.stderr(), code: 'PLUGWIRE_CONNECT' },
        ),
      );
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
  return o.deadline.race(connected, 'the connection', () => socket.destroy());
}

/**
 * Sends the token and waits for the plugin's one-byte answer. A plugin that closes instead
 * did not take the token: it is another program, or one that does not implement tcp
 * authentication (start it with `insecureTcp`).
 */
function presentToken(socket: Socket, h: Handshake, o: DialOptions): Promise<void> {
  const answered = new Promise<void>((resolve, reject) => {
    const refused = (why: string, cause?: Error) => {
      cleanup();
      reject(
        new HandshakeError(
          `the plugin at tcp:${h.address} ${why}: it is not the plugin this host started, or it does not implement tcp authentication (see insecureTcp)`,
          { cause, stderr: o.stderr(), code: 'PLUGWIRE_TCP_AUTH' },
        ),
      );
    };
    const onData = (chunk: Buffer) => {
      cleanup();
      if (chunk[0] !== TCP_AUTH_ACK) {
        refused(`answered the token with byte ${chunk[0]}`);
        return;
      }
      // The plugin sends nothing more before our first yamux frame; anything that came
      // anyway goes back in front for the session.
      if (chunk.length > 1) socket.unshift(chunk.subarray(1));
      resolve();
    };
    const onEnd = () => refused('closed the connection instead of accepting the token');
    const onError = (err: Error) =>
      refused(`failed while checking the token (${err.message})`, err);
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.write(o.token!);
  });
  return o.deadline.race(answered, 'the answer to the tcp token', () => socket.destroy());
}

function startTls(raw: Socket, options: ConnectionOptions, o: DialOptions): Promise<Socket> {
  const secure = tlsConnect({ ...options, socket: raw });
  const done = new Promise<Socket>((resolve, reject) => {
    const onError = (err: Error) => {
      secure.destroy();
      reject(
        new HandshakeError(`the TLS handshake with the plugin failed: ${err.message}`, {
          cause: err,
          stderr: o.stderr(),
          code: 'PLUGWIRE_TLS',
        }),
      );
    };
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      resolve(secure);
    });
  });
  return o.deadline.race(done, 'the TLS handshake', () => secure.destroy());
}
