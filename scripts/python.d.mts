/** Interpreters tried in order: $PLUGWIRE_PYTHON, python3 on PATH, Debian's /usr/bin/python3. */
export function pythonCandidates(): string[];
/** The first candidate with Python 3.11+, msgpack and pytest, or what each one lacked. */
export function findPython():
  | { python: string; missing?: undefined }
  | { python?: undefined; missing: string };
