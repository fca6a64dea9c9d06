// The Trellis dashboard: polls the JSON of hosts, apps and links, and
// follows the lattice's events as server-sent events. No framework: a few
// helpers build DOM nodes. Everything shown comes from peers (host names,
// labels, ids, event fields), so text only ever goes in as text nodes,
// never as markup.
'use strict';

// How often the panels are read again; each read asks every host.
const REFRESH_MS = 3000;
// Bound on one JSON request (the server bounds its lattice calls sooner).
const FETCH_TIMEOUT_MS = 20000;
// Events kept on the page, newest first.
const MAX_EVENTS = 200;
// Reopen the event stream this long after the server refused or ended it.
const REOPEN_MS = 5000;
const SVG_NS = 'http://www.w3.org/2000/svg';

// The host names by id, for naming an event's source.
const hostNames = new Map();
let eventCount = 0;

// el('td', {class: 'x', title: 'y'}, 'text', childNode, ...)
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  if (text !== undefined) node.textContent = text;
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
}

function panel(id) {
  const section = document.getElementById(id);
  return {
    body: section.querySelector('.body'),
    error: section.querySelector('.error'),
    count: section.querySelector('.count'),
  };
}

// Shows (or, with null, hides) a panel's error; its last content stays.
function showError(p, message) {
  p.error.hidden = message === null;
  p.error.textContent = message === null ? '' : message;
}

