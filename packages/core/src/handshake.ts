import { CORE_PROTOCOL_VERSION, RPC_PROTOCOL } from './constants.js';
import { HandshakeError } from './errors.js';

/**
 * Who may talk to whom. Host and plugin must agree on the cookie; the protocol versions
 * say which plugin sets they can speak. Mirrors go-plugin's HandshakeConfig.
 */
export interface HandshakeConfig {
  /**
   * The application protocol version, when host and plugin speak a single one. Use
   * `versionedPlugins` on both sides to support several.
   * @default 1
   */
  protocolVersion?: number;
  /**
   * Name of the environment variable that carries the cookie. The cookie is not a secret
   * and not security: it tells a plugin binary that a host started it, so a person who
   * runs it by hand gets an explanation instead of a hang.
   * @default 'PLUGWIRE_MAGIC_COOKIE'
   */
  magicCookieKey?: string;
  /** @default plugwire's built-in cookie value */
  magicCookieValue?: string;
}

/** The fields of the handshake line: `CORE|APP|NETWORK|ADDRESS|PROTOCOL[|CERT]`. */
export interface Handshake {
  coreVersion: number;
  appVersion: number;
  network: 'unix' | 'tcp';
  address: string;
  /** The codec in `jsonrpc+<codec>`. */
  codec: string;
  /** Base64 DER certificate of the plugin, when TLS was negotiated. */
  cert?: string;
}

/** What the host accepts; used to validate the line. */
export interface HandshakeExpectation {
  versions: readonly number[];
  codecs: readonly string[];
}

export function formatHandshake(h: Handshake): string {
  const fields = [h.coreVersion, h.appVersion, h.network, h.address, `${RPC_PROTOCOL}+${h.codec}`];
  if (h.cert) fields.push(h.cert);
  return fields.join('|');
}

/**
 * Tells a handshake line from other output the plugin printed. Output that does not look
 * like a handshake at all (`undefined`) is forwarded as plugin stdout: plugin code that
 * prints before serve() must not break the start (go-plugin issues #164, #199, #233).
 * Output glued in front of the handshake on the same line (a `print` without newline) is
 * split off as `before`.
 *
 * A handshake attempt is `DIGITS|DIGITS|ALNUM|` anywhere in the line. The scan is one pass
 * over the `|`-separated fields, so it is linear in the line: a regex with `\d+` at an
 * unanchored start backtracks quadratically, and 256 KiB of digits froze the host's event
 * loop for ~10 s (issue #13, item 6).
 */
export function findHandshake(line: string): { before: string; candidate: string } | undefined {
  // Field j starts at starts[j] and ends at the `|` where field j+1 starts.
  let fieldStart = 0;
  const starts: number[] = [];
  for (let i = 0; i <= line.length; i++) {
    if (i < line.length && line.charCodeAt(i) !== PIPE) continue;
    starts.push(fieldStart);
    fieldStart = i + 1;
    const k = starts.length - 3; // fields k, k+1 and k+2, which ends here at a `|`
    if (i === line.length || k < 0) continue;
    const endK = starts[k + 1]! - 1;
    const digitsFrom = digitSuffixStart(line, starts[k]!, endK);
    if (digitsFrom === endK) continue;
    if (!isAll(line, starts[k + 1]!, starts[k + 2]! - 1, isDigit)) continue;
    if (!isAll(line, starts[k + 2]!, i, isLowerAlnum)) continue;
    let start = digitsFrom;
    // "count: 51|2|unix|…": the digits of the prefix ran into the core version.
    const core = line.slice(digitsFrom, endK);
    const want = String(CORE_PROTOCOL_VERSION);
    if (core !== want && core.endsWith(want)) start += core.length - want.length;
    return { before: line.slice(0, start), candidate: line.slice(start) };
  }
  return undefined;
}

const PIPE = 0x7c;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isLowerAlnum(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x7a);
}

/** True when line[from, to) is not empty and every character passes `ok`. */
function isAll(line: string, from: number, to: number, ok: (c: number) => boolean): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) if (!ok(line.charCodeAt(i))) return false;
  return true;
}

