// xlb's dashboard: polls api/state every second, keeps the rates it was
// sent (the server sends the last minutes on the first poll, then only
// what is new), and redraws tables and small SVG charts. No framework: the
// page is a few tables and polylines.
'use strict';

// Samples a chart spans (the server's ring holds as many, or fewer on a
// very large director).
const KEEP = 300;
const times = [];
const series = new Map();
let lastT = null;
let period = 1000;

const $ = (id) => document.getElementById(id);

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

// The names the server gives its series (src/dashboard/history.rs).
const serviceId = (s) => `${s.protocol}/${s.address}/${s.port}`;
const realId = (s, r) => `${serviceId(s)}/${r.address}/${r.port}`;

function merge(h) {
  const n = h.t.length;
  if (n === 0) return;
  const before = times.length;
  times.push(...h.t);
  for (const [name, values] of Object.entries(h.series)) {
    let v = series.get(name);
    if (!v) {
      v = new Array(before).fill(null);
      series.set(name, v);
    }
    v.push(...values);
  }
  for (const v of series.values()) {
    while (v.length < times.length) v.push(null);
  }
  const extra = times.length - KEEP;
  if (extra > 0) {
    times.splice(0, extra);
    for (const [name, v] of series) {
      v.splice(0, extra);
      if (!v.some((x) => x !== null)) series.delete(name);
    }
  }
  lastT = times[times.length - 1];
}

function scaled(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const steps = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [m, p] of steps) {
    if (Math.abs(v) >= m) return `${(v / m).toFixed(v / m >= 100 ? 0 : 1)} ${p}${unit}`;
  }
  return `${v >= 10 || v === 0 ? Math.round(v) : v.toFixed(1)} ${unit}`;
}

function latest(values) {
  for (let i = values.length - 1; i >= 0; i--) {
    if (values[i] !== null) return values[i];
  }
  return null;
}

// One small chart of a series: a path over the samples kept, newest at
// the right edge, broken where the series did not exist. `scale`
// turns the stored rate into the shown one (bytes/s into bits/s).
function spark(name, unit, opts = {}) {
  const w = opts.w || 160;
  const h = opts.h || 32;
  const scale = opts.scale || 1;
  const raw = series.get(name) || [];
  const v = raw.map((x) => (x === null ? null : x * scale));
  const max = Math.max(1e-9, ...v.filter((x) => x !== null));
  // The x axis spans the samples there are (a minute at least, KEEP at
  // most): a page opened on a young daemon fills its charts sooner.
  const span = Math.min(KEEP, Math.max(60, v.length));
  const step = w / (span - 1);
  let d = '';
  let pen = false;
  v.forEach((x, i) => {
    if (x === null) { pen = false; return; }
    const px = (w - (v.length - 1 - i) * step).toFixed(1);
    const py = (h - 1 - (x / max) * (h - 3)).toFixed(1);
    d += `${pen ? 'L' : 'M'}${px},${py}`;
    pen = true;
  });
  const now = latest(v);
  const cls = opts.drop ? ' class="drop"' : '';
  return `<span class="chart"${opts.label ? '' : ' title="' + esc(unit) + '"'}>` +
    (opts.label ? `<span class="label">${esc(opts.label)}</span>` : '') +
    `<span class="value">${scaled(now, unit)}</span>` +
    `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ` +
    `data-series="${esc(name)}" data-last="${now === null ? '' : now}" data-points="${v.filter((x) => x !== null).length}">` +
    `<title>${esc(name)}: peak ${scaled(max, unit)}</title>` +
    `<path${cls} d="${d}"/></svg></span>`;
}

// A real server's state in one word, worst first. A failed check comes
// before disabled, as in `xlbctl show`: the policy takes a down server out
// of scheduling, and its reason is what the operator needs.
function realState(r) {
  if (r.health && r.health.startsWith('down')) return ['down', 'bad'];
  if (!r.enabled) return ['disabled', 'warn'];
  if (!r.resolved) return ['no neighbour', 'bad'];
  if (r.overloaded) return ['at uthreshold', 'warn'];
  if (r.weight === 0) return ['drained', 'warn'];
  return [r.health ? 'up' : 'unchecked', r.health ? 'ok' : 'info'];
}

function dropList(drops) {
  const e = Object.entries(drops || {}).filter(([, n]) => n > 0);
  if (e.length === 0) return '<span class="none">no drops</span>';
  return '<span class="drops">drops: ' +
    e.map(([why, n]) => `${esc(why)} ${n}`).join(', ') + '</span>';
}

