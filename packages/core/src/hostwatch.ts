// How a plugin notices that its host died, even while its own event loop is stuck
// (`while (true) {}` in plugin code). A plugwire host keeps the plugin's stdin open as a
// pipe; the kernel closes it when the host dies, however it dies. A worker thread reads that
// pipe on its own event loop: on EOF it tells the main thread, which shuts down cleanly; a
// main thread that does not even acknowledge within HOST_GONE_GRACE_MS is blocked, and the
// worker SIGKILLs the process (issue #13, item 7; docs/protocol.md "Shutdown").
import { Worker } from 'node:worker_threads';

/**
 * How long the main thread has to acknowledge the host's death before the watchdog kills the
 * process. The protocol promises an exit within 2 s of the host's death; a live event loop
 * answers in microseconds, so 1 s only ever catches a blocked one.
 */
export const HOST_GONE_GRACE_MS = 1_000;

// CommonJS, evaluated in the worker: no file to resolve, nothing of the plugin's loaded.
const WATCHDOG = `
const { parentPort, workerData } = require('node:worker_threads');
const { Socket } = require('node:net');
let acknowledged = false;
parentPort.on('message', () => { acknowledged = true; });
const stdin = new Socket({ fd: 0, readable: true, writable: false });
stdin.on('data', () => {}); // a host never writes; anything it does is ignored
stdin.on('error', () => {});
let gone = false;
const onGone = () => {
  if (gone) return;
  gone = true;
  parentPort.postMessage('host-gone');
  setTimeout(() => {
    if (!acknowledged) process.kill(process.pid, 'SIGKILL');
  }, workerData.graceMs);
};
stdin.on('end', onGone);
stdin.on('close', onGone);
`;

export interface HostWatch {
  /** Stops watching (the plugin is shutting down by itself). */
  stop(): void;
}

/**
 * Watches fd 0 (which must be a pipe or socket from the host) off the main thread; calls
 * `onHostGone` on the main thread when it reaches EOF. Returns undefined where no worker can
 * be started; the caller then watches stdin on the main thread.
 */
export function watchHost(onHostGone: () => void): HostWatch | undefined {
  let worker: Worker;
  try {
    worker = new Worker(WATCHDOG, {
      eval: true,
      workerData: { graceMs: HOST_GONE_GRACE_MS },
      stdin: false,
      stdout: false,
      stderr: false,
    });
  } catch {
    return undefined;
  }
  worker.unref(); // the watchdog never keeps the plugin alive
  worker.on('error', () => {}); // a failing watchdog must not take the plugin down
  worker.on('message', () => {
    worker.postMessage('ack');
    onHostGone();
  });
  return {
    stop: () => {
      worker.removeAllListeners('message');
      void worker.terminate();
    },
  };
}
