// The plugwire dashboard: the host's plugins with live states from the event stream, and for
// the selected plugin its charts, recent states, log and a form to call a method. Plain DOM
// and uPlot; bundled by scripts/build-dashboard.mjs; talks only to the server it came from.
import uPlot from 'uplot';

interface Row {
  name: string;
  version: string;
  state: string;
  pid?: number;
  uptimeMs?: number;
  restarts: number;
  calls: number;
  errors: number;
  p50Ms?: number;
  p99Ms?: number;
  rssBytes?: number;
  cpuSeconds?: number;
  lastError?: { message: string; code?: string };
}
interface Sample {
  time: number;
  callsPerSec: number;
  errorsPerSec: number;
  p50Ms?: number;
  p99Ms?: number;
  rssBytes?: number;
}
interface LogEntry {
  time: number;
  plugin: string;
  level: string;
  message: string;
}
interface StateEntry {
  time: number;
  from: string;
  to: string;
}
interface Detail {
  plugin: Row;
  methods: Record<string, string[] | null>;
  states: StateEntry[];
  samples: Sample[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const rows = new Map<string, Row>();
let selected: string | undefined;
let samples: Sample[] = [];
const MAX_SAMPLES = 600;
const MAX_LOG_LINES = 500;
const charts: uPlot[] = [];

// ---- formatting ------------------------------------------------------------------------------

function duration(ms?: number): string {
  if (ms === undefined) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}
const mib = (b?: number) => (b === undefined ? '–' : `${(b / 1048576).toFixed(1)} MiB`);
const ms = (v?: number) => (v === undefined ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(0));
const time = (t: number) => new Date(t).toTimeString().slice(0, 8);

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(e, rest);
  if (dataset) Object.assign(e.dataset, dataset);
  e.append(...children);
  return e;
}

// ---- API -----------------------------------------------------------------------------------

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const json = (await res.json().catch(() => null)) as
    | (T & { error?: { code: string; message: string } })
    | null;
  if (!res.ok) {
    const e = json?.error;
    throw new Error(e ? `${e.code}: ${e.message}` : `HTTP ${res.status}`);
  }
  return json as T;
}

// ---- the plugin list -------------------------------------------------------------------------

function stateBadge(state: string): HTMLElement {
  return el('span', { className: 'state', textContent: state, dataset: { state } });
}

function actionButtons(name: string): HTMLElement {
  const box = el('div', { className: 'actions' });
  for (const action of ['start', 'stop', 'restart', 'reload']) {
    const b = el('button', { textContent: action, type: 'button', dataset: { action } });
    b.addEventListener('click', async (ev) => {
      ev.stopPropagation();
      b.disabled = true;
      try {
        await api('POST', `/api/plugins/${encodeURIComponent(name)}/${action}`);
      } catch (err) {
        alertLine(`${name} ${action}: ${(err as Error).message}`);
      } finally {
        b.disabled = false;
      }
    });
    box.append(b);
  }
  return box;
}

const trs = new Map<string, HTMLTableRowElement>();

// Cells are made once per plugin and updated in place: buttons under the pointer are not
// replaced by every refresh.
function makeRow(name: string): HTMLTableRowElement {
  const tr = el('tr', { dataset: { plugin: name } });
  const classes = [
    'name',
    '',
    'st',
    'num pid',
    'num',
    'num',
    'num calls',
    'num',
    'num',
    'num',
    'num',
    'error',
  ];
  for (const c of classes) tr.append(el('td', { className: c }));
  tr.append(el('td', {}, actionButtons(name)));
  tr.addEventListener('click', () => void select(name));
  return tr;
}

function updateRow(tr: HTMLTableRowElement, r: Row): void {
  const texts = [
    r.name,
    r.version,
    '',
    r.pid ? String(r.pid) : '–',
    duration(r.uptimeMs),
    String(r.restarts),
    String(r.calls),
    String(r.errors),
    `${ms(r.p50Ms)} / ${ms(r.p99Ms)} ms`,
    mib(r.rssBytes),
    r.cpuSeconds === undefined ? '–' : `${r.cpuSeconds.toFixed(1)}s`,
    r.lastError ? r.lastError.message.split('\n')[0]! : '',
  ];
  texts.forEach((t, i) => {
    const td = tr.cells[i]!;
    if (i === 2) {
      const badge = td.firstElementChild as HTMLElement | null;
      if (!badge || badge.dataset.state !== r.state) td.replaceChildren(stateBadge(r.state));
    } else if (td.textContent !== t) td.textContent = t;
  });
  tr.cells[11]!.title = r.lastError?.message ?? '';
  tr.classList.toggle('selected', r.name === selected);
}