function services(st) {
  if (st.services.length === 0) return '';
  let html = '<h2>Virtual services</h2>';
  for (const s of st.services) {
    const id = serviceId(s);
    html += `<div class="card service" data-service="${esc(s.name)}" data-id="${esc(id)}">` +
      `<h3>${esc(s.name)}<small>${esc(s.protocol)} ${esc(s.address)}:${s.port} · ` +
      `${esc(s.scheduler)} · ${esc(s.forwarding)}${s.flags ? ' · ' + esc(s.flags) : ''}</small></h3>` +
      '<div class="charts">' +
      spark(`svc:${id}:conns`, 'conn/s', { label: 'connections', w: 220, h: 44 }) +
      spark(`svc:${id}:packets`, 'p/s', { label: 'packets', w: 220, h: 44 }) +
      spark(`svc:${id}:bytes`, 'b/s', { label: 'traffic', w: 220, h: 44, scale: 8 }) +
      spark(`svc:${id}:drops`, 'drop/s', { label: 'drops', w: 220, h: 44, drop: true }) +
      '</div>' + dropList(s.traffic.drops) +
      '<table><tr><th>real server</th><th>state</th><th>weight</th><th>active</th>' +
      '<th>inactive</th><th>conn/s</th><th>packets/s</th><th>bits/s</th></tr>';
    for (const r of s.reals) {
      const rid = realId(s, r);
      const [word, cls] = realState(r);
      const why = r.health && r.health.startsWith('down') ? r.health.slice(4).replace(/^:\s*/, '') : '';
      html += `<tr class="real" data-real="${esc(r.address)}:${r.port}">` +
        `<td>${esc(r.address)}:${r.port}</td>` +
        `<td><span class="badge ${cls}">${esc(word)}</span>` +
        (why ? `<span class="why">${esc(why)}</span>` : '') + '</td>' +
        `<td class="num">${r.weight}${r.weight !== r.configured_weight ? ' / ' + r.configured_weight : ''}</td>` +
        `<td class="num">${r.active}</td><td class="num">${r.inactive}</td>` +
        `<td>${spark(`real:${rid}:conns`, 'conn/s', { w: 90, h: 20 })}</td>` +
        `<td>${spark(`real:${rid}:packets`, 'p/s', { w: 90, h: 20 })}</td>` +
        `<td>${spark(`real:${rid}:bytes`, 'b/s', { w: 90, h: 20, scale: 8 })}</td></tr>`;
    }
    html += '</table></div>';
  }
  return html;
}

const VRRP_CLASS = { MASTER: 'ok', BACKUP: 'info', FAULT: 'bad', INIT: 'wait' };

function vrrp(list) {
  if (!list || list.length === 0) return '';
  let html = '<h2>VRRP</h2><div class="card"><table><tr><th>instance</th><th>state</th>' +
    '<th>interface</th><th>vrid</th><th>priority</th><th>master</th><th>addresses</th>' +
    '<th>transitions</th><th>why</th></tr>';
  for (const i of list) {
    html += `<tr class="vrrp" data-instance="${esc(i.name)}"><td>${esc(i.name)}</td>` +
      `<td><span class="badge ${VRRP_CLASS[i.state] || 'wait'}">${esc(i.state)}</span></td>` +
      `<td>${esc(i.interface)}</td><td class="num">${i.vrid}</td>` +
      `<td class="num">${i.priority}${i.priority !== i.configured_priority ? ' / ' + i.configured_priority : ''}</td>` +
      `<td>${esc(i.master || '')}</td><td>${esc(i.vips.join(' '))}</td>` +
      `<td class="num">${i.transitions}</td><td>${esc(i.reason || '')}</td></tr>`;
  }
  return html + '</table></div>';
}

