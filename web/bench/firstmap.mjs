// bench/firstmap.mjs: where the time to the first interactive map goes.
//
//   node bench/firstmap.mjs [--runs N] [--waterfall] [BIN ...]
//
// Starts one `citytwin demo --scale small` per binary given (default
// ../bin/citytwin, or $CITYTWIN_BIN), then loads the app in a fresh browser
// context (empty HTTP cache) on each server in turn, N times, interleaved so
// that every binary sees the same machine load. For every load it records
// the app's timings (window.__citytwin.timings), the resource waterfall
// (Resource Timing: start, duration, bytes on the wire), the long tasks
// (> 50 ms on the main thread) and the number of tiles requested. The first
// load on each server meets an empty tile cache ("cold"); the others are
// "warm" on the server side, cold in the browser. It prints medians per
// binary and, with two binaries, the ratio of the second to the first.

import os from 'node:os';
import { startDemo, launchBrowser, openFirstMap } from '../e2e/harness.mjs';

const args = process.argv.slice(2);
let runs = 5;
let waterfall = false;
let profile = false;
const bins = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i] === '--waterfall') waterfall = true;
  else if (args[i] === '--profile') profile = true;
  else bins.push(args[i]);
}
if (!bins.length) bins.push(process.env.CITYTWIN_BIN || '');

// view: the same first view as the browser test (a named building of the
// sample district at zoom 16.5, pitch 55, bearing -25).
async function firstView(url) {
  const res = await fetch(url + '/ogc/collections/buildings/items?limit=50');
  const fc = await res.json();
  const f = fc.features.find((x) => x.properties.name) || fc.features[0];
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]);
    } else for (const x of c) walk(x);
  };
  walk(f.geometry.coordinates);
  return `#${((w + e) / 2).toFixed(5)}/${((s + n) / 2).toFixed(5)}/16.5/55/-25`;
}

// probe is put in the page before any script runs. It records the long
// tasks, and measures "interactive" the same way for every build, from the
// outside: the map's load event, the first frame with buildings drawn, then
// the first input the map handled after both (ms from navigation start).
function probe() {
  window.__longTasks = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__longTasks.push({ start: e.startTime, dur: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  const P = (window.__probe = {});
  const hook = () => {
    const ct = window.__citytwin;
    if (!ct || !ct.map) return void setTimeout(hook, 5);
    const map = ct.map;
    if (map._loaded) P.load = performance.now();
    else map.once('load', () => (P.load = performance.now()));
    const onRender = () => {
      const layers = ct.styleLayersOf('buildings');
      if (layers.length && map.queryRenderedFeatures({ layers }).length) {
        P.buildings = performance.now();
        map.off('render', onRender);
      }
    };
    map.on('render', onRender);
    map.on('mousemove', () => {
      if (P.interactive === undefined && P.buildings !== undefined && P.load !== undefined) P.interactive = performance.now();
    });
  };
  hook();
}

// summarise prints the main thread's self time by function of a CPU
// profile taken over the load up to the first interactive map.
function summarise(p) {
  const self = new Map();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) || 0) + (p.timeDeltas[i] || 0) / 1000);
  for (const [id, ms] of dt) {
    const n = byId.get(id);
    const f = n.callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber}`;
    self.set(key, (self.get(key) || 0) + ms);
  }
  const byFile = new Map();
  for (const [k, ms] of self) {
    const file = k.split(' ')[1].split(':')[0] || k.split(' ')[0];
    byFile.set(file, (byFile.get(file) || 0) + ms);
  }
  console.log('  profile, self time by file: ' + [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', '));
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`    ${v.toFixed(0).padStart(6)} ms  ${k}`);
}

async function load(browser, url, hash, withProfile = false) {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 900 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  await page.addInitScript(probe);
  // the network as playwright sees it: MapLibre fetches tiles from its
  // workers, whose requests are not in the page's Resource Timing
  const net = [];
  page.on('requestfinished', async (req) => {
    const t = req.timing();
    const sizes = await req.sizes().catch(() => null);
    net.push({ name: req.url(), start: t.startTime, end: t.startTime + t.responseEnd, wire: sizes ? sizes.responseBodySize + sizes.responseHeadersSize : 0 });
  });
  let cdp;
  if (withProfile) {
    cdp = await ctx.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
    await cdp.send('Profiler.start');
  }
  const wall = await openFirstMap(page, url + '/' + hash, { isInteractive: () => window.__probe.interactive !== undefined, timeoutMs: 120_000 });
  if (cdp) summarise((await cdp.send('Profiler.stop')).profile);
  // let the page settle to count what a first view costs in all
  await page.waitForFunction(() => {
    const m = window.__citytwin.map;
    return m.loaded() && !m.isMoving() && m.areTilesLoaded();
  }, null, { timeout: 120_000, polling: 100 });
  await page.waitForTimeout(1500);
  const r = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { origin: performance.timeOrigin, probe: { ...window.__probe }, timings: { ...window.__citytwin.timings }, nav: { dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd }, long: window.__longTasks };
  });
  await ctx.close();
  r.res = net.map((x) => ({ ...x, name: x.name.replace(url, ''), start: x.start - r.origin, end: x.end - r.origin }));
  const interactive = r.probe.interactive;
  const before = r.res.filter((x) => x.start <= interactive);
  const tiles = (xs) => xs.filter((x) => /\/tiles\/\w+\/\d+\/\d+\/\d+/.test(x.name));
  return {
    wall,
    ...r,
    interactive,
    bytesBefore: before.reduce((a, x) => a + x.wire, 0),
    reqBefore: before.length,
    tilesBefore: tiles(before).length,
    tilesAll: tiles(r.res).length,
    reqAll: r.res.length,
    bytesAll: r.res.reduce((a, x) => a + x.wire, 0),
    longBefore: r.long.filter((x) => x.start <= interactive).reduce((a, x) => a + x.dur, 0),
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

function printWaterfall(label, r) {
  console.log(`\n## ${label}: waterfall (ms from navigation; wire bytes)`);
  for (const x of [...r.res].sort((a, b) => a.start - b.start)) {
    console.log(`  ${x.start.toFixed(0).padStart(6)} → ${x.end.toFixed(0).padStart(6)}  ${String(x.wire).padStart(8)}  ${x.name.slice(0, 110)}`);
  }
  console.log(`  long tasks: ${r.long.map((x) => `${x.start.toFixed(0)}+${x.dur.toFixed(0)}`).join(' ')}`);
  console.log(`  timings: ${JSON.stringify(Object.fromEntries(Object.entries(r.timings).map(([k, v]) => [k, Math.round(v)])))}`);
}

