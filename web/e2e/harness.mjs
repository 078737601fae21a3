// The browser tests' harness: a real `citytwin demo` on free ports with a
// temporary data directory (its own private PostGIS), and Debian's Chromium
// driven by playwright-core. A missing binary, server or browser is a
// failure, never a skip.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, existsSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const webDir = path.resolve(here, '..');
export const repoDir = path.resolve(webDir, '..');
export const resultsDir = path.join(webDir, 'test-results');
export const chromiumPath = process.env.CITYTWIN_CHROMIUM || '/usr/bin/chromium';

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// startDemo runs `bin/citytwin demo --scale small` and waits for /readyz.
export async function startDemo({ timeoutMs = 240_000 } = {}) {
  const bin = process.env.CITYTWIN_BIN || path.join(repoDir, 'bin', 'citytwin');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/build.sh (make build) first`);
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(path.join(tmpdir(), 'citytwin-e2e-'));
  // the private PostgreSQL runs as user postgres when the tests run as root
  chmodSync(dataDir, 0o755);
  const args = ['demo', '--scale', 'small', '--addr', `127.0.0.1:${httpPort}`, '--data-dir', dataDir, '--mqtt-addr', `127.0.0.1:${mqttPort}`];
  const proc = spawn(bin, args, { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CITYTWIN_LOG_LEVEL: 'warn' } });
  let stdout = '';
  let stderr = '';
  let exited = null;
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  proc.on('exit', (code, sig) => (exited = { code, sig }));
  const url = `http://127.0.0.1:${httpPort}`;
  const start = Date.now();
  let key = '';
  for (;;) {
    if (exited) throw new Error(`citytwin demo exited (${JSON.stringify(exited)}) before it was ready:\n${stdout}\n${stderr.slice(-4000)}`);
    if (Date.now() - start > timeoutMs) {
      proc.kill('SIGTERM');
      throw new Error(`citytwin demo not ready after ${timeoutMs / 1000}s:\n${stdout}\n${stderr.slice(-4000)}`);
    }
    const m = stdout.match(/admin key for writes: (\S+?)\)/);
    if (m) key = m[1];
    if (key) {
      try {
        const res = await fetch(url + '/readyz');
        if (res.ok) break;
      } catch {
        // not listening yet
      }
    }
    await sleep(500);
  }
  return {
    url,
    key,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    startedInMs: Date.now() - start,
    logs: () => stderr,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        for (let i = 0; i < 60 && !exited; i++) await sleep(250);
        if (!exited) proc.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--ignore-gpu-blocklist',
];

export async function launchBrowser() {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: run scripts/install-deps.sh (apt-get install chromium)`);
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}

// watchPage records every request URL and every console error of page.
export function watchPage(page) {
  const seen = { requests: [], consoleErrors: [], pageErrors: [] };
  page.on('request', (r) => seen.requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') seen.consoleErrors.push(`${m.text()} (${m.location()?.url || ''})`);
  });
  page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
  return seen;
}

export function screenshotPath(name) {
  mkdirSync(resultsDir, { recursive: true });
  return path.join(resultsDir, name + '.png');
}

// api calls the server's JSON API and fails on an error answer.
export async function api(server, p, { method = 'GET', body, key } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers.Authorization = 'Bearer ' + key;
  const res = await fetch(server.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// openFirstMap navigates page to url and, as a user would while the page
// loads, keeps moving the mouse over the map until isInteractive (run in the
// page) holds. It returns the wall time from the navigation in ms. The app
// counts the map interactive when it has loaded, has drawn a frame with
// buildings and has then handled an input on the map (timings.interactive).
export async function openFirstMap(page, url, { isInteractive = () => window.__citytwin?.timings.interactive !== undefined, timeoutMs = 60_000 } = {}) {
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'commit' });
  const vp = page.viewportSize() || { width: 1600, height: 900 };
  for (let i = 0; ; i++) {
    if (await page.evaluate(isInteractive).catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`the map is not interactive ${timeoutMs / 1000} s after navigation`);
    await page.mouse.move(vp.width / 2 + (i % 2 ? 3 : -3), vp.height / 2);
    await page.waitForTimeout(20);
  }
}

// measureFrames adds n synthetic live markers around the map's centre that
// all change once a second (through the same path as live deltas), turns
// the map slowly for ms (as on a wall screen, so that every frame is drawn)
// and returns the frame times: the intervals between animation frames.
export async function measureFrames(page, n, ms) {
  return page.evaluate(async ([n, ms]) => {
    const ct = window.__citytwin;
    if (ct.loadDeck) await ct.loadDeck();
    const stop = ct.synthetic(n);
    await new Promise((res) => setTimeout(res, 1000));
    const frames = [];
    let last = performance.now();
    const end = last + ms;
    await new Promise((res) => {
      const step = (now) => {
        frames.push(now - last);
        last = now;
        if (now < end) requestAnimationFrame(step);
        else res();
      };
      requestAnimationFrame(step);
      ct.map.easeTo({ bearing: ct.map.getBearing() + 40, duration: ms, easing: (t) => t });
    });
    const markers = ct.deckLayer('liveDevices')?.props.data.length ?? 0;
    stop();
    frames.sort((a, b) => a - b);
    const q = (p) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))];
    return { n: frames.length, p50: q(0.5), p95: q(0.95), max: frames[frames.length - 1], markers };
  }, [n, ms]);
}
