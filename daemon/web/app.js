// sluice status page. Everything from the daemon (file names, object keys, errors) is untrusted:
// it is put into the page only as text nodes (textContent), never parsed as HTML.
'use strict';

const STATUS_EVERY_MS = 2000;
const DEAD_EVERY_MS = 5000;
const FEED_ROWS = 200;
const RECONNECT_MS = 2000;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : '';
}

function fmtAge(ms) {
  if (ms == null) return '';
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function renderSources(list) {
  fill(document.querySelector('#sources tbody'), list.map((s) => {
    const last = s.last_event;
    return el('tr', { 'data-source': s.name },
      el('td', {}, s.name), el('td', {}, s.type),
      el('td', {}, el('span', { class: `badge ${s.state}` }, s.state === 'ok' ? 'connected' : s.state)),
      el('td', {}, s.why.join('; ')),
      el('td', { class: 'cursor' }, s.cursor ?? ''),
      el('td', { class: 'num' }, s.events),
      el('td', { class: 'subject' }, last ? `${fmtTime(last.time_ms)} ${last.type} ${last.subject}` : ''));
  }));
}

function renderSinks(list) {
  fill(document.querySelector('#sinks tbody'), list.map((s) => el('tr', { 'data-sink': s.name },
    el('td', {}, s.name),
    el('td', { class: 'num' }, s.pending), el('td', { class: 'num' }, s.in_flight),
    el('td', { class: 'num' }, s.done), el('td', { class: 'num' }, s.retried),
    el('td', { class: 'num dead' }, s.dead),
    el('td', {}, fmtAge(s.oldest_pending_age_ms)),
    el('td', { class: 'subject' }, s.last ? `${s.last.outcome} ${s.last.subject} ${s.last.reason}` : ''))));
  const select = document.getElementById('dead-sink');
  const have = new Set([...select.options].map((o) => o.value));
  for (const s of list) if (!have.has(s.name)) select.append(el('option', { value: s.name }, s.name));
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// The depth history as polylines on a fixed one-hour axis ending now; `current` (the figures of
// this answer) closes each line at "now", so even the first minute shows one.
function renderChart(history, nowMs, current) {
  const W = 1000, H = 180, PAD = 24, HOUR = 3600e3;
  const cols = history.columns, samples = [...history.samples, current];
  const max = Math.max(1, ...samples.flatMap((s) => s.slice(1)));
  const x = (t) => PAD + (W - 2 * PAD) * (1 - (nowMs - t) / HOUR);
  const y = (v) => H - PAD - (H - 2 * PAD) * (v / max);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img' });
  root.append(svg('line', { class: 'axis', x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD }));
  root.append(svg('line', { class: 'axis', x1: PAD, y1: PAD, x2: W - PAD, y2: PAD }));
  const label = (tx, ty, text) => { const t = svg('text', { x: tx, y: ty }); t.textContent = text; return t; };
  root.append(label(2, PAD - 4, String(max)), label(PAD, H - 6, '-60 min'), label(W - PAD - 24, H - 6, 'now'));
  for (let c = 1; c < cols.length; c++) {
    const pts = samples.filter((s) => nowMs - s[0] <= HOUR).map((s) => `${x(s[0]).toFixed(1)},${y(s[c]).toFixed(1)}`);
    if (pts.length) root.append(svg('polyline', { class: cols[c], points: pts.join(' ') }));
  }
  const legend = label(W / 2 - 90, PAD - 8, 'pending (blue) · in flight (purple) · dead (red)');
  root.append(legend);
  document.getElementById('chart').replaceChildren(root);
}

async function refreshStatus() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    const s = await r.json();
    const ready = document.getElementById('ready');
    ready.textContent = s.ready ? 'ready' : 'not ready';
    ready.className = `badge ${s.ready ? 'ok' : 'degraded'}`;
    renderSources(s.sources);
    renderSinks(s.sinks);
    const q = s.queue;
    renderChart(s.history, s.now_ms, [s.now_ms, q.pending, q.in_flight, q.dead]);
    document.getElementById('queue-now').textContent =
      `now: ${q.pending} pending (${q.in_flight} in flight), ${q.dead} dead, ${q.events} events stored, ${q.bytes} bytes`;
    document.getElementById('updated').textContent = `updated ${fmtTime(s.now_ms)}`;
  } catch (e) {
    document.getElementById('updated').textContent = `status unavailable (${e.message})`;
  }
}

