// CPU profiles of exactly one measured command, on both sides (bench/run.js --prof DIR):
// the driver starts V8's profiler in itself and sends SIGUSR2 to the plugin, which starts
// its own; after the command, the same again stops both and writes DIR/<name>-{host,plugin}
// .cpuprofile. Warm-up and start-up never pollute the profile of a workload. Loaded only
// when BENCH_PROFILE is set.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export class Profiler {
  readonly #session = new Session();
  #running = false;

  constructor() {
    this.#session.connect();
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#session.post('Profiler.enable');
    await this.#session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.#session.post('Profiler.start');
  }

  async stop(file: string): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const { profile } = await this.#session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
  }
}

/**
 * Plugin side: SIGUSR2 starts the profiler, the next one stops it and writes
 * BENCH_PROFILE/BENCH_PROFILE_NAME-plugin.cpuprofile (the driver sets the name in a file
 * next to it first: BENCH_PROFILE/.next-<pid>).
 */
export function installPluginToggle(dir: string): void {
  const p = new Profiler();
  let on = false;
  let chain = Promise.resolve();
  process.on('SIGUSR2', () => {
    on = !on;
    const starting = on;
    chain = chain.then(async () => {
      if (starting) await p.start();
      else {
        const { readFileSync } = await import('node:fs');
        const name = readFileSync(join(dir, `.next-${process.pid}`), 'utf8').trim();
        await p.stop(join(dir, `${name}-plugin.cpuprofile`));
      }
    });
  });
}