function renderList(): void {
  const body = $<HTMLTableElement>('plugins').tBodies[0]!;
  const names = [...rows.keys()].sort();
  for (const [n, tr] of trs) {
    if (!rows.has(n)) {
      tr.remove();
      trs.delete(n);
    }
  }
  for (const n of names) {
    let tr = trs.get(n);
    if (!tr) {
      tr = makeRow(n);
      trs.set(n, tr);
    }
    updateRow(tr, rows.get(n)!);
  }
  const order = names.map((n) => trs.get(n)!);
  if (order.some((tr, i) => body.rows[i] !== tr)) body.replaceChildren(...order);
  $('empty').hidden = names.length > 0;
  if (selected && rows.has(selected)) renderDetailHead(rows.get(selected)!);
}

function setRows(list: Row[]): void {
  rows.clear();
  for (const r of list) rows.set(r.name, r);
  renderList();
}

// ---- the detail view -------------------------------------------------------------------------

function renderDetailHead(r: Row): void {
  $('detail-name').textContent = `${r.name} ${r.version}`;
  const st = $('detail-state');
  st.textContent = r.state;
  st.dataset.state = r.state;
  $('detail-meta').textContent = r.pid
    ? `pid ${r.pid} · up ${duration(r.uptimeMs)} · ${r.calls} calls, ${r.errors} errors`
    : `${r.calls} calls, ${r.errors} errors`;
}

function appendLog(l: LogEntry): void {
  const box = $<HTMLPreElement>('logs');
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.append(
    el('div', {
      className: l.level,
      textContent: `${time(l.time)} ${l.level.padEnd(5)} ${l.message}`,
    }),
  );
  while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild!.remove();
  if (atEnd) box.scrollTop = box.scrollHeight;
}

function appendState(s: StateEntry): void {
  const list = $<HTMLOListElement>('states');
  list.append(el('li', { textContent: `${time(s.time)} ${s.from} → ${s.to}` }));
  while (list.childElementCount > 20) list.firstElementChild!.remove();
}

function chart(
  id: string,
  series: Array<{ label: string; stroke: string }>,
  spanGaps = true,
): uPlot {
  const box = $(id);
  box.replaceChildren();
  const u = new uPlot(
    {
      width: Math.max(280, box.clientWidth || 300),
      height: 140,
      legend: { show: series.length > 1 },
      cursor: { show: true },
      scales: { x: { time: true } },
      axes: [{ size: 28 }, { size: 48 }],
      // A latency gap (no calls in that second) stays a gap rather than a made-up line.
      series: [{}, ...series.map((s) => ({ ...s, width: 1.5, spanGaps }))],
    },
    [[], ...series.map(() => [])],
    box,
  );
  return u;
}

function redrawCharts(): void {
  if (charts.length === 0) return;
  const x = samples.map((s) => s.time / 1000);
  const v = (f: (s: Sample) => number | undefined) => samples.map((s) => f(s) ?? null);
  charts[0]!.setData([x, v((s) => s.callsPerSec)]);
  charts[1]!.setData([x, v((s) => s.errorsPerSec)]);
  charts[2]!.setData([x, v((s) => s.p50Ms), v((s) => s.p99Ms)]);
  charts[3]!.setData([x, v((s) => (s.rssBytes === undefined ? undefined : s.rssBytes / 1048576))]);
}

async function select(name: string): Promise<void> {
  selected = name;
  for (const tr of $<HTMLTableElement>('plugins').tBodies[0]!.rows) {
    tr.classList.toggle('selected', tr.dataset.plugin === name);
  }
  const d = await api<Detail>('GET', `/api/plugins/${encodeURIComponent(name)}`);
  const { lines } = await api<{ lines: LogEntry[] }>(
    'GET',
    `/api/plugins/${encodeURIComponent(name)}/logs?lines=200`,
  );
  if (selected !== name) return;
  $('detail').hidden = false;
  renderDetailHead(d.plugin);
  const methodSelect = $<HTMLSelectElement>('call-method');
  const options: HTMLOptionElement[] = [];
  const several = Object.keys(d.methods).length > 1;
  for (const [iface, methods] of Object.entries(d.methods)) {
    for (const m of methods ?? []) {
      options.push(
        el('option', {
          value: JSON.stringify({ iface, m }),
          textContent: several ? `${iface}.${m}` : m,
        }),
      );
    }
  }
  methodSelect.replaceChildren(...options);
  $('call-result').hidden = true;
  $('logs').replaceChildren();
  for (const l of lines) appendLog(l);
  $('states').replaceChildren();
  for (const s of d.states) appendState(s);
  samples = d.samples.slice(-MAX_SAMPLES);
  for (const c of charts.splice(0)) c.destroy();
  charts.push(
    chart('chart-calls', [{ label: 'calls/s', stroke: '#2d6cdf' }]),
    chart('chart-errors', [{ label: 'errors/s', stroke: '#c62828' }]),
    chart(
      'chart-latency',
      [
        { label: 'p50', stroke: '#1f8a3b' },
        { label: 'p99', stroke: '#b8860b' },
      ],
      false,
    ),
    chart('chart-rss', [{ label: 'RSS', stroke: '#6a3fb5' }]),
  );
  redrawCharts();
}