async function getJSON(path) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch(path, { signal: abort.signal, cache: 'no-store' });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const why = body && typeof body.error === 'string' ? body.error : response.statusText;
      throw new Error(`${path}: ${why || response.status}`);
    }
    return body;
  } catch (e) {
    if (e.name === 'AbortError') throw new Error(`${path}: no answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    if (e instanceof TypeError) throw new Error(`${path}: the dashboard server is unreachable`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function shortId(id) {
  const text = String(id);
  return text.length > 12 ? `${text.slice(0, 10)}…` : text;
}

// Content addresses are long and alike: the first hex digits tell them apart.
function shortHashes(text) {
  return String(text).replace(/sha256-([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256-$1…');
}

// `nats://BUCKET/sha256-HEX` as `sha256-HEX12…`; other images as they are.
function shortImage(image) {
  const hash = /sha256-[0-9a-f]{64}$/.exec(image);
  return hash ? shortHashes(hash[0]) : image;
}

function uptime(seconds) {
  const s = Number(seconds) || 0;
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function rate(value) {
  if (value === null || value === undefined) return '–';
  if (value === 0) return '0';
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many || `${one}s`}`;
}

function stateBadge(state) {
  return el('span', { class: `state state-${state}`, 'data-state': state }, state);
}

// ---- hosts ---------------------------------------------------------------

function renderHosts(hosts) {
  const p = panel('hosts');
  p.count.textContent = `(${hosts.length})`;
  hostNames.clear();
  if (hosts.length === 0) {
    p.body.replaceChildren(el('p', { class: 'muted' }, 'No host answers. Start one with `trellis host` or `trellis up`.'));
    return;
  }
  // By name, so cards keep their place between refreshes.
  const sorted = [...hosts].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  p.body.replaceChildren(...sorted.map(hostCard));
  for (const h of hosts) hostNames.set(h.id, h.name);
  // Events that arrived before their host was known get its name now.
  for (const source of document.querySelectorAll('#events .source[data-id]')) {
    const name = hostNames.get(source.dataset.id);
    if (name) {
      source.textContent = name;
      source.removeAttribute('data-id');
    }
  }
}

function hostCard(h) {
  const labels = el('ul', { class: 'labels' },
    ...Object.entries(h.labels || {}).map(([k, v]) => el('li', {}, `${k}=${v}`)));
  const components = h.error ? h.component_count : h.components.length;
  const providers = h.error ? h.provider_count : h.providers.length;
  const load = [
    plural(components, 'component'),
    plural(providers, 'provider'),
    `≤ ${h.instances} instances`,
    `${rate(h.rate)} req/s`,
  ].join(' · ');
  const rows = [
    ...h.components.map((c) => el('tr', { 'data-component': c.id },
      el('td', {}, el('span', { class: 'kind kind-component' }, 'C')),
      el('td', { class: 'id' }, c.id),
      el('td', { class: 'image', title: c.image }, shortImage(c.image)),
      el('td', { class: 'num' }, `max ${c.max}`),
      el('td', { class: 'num' }, `${rate(c.rate)}/s`))),
    ...h.providers.map((pr) => el('tr', { 'data-provider': pr.id },
      el('td', {}, el('span', { class: 'kind kind-provider' }, 'P')),
      el('td', { class: 'id' }, pr.id),
      el('td', { class: 'image', title: pr.image }, pr.image),
      el('td', { class: 'num' }, pr.failure ? stateBadge('failed') : ''),
      el('td', { class: 'num', title: pr.failure || '' }, pr.failure ? 'down' : 'up'))),
  ];
  return el('article', { class: 'host', 'data-host-id': h.id },
    el('header', {},
      el('strong', { class: 'name' }, h.name),
      el('code', { title: h.id }, shortId(h.id)),
      el('span', { class: 'muted' }, `up ${uptime(h.uptime_seconds)} · v${h.version}${h.site ? ` · site ${h.site}` : ''}`)),
    labels,
    el('p', { class: 'load' }, load),
    h.error ? el('p', { class: 'error' }, h.error) : null,
    rows.length ? el('div', { class: 'scroll' }, el('table', { class: 'workloads' }, el('tbody', {}, ...rows))) : null);
}

// ---- apps ----------------------------------------------------------------

function renderApps(apps) {
  const p = panel('apps');
  p.count.textContent = `(${apps.length})`;
  if (apps.length === 0) {
    p.body.replaceChildren(el('p', { class: 'muted' }, 'No apps. Deploy one with `trellis app deploy FILE`.'));
    return;
  }
  const head = el('tr', {}, ...['App', 'Version', 'State', 'Rollout'].map((t) => el('th', {}, t)));
  const rows = apps.map((a) => {
    const version = a.deployed_version
      ? (a.deployed_version === a.latest_version ? a.deployed_version : `${a.deployed_version} (latest ${a.latest_version})`)
      : `– (latest ${a.latest_version})`;
    const parts = el('ul', { class: 'parts' },
      ...(a.components || []).map((c) => el('li', { class: `state-${c.state}`, title: `${c.id}: ${c.state}` }, c.name)));
    const why = a.error || a.message;
    return el('tr', { 'data-app': a.name },
      el('td', {}, el('strong', {}, a.name), parts),
      el('td', {}, version),
      el('td', {}, stateBadge(a.state), why ? el('div', { class: 'why' }, why) : null),
      el('td', {}, rollout(a.rollout)));
  });
  p.body.replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
}

function rollout(r) {
  if (!r) return '–';
  const stage = `stage ${r.stage_index + 1}/${r.stages}${r.stage ? ` ${r.stage}` : ''}`;
  return el('div', { class: 'rollout', 'data-phase': r.phase },
    el('div', {}, `${r.from} → ${r.to}`),
    el('div', {}, `${stage} · ${r.phase.replace('_', ' ')}`),
    el('div', { class: 'muted' }, `${r.hosts_updated}/${r.hosts_total} hosts updated`),
    r.message ? el('div', { class: 'why' }, r.message) : null);
}

// ---- request rates -------------------------------------------------------

function renderRates(hosts) {
  const p = panel('rates');
  const byId = new Map();
  for (const h of hosts) {
    for (const c of h.components) {
      const r = byId.get(c.id) || { id: c.id, hosts: 0, rate: null, failureRate: null, invocations: 0, failures: 0 };
      r.hosts += 1;
      r.invocations += c.invocations;
      r.failures += c.failures;
      if (c.rate !== null) r.rate = (r.rate || 0) + c.rate;
      if (c.failure_rate !== null) r.failureRate = (r.failureRate || 0) + c.failure_rate;
      byId.set(c.id, r);
    }
  }
  const all = [...byId.values()].sort((a, b) => (b.rate || 0) - (a.rate || 0) || a.id.localeCompare(b.id));
  if (all.length === 0) {
    p.body.replaceChildren(el('p', { class: 'muted' }, 'No components run.'));
    return;
  }
  const top = Math.max(...all.map((r) => r.rate || 0));
  const head = el('tr', {}, ...['Component', 'Hosts', 'req/s', 'failed/s', 'Total'].map((t) => el('th', {}, t)));
  const rows = all.map((r) => {
    const bar = el('span', { class: 'bar' });
    bar.style.width = `${top > 0 ? Math.round(((r.rate || 0) / top) * 100) : 0}%`;
    return el('tr', { 'data-component': r.id, 'data-rate': r.rate === null ? '' : r.rate },
      el('td', { class: 'id' }, r.id, el('span', { class: 'track' }, bar)),
      el('td', { class: 'num' }, r.hosts),
      el('td', { class: 'num' }, rate(r.rate)),
      el('td', { class: `num${r.failureRate ? ' bad' : ''}` }, rate(r.failureRate)),
      el('td', { class: 'num', title: `${r.failures} failed` }, r.invocations));
  });
  p.body.replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
}

// ---- links graph ---------------------------------------------------------

// Columns by the longest chain of links leading to a node (callers left
// of what they call; see `layers`), rows in id order; a link that points
// back (it closes a cycle) bends below.
function renderLinks(hosts, links) {
  const p = panel('links');
  p.count.textContent = `(${links.length})`;
  const kinds = new Map();
  for (const h of hosts) {
    for (const c of h.components) kinds.set(c.id, 'component');
    for (const pr of h.providers) kinds.set(pr.id, 'provider');
  }
  for (const l of links) {
    for (const id of [l.source_id, l.target_id]) if (!kinds.has(id)) kinds.set(id, 'missing');
  }
  if (kinds.size === 0) {
    p.body.replaceChildren(el('p', { class: 'muted' }, 'Nothing runs and nothing is linked.'));
    return;
  }
  const depth = layers([...kinds.keys()].sort(), links);
  const columns = [];
  for (const id of [...kinds.keys()].sort()) {
    const d = depth.get(id);
    (columns[d] = columns[d] || []).push(id);
  }
  const dense = columns.filter(Boolean);
  // Wide gaps between columns: the link labels sit there.
  const nodeW = 150; const nodeH = 34; const colW = 280; const rowH = 62; const pad = 14;
  const where = new Map();
  dense.forEach((ids, col) => ids.forEach((id, row) => where.set(id, { x: pad + col * colW, y: pad + row * rowH })));
  const back = links.some((l) => where.get(l.target_id).x <= where.get(l.source_id).x);
  const width = pad * 2 + (dense.length - 1) * colW + nodeW;
  const height = pad * 2 + (Math.max(...dense.map((c) => c.length)) - 1) * rowH + nodeH + (back ? 56 : 0);
  const graph = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'links between components and providers' });
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }));
  const defs = svg('defs');
  defs.append(marker);
  graph.append(defs);
  // One edge per (source, target), labelled with every package it links.
  const edges = new Map();
  for (const l of links) {
    const key = `${l.source_id}\u0000${l.target_id}`;
    const edge = edges.get(key) || { from: l.source_id, to: l.target_id, labels: new Set() };
    edge.labels.add(l.name === 'default' ? l.package : `${l.package} (${l.name})`);
    edges.set(key, edge);
  }
  const labels = [];
  for (const e of edges.values()) {
    const a = where.get(e.from); const b = where.get(e.to);
    const x1 = a.x + nodeW; const y1 = a.y + nodeH / 2;
    let d; let lx; let ly; let below = false;
    if (b.x > a.x) {
      const x2 = b.x; const y2 = b.y + nodeH / 2; const mx = (x1 + x2) / 2;
      d = `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2 - 2} ${y2}`;
      lx = mx; ly = (y1 + y2) / 2 - 6;
    } else {
      // Back (or same-column) link: leave at the bottom, come in from below.
      const x0 = a.x + nodeW / 2; const y0 = a.y + nodeH;
      const x2 = b.x + nodeW / 2; const y2 = b.y + nodeH;
      const low = Math.max(y0, y2) + 26;
      d = `M ${x0} ${y0} C ${x0} ${low}, ${x2} ${low}, ${x2} ${y2 + 2}`;
      // A cubic's middle lies three quarters of the way to its controls.
      lx = (x0 + x2) / 2; ly = 0.25 * ((y0 + y2) / 2) + 0.75 * low + 12; below = true;
    }
    const group = svg('g', { class: 'edge' });
    group.append(svg('title', {}, `${e.from} → ${e.to}: ${[...e.labels].join(', ')}`));
    group.append(svg('path', { d, 'marker-end': 'url(#arrow)' }));
    graph.append(group);
    // Labels go on top of the nodes (drawn last), so a bend's label that
    // crosses a row stays readable.
    const label = svg('g', { class: 'edge-label' });
    // One line per package (two at most), above the curve (below a bend).
    const names = [...e.labels];
    const lines = names.length > 2 ? [names[0], `+${names.length - 1} more`] : names;
    lines.forEach((line, i) => {
      const y = below ? ly + i * 12 : ly - (lines.length - 1 - i) * 12;
      label.append(svg('text', { x: lx, y, 'text-anchor': 'middle' }, clip(line, 22)));
    });
    labels.push(label);
  }
  for (const [id, kind] of kinds) {
    const at = where.get(id);
    const group = svg('g', { class: `node node-${kind}`, 'data-node': id });
    group.append(svg('title', {}, `${kind}: ${id}`));
    group.append(svg('rect', { x: at.x, y: at.y, width: nodeW, height: nodeH, rx: 7 }));
    group.append(svg('text', { x: at.x + nodeW / 2, y: at.y + nodeH / 2 + 4, 'text-anchor': 'middle' }, clip(id, 20)));
    graph.append(group);
  }
  graph.append(...labels);
  const legend = el('p', { class: 'legend' },
    el('span', { class: 'kind kind-component' }, 'C'), ' component ',
    el('span', { class: 'kind kind-provider' }, 'P'), ' provider ',
    el('span', { class: 'kind kind-missing' }, '?'), ' linked, not running');
  p.body.replaceChildren(el('div', { class: 'graph scroll' }, graph), legend);
}

// The column of each node: the longest chain of links leading to it,
// over the links that remain once a depth-first walk (from nodes nobody
// calls, then the rest) drops those that close a cycle.
function layers(ids, links) {
  const out = new Map(ids.map((id) => [id, []]));
  for (const l of links) if (l.source_id !== l.target_id) out.get(l.source_id).push(l.target_id);
  const called = new Set(links.map((l) => l.target_id));
  const state = new Map(); // 1: on the walk's path, 2: done
  const finished = [];
  const kept = new Map(ids.map((id) => [id, []]));
  for (const root of [...ids.filter((id) => !called.has(id)), ...ids]) {
    if (state.has(root)) continue;
    // Iterative, so a long chain cannot overflow the call stack.
    const stack = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [id, next] = top;
      if (next < out.get(id).length) {
        top[1] += 1;
        const target = out.get(id)[next];
        if (state.get(target) === 1) continue; // closes a cycle
        kept.get(id).push(target);
        if (!state.has(target)) {
          state.set(target, 1);
          stack.push([target, 0]);
        }
      } else {
        state.set(id, 2);
        finished.push(id);
        stack.pop();
      }
    }
  }
  const depth = new Map(ids.map((id) => [id, 0]));
  for (const id of finished.reverse()) {
    for (const target of kept.get(id)) depth.set(target, Math.max(depth.get(target), depth.get(id) + 1));
  }
  return depth;
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

// ---- events --------------------------------------------------------------

function eventTime(text) {
  const t = new Date(text);
  return Number.isNaN(t.getTime()) ? text : t.toLocaleTimeString([], { hour12: false });
}

function addEvent(e) {
  const list = document.querySelector('#events .events');
  const name = hostNames.get(e.source);
  const item = el('li', { class: 'event', 'data-type': e.type, 'data-seq': e.seq },
    el('time', { datetime: e.time, title: e.time }, eventTime(e.time)),
    el('span', { class: `type type-${e.type}` }, e.type),
    el('span', { class: 'source', title: e.source, 'data-id': name ? null : e.source }, name || shortId(e.source || '')),
    el('span', { class: 'detail', title: e.detail }, shortHashes(e.detail)));
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  eventCount += 1;
  panel('events').count.textContent = `(${eventCount})`;
}

function addNote(text) {
  const list = document.querySelector('#events .events');
  list.prepend(el('li', { class: 'note' }, text));
}

function setLive(state, text) {
  document.body.dataset.events = state;
  const pill = document.getElementById('live');
  pill.className = `pill pill-${state}`;
  pill.textContent = text || `events: ${state}`;
}

function followEvents() {
  const source = new EventSource('api/events');
  source.onopen = () => setLive('live');
  source.onmessage = (message) => {
    let event = null;
    try {
      event = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    addEvent(event);
  };
  // The server's own watch failed (message set) or works again ("").
  source.addEventListener('problem', (message) => {
    let text = '';
    try {
      text = JSON.parse(message.data).message;
    } catch (_) {
      text = 'the event feed failed';
    }
    showError(panel('events'), text ? `${text}; retrying` : null);
  });
  source.addEventListener('lagged', (message) => {
    addNote(`${Number(message.data) || 'some'} events missed: this page fell behind`);
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused (too many open streams) or the server is gone: try later.
      setLive('down', 'events: disconnected');
      setTimeout(followEvents, REOPEN_MS);
    } else {
      setLive('reconnecting');
    }
  };
}

// ---- refresh loop --------------------------------------------------------

async function refresh() {
  const [hosts, apps, links] = await Promise.allSettled([
    getJSON('api/hosts'), getJSON('api/apps'), getJSON('api/links')]);
  const ok = (result, id) => {
    showError(panel(id), result.status === 'fulfilled' ? null : result.reason.message);
    return result.status === 'fulfilled';
  };
  if (ok(hosts, 'hosts')) {
    renderHosts(hosts.value);
    renderRates(hosts.value);
    showError(panel('rates'), null);
  } else {
    showError(panel('rates'), hosts.reason.message);
  }
  if (ok(apps, 'apps')) renderApps(apps.value);
  if (ok(links, 'links')) renderLinks(hosts.status === 'fulfilled' ? hosts.value : [], links.value);
  document.getElementById('refreshed').textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
}

async function loop() {
  try {
    await refresh();
  } catch (e) {
    document.getElementById('refreshed').textContent = `refresh failed: ${e.message}`;
  }
  setTimeout(loop, REFRESH_MS);
}

async function start() {
  try {
    const info = await getJSON('api/info');
    document.getElementById('lattice').textContent = info.lattice;
    document.title = `Trellis: ${info.lattice}`;
  } catch (e) {
    document.getElementById('lattice').textContent = '?';
  }
  followEvents();
  loop();
}

start();