function addFeedRow(m) {
  const tbody = document.querySelector('#feed tbody');
  let row;
  if (m.kind === 'event') {
    row = el('tr', { 'data-kind': 'event', 'data-id': m.id },
      el('td', {}, fmtTime(m.time_ms)), el('td', {}, 'event'), el('td', {}, m.source),
      el('td', {}, m.type), el('td', { class: 'subject' }, m.subject), el('td', { class: 'id' }, m.id),
      el('td', {}, m.sinks.length ? `→ ${m.sinks.join(', ')}` : 'unrouted'));
  } else if (m.kind === 'delivery') {
    row = el('tr', { 'data-kind': 'delivery', 'data-id': m.event_id },
      el('td', {}, fmtTime(m.time_ms)), el('td', {}, 'delivery'), el('td', {}, m.sink),
      el('td', { class: m.outcome }, m.outcome), el('td', { class: 'subject' }, m.subject),
      el('td', { class: 'id' }, m.event_id), el('td', {}, `attempt ${m.attempt} ${m.reason}`));
  } else if (m.kind === 'dropped') {
    row = el('tr', { 'data-kind': 'dropped' }, el('td', {}, fmtTime(Date.now())),
      el('td', { colspan: 6 }, `${m.count} feed lines dropped: this page did not keep up`));
  } else {
    return;
  }
  tbody.prepend(row);
  while (tbody.rows.length > FEED_ROWS) tbody.deleteRow(-1);
}

function connectFeed() {
  const state = document.getElementById('feed-state');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live`);
  ws.onopen = () => { state.textContent = 'live feed: connected'; state.className = 'badge ok'; };
  ws.onmessage = (e) => {
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    addFeedRow(m);
  };
  ws.onclose = () => {
    state.textContent = 'live feed: reconnecting';
    state.className = 'badge degraded';
    setTimeout(connectFeed, RECONNECT_MS);
  };
}

function adminMessage(text, ok) {
  const m = document.getElementById('admin-msg');
  m.textContent = text;
  m.className = ok ? 'done' : 'dead';
}

async function replay(selection) {
  const token = document.getElementById('token').value.trim();
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const r = await fetch('/api/dead/replay', { method: 'POST', headers, body: JSON.stringify(selection) });
    const body = await r.json().catch(() => ({}));
    if (r.ok) adminMessage(`replayed ${body.replayed}`, true);
    else if (r.status === 401) adminMessage('refused: enter the admin token (http.admin_token_file)', false);
    else adminMessage(`refused (${r.status}): ${body.error ?? ''}`, false);
  } catch (e) {
    adminMessage(`replay failed: ${e.message}`, false);
  }
  refreshDead();
}

async function refreshDead() {
  const sink = document.getElementById('dead-sink').value;
  const q = new URLSearchParams({ limit: '200' });
  if (sink) q.set('sink', sink);
  try {
    const r = await fetch(`/api/dead?${q}`, { cache: 'no-store' });
    const d = await r.json();
    fill(document.querySelector('#dead tbody'), d.dead.map((row) => el('tr', { 'data-id': row.event_id },
      el('td', { class: 'num' }, row.seq), el('td', {}, row.sink), el('td', { class: 'id' }, row.event_id),
      el('td', { class: 'subject' }, row.subject), el('td', { class: 'num' }, row.attempts),
      el('td', {}, row.last_error), el('td', {}, new Date(row.first_seen_ms).toLocaleString()),
      el('td', {}, el('button', { type: 'button', class: 'replay',
        onclick: () => replay({ sink: row.sink, event_id: row.event_id }) }, 'replay')))));
  } catch (e) {
    adminMessage(`dead letters unavailable (${e.message})`, false);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('dead-sink').addEventListener('change', refreshDead);
  document.getElementById('replay-all').addEventListener('click', () => {
    const sink = document.getElementById('dead-sink').value;
    if (!sink) adminMessage('choose a sink first', false);
    else replay({ sink });
  });
  document.getElementById('admin').addEventListener('submit', (e) => e.preventDefault());
  refreshStatus();
  refreshDead();
  setInterval(refreshStatus, STATUS_EVERY_MS);
  setInterval(refreshDead, DEAD_EVERY_MS);
  connectFeed();
});