function proxyStatus(p) {
  if (!p) return '';
  let html = '<h2>Proxy</h2><div class="card"><table><tr><th>frontend</th><th>mode</th>' +
    '<th>binds</th><th>current</th><th>max</th><th>total</th><th>per second</th>' +
    '<th>bits/s</th><th>request errors</th></tr>';
  for (const f of p.frontends) {
    const c = f.counters;
    html += `<tr class="frontend" data-frontend="${esc(f.name)}"><td>${esc(f.name)}</td>` +
      `<td>${esc(f.mode)}</td><td>${esc(f.binds.join(' '))}</td>` +
      `<td class="num">${c.current}</td><td class="num">${c.max}</td><td class="num">${c.total}</td>` +
      `<td>${spark(`fe:${f.name}:total`, '/s', { w: 90, h: 20 })}</td>` +
      `<td>${spark(`fe:${f.name}:bytes`, 'b/s', { w: 90, h: 20, scale: 8 })}</td>` +
      `<td class="num">${c.request_errors}</td></tr>`;
  }
  html += '</table></div>';
  for (const b of p.backends) {
    const c = b.counters;
    html += `<div class="card backend" data-backend="${esc(b.name)}"><h3>${esc(b.name)}` +
      `<small>${esc(b.mode)} · ${esc(b.balance)} · ${b.active} active, ${b.backups} backup · ` +
      `queued ${b.queued} · connect errors ${c.connect_errors} · response errors ${c.response_errors}</small></h3>` +
      '<div class="charts">' +
      spark(`be:${b.name}:total`, '/s', { label: 'sessions or requests', w: 220, h: 40 }) +
      spark(`be:${b.name}:bytes`, 'b/s', { label: 'traffic', w: 220, h: 40, scale: 8 }) +
      '</div><table><tr><th>server</th><th>address</th><th>status</th><th>check</th>' +
      '<th>weight</th><th>served</th><th>queued</th><th>total</th><th>per second</th></tr>';
    for (const s of b.servers) {
      const up = s.status.startsWith('UP') || s.status === 'no check';
      const cls = up ? 'ok' : s.status === 'DRAIN' || s.status === 'MAINT' ? 'warn' : 'bad';
      html += `<tr class="server" data-server="${esc(s.name)}"><td>${esc(s.name)}${s.backup ? ' (backup)' : ''}</td>` +
        `<td>${esc(s.address)}</td><td><span class="badge ${cls}">${esc(s.status)}</span></td>` +
        `<td>${esc(s.check)}</td><td class="num">${s.weight}</td><td class="num">${s.served}</td>` +
        `<td class="num">${s.queued}</td><td class="num">${s.counters.total}</td>` +
        `<td>${spark(`srv:${b.name}/${s.name}:total`, '/s', { w: 90, h: 20 })}</td></tr>`;
    }
    html += '</table></div>';
  }
  return html;
}

function sync(y) {
  if (!y) return '';
  const heard = Object.entries(y.heard_from || {}).map(([a, n]) => `${esc(a)} (${n})`).join(', ');
  return '<h2>Connection sync</h2><div class="card sync">' +
    `<h3>sync id ${y.sync_id}<small>${esc(y.interface)} · port ${y.port} · peers ${esc(y.peers.join(' '))}</small></h3>` +
    '<div class="charts">' +
    spark('sync:sent', 'conn/s', { label: 'sent', w: 220, h: 40 }) +
    spark('sync:received', 'conn/s', { label: 'received', w: 220, h: 40 }) +
    '</div>' +
    `<div>installed ${y.installed} · send errors ${y.send_errors} · lost ${y.overflow + y.unsendable} · ` +
    `heard from ${heard || '<span class="none">nobody yet</span>'}</div>` + dropList(y.dropped) + '</div>';
}

function workers(st) {
  if (st.workers.length === 0) return '';
  let html = '<h2>Workers</h2><div class="card"><div class="charts">' +
    spark('workers:rx', 'p/s', { label: 'received', w: 220, h: 40 }) +
    spark('workers:drops', 'drop/s', { label: 'dropped', w: 220, h: 40, drop: true }) +
    '</div><table><tr><th>worker</th><th>bind</th><th>rx packets</th><th>tx packets</th>' +
    '<th>connections</th><th>drops</th></tr>';
  for (const w of st.workers) {
    html += `<tr><td>${w.index}</td><td>${w.zero_copy ? 'zero-copy' : 'copy'}</td>` +
      `<td class="num">${w.rx_packets}</td><td class="num">${w.tx_packets}</td>` +
      `<td class="num">${w.conns_live}</td><td>${dropList(w.drops)}</td></tr>`;
  }
  return html + '</table></div>';
}

function draw(answer) {
  const st = answer.status;
  $('summary').textContent = `${st.config} · generation ${st.generation} · ` +
    `${st.services.length} services · ${st.workers.length} workers · ` +
    new Date(answer.time).toLocaleTimeString();
  $('vrrp').innerHTML = vrrp(answer.vrrp);
  $('services').innerHTML = services(st);
  $('proxy').innerHTML = proxyStatus(st.proxy);
  $('sync').innerHTML = sync(st.sync);
  $('workers').innerHTML = workers(st);
}

function link(ok, why) {
  const l = $('link');
  l.className = 'badge ' + (ok ? 'ok' : 'bad');
  l.textContent = ok ? 'live' : `no answer: ${why}`;
}

async function poll() {
  try {
    const r = await fetch(lastT === null ? 'api/state' : `api/state?since=${lastT}`,
      { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const answer = await r.json();
    period = answer.period_ms || period;
    merge(answer.history);
    draw(answer);
    link(true);
  } catch (e) {
    link(false, e.message);
  }
  setTimeout(poll, period);
}

poll();
