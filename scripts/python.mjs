// Finding the Python that runs the Python SDK's tests and plugins: the one place that knows
// how. It must be 3.11+ with msgpack (Debian's python3-msgpack) and pytest; a pyenv or venv
// python3 first on PATH often lacks Debian's packages, so /usr/bin/python3 is tried too.
import { spawnSync } from 'node:child_process';

const CHECK = 'import sys; assert sys.version_info >= (3, 11), sys.version; import msgpack, pytest';

/** Interpreters tried in order: $PLUGWIRE_PYTHON, python3 on PATH, Debian's. */
export function pythonCandidates() {
  return [process.env.PLUGWIRE_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
}

/**
 * The first candidate that has Python 3.11+, msgpack and pytest, as `{ python }`, or
 * `{ missing }` saying what each candidate lacked.
 */
export function findPython() {
  const why = [];
  for (const python of pythonCandidates()) {
    const r = spawnSync(python, ['-c', CHECK], { encoding: 'utf8' });
    if (r.status === 0) return { python };
    const last = (r.error?.message ?? r.stderr ?? '').trim().split('\n').pop();
    why.push(`${python}: ${last || `exit ${r.status}`}`);
  }
  return { missing: why.join('; ') };
}