function alertLine(text: string): void {
  const r = $<HTMLPreElement>('call-result');
  r.hidden = false;
  r.className = 'result error';
  r.textContent = text;
}

$<HTMLFormElement>('call-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!selected) return;
  const out = $<HTMLPreElement>('call-result');
  const choice = $<HTMLSelectElement>('call-method').value;
  if (!choice) return;
  const { iface, m } = JSON.parse(choice) as { iface: string; m: string };
  let args: unknown;
  try {
    const text = $<HTMLTextAreaElement>('call-args').value.trim();
    args = text === '' ? [] : JSON.parse(text);
  } catch (err) {
    alertLine(`the arguments are not JSON: ${(err as Error).message}`);
    return;
  }
  const submit = $<HTMLButtonElement>('call-submit');
  submit.disabled = true;
  try {
    const r = await api<{ result: unknown; ms: number }>(
      'POST',
      `/api/plugins/${encodeURIComponent(selected)}/call`,
      { method: m, interface: iface, args: Array.isArray(args) ? args : [args] },
    );
    out.hidden = false;
    out.className = 'result ok';
    out.textContent = JSON.stringify(r.result, null, 2);
    out.title = `${r.ms.toFixed(2)} ms`;
  } catch (err) {
    alertLine((err as Error).message);
  } finally {
    submit.disabled = false;
  }
});

// ---- the event stream ------------------------------------------------------------------------

function connect(): void {
  const conn = $('conn');
  const es = new EventSource('/api/events');
  es.addEventListener('open', () => {
    conn.dataset.state = 'open';
    conn.textContent = 'live';
  });
  es.addEventListener('error', () => {
    // EventSource reconnects by itself; the hello event then brings the list up to date.
    conn.dataset.state = 'closed';
    conn.textContent = 'reconnecting…';
  });
  es.addEventListener('hello', (e) => {
    const d = JSON.parse((e as MessageEvent).data) as { plugins: Row[] };
    setRows(d.plugins);
    if (!selected && d.plugins[0]) void select(d.plugins[0].name);
  });
  es.addEventListener('plugins', (e) => {
    setRows((JSON.parse((e as MessageEvent).data) as { plugins: Row[] }).plugins);
  });
  es.addEventListener('state', (e) => {
    const d = JSON.parse((e as MessageEvent).data) as StateEntry & {
      plugin: string;
      info?: Partial<Row>;
    };
    const r = rows.get(d.plugin);
    if (r) {
      r.state = d.to;
      if (d.info) {
        r.pid = d.info.pid;
        r.uptimeMs = d.info.uptimeMs;
        r.restarts = d.info.restarts ?? r.restarts;
        r.lastError = d.info.lastError;
      }
      renderList();
    }
    if (d.plugin === selected) appendState(d);
  });
  es.addEventListener('log', (e) => {
    const l = JSON.parse((e as MessageEvent).data) as LogEntry;
    if (l.plugin === selected) appendLog(l);
  });
  es.addEventListener('metrics', (e) => {
    const d = JSON.parse((e as MessageEvent).data) as { samples: Record<string, Sample> };
    if (selected && d.samples[selected]) {
      samples.push(d.samples[selected]!);
      if (samples.length > MAX_SAMPLES) samples.shift();
      redrawCharts();
    }
    // Counters (calls, RSS, uptime) move with every sample: refresh the rows along.
    void api<{ plugins: Row[] }>('GET', '/api/plugins')
      .then((r) => setRows(r.plugins))
      .catch(() => {});
  });
}

$('host').textContent = location.host;
connect();
