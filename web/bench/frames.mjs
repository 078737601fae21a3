// bench/frames.mjs: frame times with 2,000 live markers updating once a
// second while the map turns (the browser test's figure), per build.
//
//   node bench/frames.mjs [--runs N] [BIN ...]
//
// Starts one `citytwin demo --scale small` per binary given (default
// ../bin/citytwin, or $CITYTWIN_BIN) and measures each in turn, N times,
// interleaved so that every build sees the same machine load, in a fresh
// page at the browser test's view (zoom 15.5, pitch 50) once the 3D pipes
// are drawn. Prints p50/p95 per run, medians per build and their ratio.

import os from 'node:os';
import { startDemo, launchBrowser, openFirstMap, measureFrames } from '../e2e/harness.mjs';

const args = process.argv.slice(2);
let runs = 3;
const bins = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else bins.push(args[i]);
}
if (!bins.length) bins.push(process.env.CITYTWIN_BIN || '');

async function centre(url) {
  const fc = await (await fetch(url + '/ogc/collections/buildings/items?limit=50')).json();
  const f = fc.features.find((x) => x.properties.name) || fc.features[0];
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]);
    } else for (const x of c) walk(x);
  };
  walk(f.geometry.coordinates);
  return [(w + e) / 2, (s + n) / 2];
}

async function once(browser, s) {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 900 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  const [lon, lat] = s.centre;
  // the old builds count "interactive" without an input: wait for either
  await openFirstMap(page, `${s.url}/#${lon.toFixed(5)}/${lat.toFixed(5)}/15.5/50/-20`, {
    isInteractive: () => window.__citytwin?.timings.interactive !== undefined && window.__citytwin.map.loaded(),
    timeoutMs: 120_000,
  });
  await page.waitForFunction(() => window.__citytwin.deckLayer('pipes3d')?.props.data.length > 0, null, { timeout: 120_000 });
  await page.waitForFunction(() => window.__citytwin.map.loaded() && window.__citytwin.map.areTilesLoaded(), null, { timeout: 120_000 });
  await page.waitForTimeout(1000);
  const r = await measureFrames(page, 2000, 6000);
  await ctx.close();
  return r;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const servers = [];
let browser;
try {
  for (const bin of bins) {
    if (bin) process.env.CITYTWIN_BIN = bin;
    const s = await startDemo();
    s.bin = bin || 'bin/citytwin';
    s.centre = await centre(s.url);
    servers.push(s);
  }
  browser = await launchBrowser();
  const res = servers.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < servers.length; k++) {
      const r = await once(browser, servers[k]);
      res[k].push(r);
      console.log(`# run ${i + 1} ${servers[k].bin}: ${r.n} frames in 6 s, p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, max ${r.max.toFixed(1)} ms (${r.markers} markers) [load ${os.loadavg()[0].toFixed(1)}]`);
    }
  }
  const rows = servers.map((s, k) => ({ p50: median(res[k].map((r) => r.p50)), p95: median(res[k].map((r) => r.p95)), n: median(res[k].map((r) => r.n)) }));
  console.log('\n# frame times with 2,000 live markers updating 1/s while the map turns, medians');
  servers.forEach((s, k) => console.log(`#   ${s.bin}: p50 ${rows[k].p50.toFixed(1)} ms, p95 ${rows[k].p95.toFixed(1)} ms, ${rows[k].n} frames in 6 s`));
  if (rows.length === 2) console.log(`#   ratio ${servers[1].bin} / ${servers[0].bin}: p50 ${(rows[1].p50 / rows[0].p50).toFixed(2)}, p95 ${(rows[1].p95 / rows[0].p95).toFixed(2)}`);
  console.log(`#   (load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cores)`);
} finally {
  await browser?.close();
  for (const s of servers) await s.stop();
}
