// A host or a plugin needs @plugwire/sdk only (#18 item 1): what they use from
// @plugwire/core is re-exported, as the same objects, so `instanceof` works across both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as core from '@plugwire/core';
import * as sdk from '@plugwire/sdk';

const fromCore = [
  'PluginClient',
  'serve',
  'connectInProcess',
  'cleanupClients',
  'createLogger',
  'RpcPeer',
  'RpcError',
  'PlugwireError',
  'PluginExitedError',
  'HandshakeError',
  'StartTimeoutError',
  'UnknownPluginError',
  'ClientStateError',
  'ChecksumMismatchError',
  'ReattachError',
  'TimeoutError',
  'CancelledError',
  'ConnectionClosedError',
  'MessageTooLargeError',
  'BrokerError',
  'BrokerTimeoutError',
] as const;

const sdkExports: Record<string, unknown> = { ...sdk };
const coreExports: Record<string, unknown> = { ...core };
for (const name of fromCore) {
  test(`@plugwire/sdk re-exports ${name} from @plugwire/core`, () => {
    assert.equal(typeof sdkExports[name], 'function');
    assert.equal(sdkExports[name], coreExports[name]);
  });
}

test('a host catches a core error imported from @plugwire/sdk', () => {
  const err = new core.PluginExitedError({ code: 1, signal: null }, ['boom']);
  assert.ok(err instanceof sdk.PluginExitedError);
  assert.ok(err instanceof sdk.PlugwireError);
  assert.equal(err.code, 'PLUGWIRE_PLUGIN_EXITED');
});