/** Where the run of digits that ends at `to` begins (`to` when there is none). */
function digitSuffixStart(line: string, from: number, to: number): number {
  let i = to;
  while (i > from && isDigit(line.charCodeAt(i - 1))) i--;
  return i;
}

/**
 * Parses and validates a handshake line against what the host offered. Throws a
 * HandshakeError that quotes the line and says what was expected.
 */
export function parseHandshake(line: string, expect: HandshakeExpectation): Handshake {
  const expected =
    `expected CORE|APP|NETWORK|ADDRESS|PROTOCOL, e.g. "${CORE_PROTOCOL_VERSION}|${expect.versions[0] ?? 1}|unix|/tmp/plugwire-x/plugin.sock|${RPC_PROTOCOL}+${expect.codecs[0] ?? 'msgpack'}", ` +
    `with CORE ${CORE_PROTOCOL_VERSION}, APP one of [${expect.versions.join(', ')}], ` +
    `PROTOCOL one of [${expect.codecs.map((c) => `${RPC_PROTOCOL}+${c}`).join(', ')}]`;
  const fail = (what: string): never => {
    throw new HandshakeError(`invalid handshake line "${line}": ${what}; ${expected}`, { line });
  };
  const parts = line.split('|');
  if (parts.length < 5 || parts.length > 6) fail(`${parts.length} fields`);
  const [coreText, appText, network, address, protocol, cert] = parts as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  const coreVersion = Number(coreText);
  if (!/^\d+$/.test(coreText)) fail(`core version "${coreText}" is not a number`);
  if (coreVersion !== CORE_PROTOCOL_VERSION) {
    fail(
      `core protocol version ${coreVersion} is not supported (this host speaks ${CORE_PROTOCOL_VERSION})`,
    );
  }
  if (!/^\d+$/.test(appText)) fail(`app version "${appText}" is not a number`);
  const appVersion = Number(appText);
  if (!expect.versions.includes(appVersion)) {
    fail(`app protocol version ${appVersion} was not offered by the host`);
  }
  if (network !== 'unix' && network !== 'tcp') fail(`unknown network "${network}"`);
  if (!address) fail('empty address');
  if (network === 'tcp' && !isLoopback(address)) {
    fail(`tcp address "${address}" is not a loopback address`);
  }
  const plus = protocol.indexOf('+');
  const rpc = plus < 0 ? protocol : protocol.slice(0, plus);
  const codec = plus < 0 ? '' : protocol.slice(plus + 1);
  if (rpc !== RPC_PROTOCOL) fail(`unknown protocol "${protocol}"`);
  if (!expect.codecs.includes(codec)) fail(`codec "${codec}" was not offered by the host`);
  const h: Handshake = {
    coreVersion,
    appVersion,
    network: network as 'unix' | 'tcp',
    address,
    codec,
  };
  if (cert !== undefined) {
    if (!/^[A-Za-z0-9+/=]+$/.test(cert)) fail('the certificate field is not base64');
    h.cert = cert;
  }
  return h;
}

function isLoopback(address: string): boolean {
  const i = address.lastIndexOf(':');
  if (i < 0 || !/^\d+$/.test(address.slice(i + 1))) return false;
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The highest version both sides have, as go-plugin picks it. */
export function negotiateVersion(
  hostVersions: readonly number[],
  pluginVersions: readonly number[],
): number | undefined {
  const common = pluginVersions.filter((v) => hostVersions.includes(v));
  return common.length ? Math.max(...common) : undefined;
}

/** The host's most preferred codec that the plugin also has. */
export function negotiateCodec(
  hostCodecs: readonly string[],
  pluginCodecs: readonly string[],
): string | undefined {
  return hostCodecs.find((c) => pluginCodecs.includes(c));
}

/** Parses `PLUGIN_PROTOCOL_VERSIONS`: "1,2,3" → [1, 2, 3]; junk entries are dropped. */
export function parseVersionList(value: string | undefined): number[] {
  if (!value) return [];
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => /^\d+$/.test(v))
    .map(Number);
}
