// The connection the sdk unit tests run over. By default connectInProcess's in-memory pair;
// with PLUGWIRE_SDK_TEST_TRANSPORT=unix (sdk-unix.test.ts) a real unix socket between the
// same host and plugin code, so socket buffers, backpressure and a destroyed socket are the
// real ones (the in-memory pair has no backpressure and turns destroy into a clean end).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as dial, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectInProcess,
  type InProcessConnection,
  type InProcessOptions,
  type PluginSet,
} from '@plugwire/core';
import { codecByName } from '@plugwire/rpc';
// The connection layer itself, which serve() and PluginClient run over their socket; not
// part of core's public surface, so imported from the built file that the package loads.
import { HostConnection, servePluginConnection } from '../../core/dist/connection.js';

export type Transport = 'memory' | 'unix';

export const transport: Transport =
  process.env.PLUGWIRE_SDK_TEST_TRANSPORT === 'unix' ? 'unix' : 'memory';

/** connectInProcess, over the transport this test run uses. */
export async function connect(options: InProcessOptions): Promise<InProcessConnection> {
  return transport === 'unix' ? connectOverUnixSocket(options) : connectInProcess(options);
}

function sets(o: InProcessOptions['server']): Map<number, PluginSet> {
  if (o.versionedPlugins) {
    return new Map(Object.entries(o.versionedPlugins).map(([v, s]) => [Number(v), s]));
  }
  return new Map([[1, o.plugins ?? {}]]);
}

async function connectOverUnixSocket(options: InProcessOptions): Promise<InProcessConnection> {
  const serverSets = sets(options.server);
  const clientSets = sets(options.client ?? options.server);
  const version = Math.max(...[...clientSets.keys()].filter((v) => serverSets.has(v)));
  if (!Number.isFinite(version)) throw new Error('no common protocol version');
  const codec = codecByName(options.codec ?? 'msgpack');
  const brokerTimeout = options.brokerTimeout ?? 5_000;

  const dir = mkdtempSync(join(tmpdir(), 'pw-sdk-'));
  const path = join(dir, 'plugin.sock');
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  const hostEnd = dial(path);
  const pluginEnd = await accepted;
  server.close(); // one connection, as a plugin serves one host

  const pluginSession = servePluginConnection(pluginEnd, {
    plugins: serverSets.get(version)!,
    protocolVersion: version,
    codec,
    name: 'unix',
    brokerTimeout,
    exposeStack: options.exposeStack ?? true,
    init: options.init,
    onQuit: () => pluginSession.destroy(),
    onError: (message, err) => {
      throw new Error(`${message}: ${err.message}`, { cause: err });
    },
  });
  const host = new HostConnection(hostEnd, {
    plugins: clientSets.get(version)!,
    protocolVersion: version,
    codec,
    name: 'unix',
    brokerTimeout,
  });
  const ready = host.init(options.config);
  ready.catch(() => {});
  return {
    ready,
    protocolVersion: version,
    codec: codec.name,
    broker: host.broker,
    dispense: (async (plugin: string | { name: string }) => {
      await ready;
      return host.dispense(typeof plugin === 'string' ? plugin : plugin.name);
    }) as InProcessConnection['dispense'],
    ping: () => host.ping(),
    async close() {
      host.session.destroy();
      pluginSession.destroy();
      await Promise.all([host.session.closed, pluginSession.closed]);
      hostEnd.destroy();
      pluginEnd.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
