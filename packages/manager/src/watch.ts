// Watch mode: which plugin folder of which plugin directory changed. chokidar (v4, one
// dependency) rather than fs.watch({ recursive }): on Linux, Node 20's recursive watch is a
// JavaScript emulation that has missed files in new subfolders; chokidar's is the one the
// ecosystem relies on.
import { existsSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';

/**
 * Calls `onChange(folder)` once things have been quiet for `debounce` ms after changes
 * inside `<dir>/<folder>` (added, edited, removed), for each watched `dir`. A `dir` that is
 * itself a plugin folder (has plugin.json) reports itself.
 */
export class DirWatcher {
  readonly #watchers: FSWatcher[] = [];
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #debounce: number;
  readonly #onChange: (folder: string) => void;

  constructor(debounce: number, onChange: (folder: string) => void) {
    this.#debounce = debounce;
    this.#onChange = onChange;
  }

  /** Starts watching `dirs`; resolves once the watchers are ready. */
  async add(dirs: readonly string[]): Promise<void> {
    await Promise.all(
      dirs.map(
        (dir) =>
          new Promise<void>((resolve, reject) => {
            const single = existsSync(join(dir, 'plugin.json'));
            const w = watch(dir, {
              ignoreInitial: true,
              ignored: (p: string) => /(?:^|[/\\])(?:node_modules|\.git)(?:[/\\]|$)/.test(p),
            });
            this.#watchers.push(w);
            w.on('all', (_event, path) => {
              const rel = relative(dir, path);
              if (rel === '' || rel.startsWith('..')) return;
              const folder = single ? dir : join(dir, rel.split(sep)[0]!);
              if (!single && !isDirOrGone(folder)) return; // a loose file in the plugin dir
              this.#schedule(folder);
            });
            w.once('ready', () => resolve());
            w.once('error', reject);
          }),
      ),
    );
  }

  #schedule(folder: string): void {
    clearTimeout(this.#timers.get(folder));
    this.#timers.set(
      folder,
      setTimeout(() => {
        this.#timers.delete(folder);
        this.#onChange(folder);
      }, this.#debounce),
    );
  }

  async close(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(this.#watchers.map((w) => w.close()));
    this.#watchers.length = 0;
  }
}

function isDirOrGone(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return true;
  }
}
