// Stores each key in a file under KV_DIR (default: a temp dir), as go-plugin's example does.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@plugwire/core';
import { serve } from '@plugwire/sdk';
import { type KV, kv } from './kv.js';

const log = createLogger({ name: 'kv' });
const dir = process.env.KV_DIR ?? join(tmpdir(), 'plugwire-kv-example');
mkdirSync(dir, { recursive: true });
const file = (key: string) => join(dir, `kv_${encodeURIComponent(key)}`);

class FileKV implements KV {
  async put(key: string, value: Uint8Array) {
    writeFileSync(file(key), value);
    log.info('stored', { key, bytes: value.byteLength });
  }
  async get(key: string) {
    try {
      return readFileSync(file(key));
    } catch {
      return null;
    }
  }
  async keys() {
    return readdirSync(dir)
      .filter((f) => f.startsWith('kv_'))
      .map((f) => decodeURIComponent(f.slice(3)));
  }
}

await serve({ plugins: { kv: kv.implement(new FileKV()) } });
