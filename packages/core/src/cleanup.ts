import createDebug from 'debug';
import type { PluginClient } from './client.js';

const debug = createDebug('plugwire:client');

// Every started client with `managed` on. The host's exit, SIGINT and SIGTERM kill them, so
// no plugin outlives its host by accident (go-plugin's CleanupClients, automated).
const live = new Set<PluginClient>();
let hooked = false;

/** @internal */
export function manage(client: PluginClient): void {
  live.add(client);
  if (!hooked) {
    hooked = true;
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}

/** @internal */
export function unmanage(client: PluginClient): void {
  live.delete(client);
  if (live.size === 0 && hooked) {
    // Leave the host's signal handling as it was once no plugin runs.
    hooked = false;
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Kills every managed plugin the host started (quit, grace, SIGKILL) and waits for them. */
export async function cleanupClients(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
}

function onExit(): void {
  // 'exit' handlers cannot wait: SIGKILL what is left, synchronously.
  for (const c of live) c._killNow();
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  debug('host got %s: stopping %d plugin(s)', signal, live.size);
  const ours = onSignal as (s: NodeJS.Signals) => void;
  const othersListen = process.listenerCount(signal) > 1;
  await cleanupClients();
  // Without other listeners the host would have died of this signal: let it, now that its
  // plugins are gone. With other listeners, the host handles the signal itself.
  if (!othersListen) {
    process.off(signal, ours);
    process.kill(process.pid, signal);
  }
}