const servers = [];
let browser;
try {
  for (const bin of bins) {
    if (bin) process.env.CITYTWIN_BIN = bin;
    const s = await startDemo();
    s.bin = bin || 'bin/citytwin';
    s.hash = await firstView(s.url);
    servers.push(s);
    console.log(`# ${s.bin}: demo ready in ${(s.startedInMs / 1000).toFixed(1)} s at ${s.url}`);
  }
  browser = await launchBrowser();
  const results = servers.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < servers.length; k++) {
      const r = await load(browser, servers[k].url, servers[k].hash, profile && i === runs - 1);
      results[k].push(r);
      console.log(`# run ${i + 1} ${servers[k].bin}: interactive ${r.interactive.toFixed(0)} ms (wall ${r.wall} ms; buildings drawn ${r.probe.buildings.toFixed(0)} ms), ` +
        `${r.reqBefore} requests / ${(r.bytesBefore / 1024).toFixed(0)} KiB / ${r.tilesBefore} tiles before it, long tasks ${r.longBefore.toFixed(0)} ms; ` +
        `settled: ${r.reqAll} requests, ${(r.bytesAll / 1024).toFixed(0)} KiB, ${r.tilesAll} tiles  [load ${os.loadavg()[0].toFixed(1)}]`);
      if (waterfall && (i === 0 || i === runs - 1)) printWaterfall(`${servers[k].bin} run ${i + 1}`, r);
    }
  }
  console.log('\n# first interactive map, medians (cold = first load on a fresh server, warm = the others)');
  const rows = servers.map((s, k) => {
    const warm = results[k].slice(1);
    const row = {
      cold: results[k][0].interactive,
      warm: median(warm.map((r) => r.interactive)),
      buildings: median(warm.map((r) => r.probe.buildings)),
      kib: median(warm.map((r) => r.bytesBefore)) / 1024,
      tiles: median(warm.map((r) => r.tilesBefore)),
      long: median(warm.map((r) => r.longBefore)),
    };
    console.log(`#   ${s.bin}: cold ${row.cold.toFixed(0)} ms, warm ${row.warm.toFixed(0)} ms (buildings drawn at ${row.buildings.toFixed(0)} ms; ` +
      `${row.kib.toFixed(0)} KiB and ${row.tiles} tiles before it; long tasks ${row.long.toFixed(0)} ms)`);
    return row;
  });
  if (rows.length === 2) {
    console.log(`#   ratio ${servers[1].bin} / ${servers[0].bin}: cold ${(rows[1].cold / rows[0].cold).toFixed(2)}, warm ${(rows[1].warm / rows[0].warm).toFixed(2)}`);
  }
  console.log(`#   (load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cores)`);
} finally {
  await browser?.close();
  for (const s of servers) await s.stop();
}
