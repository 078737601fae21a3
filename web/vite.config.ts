import { defineConfig, type Plugin } from 'vite';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// precompress writes NAME.br (brotli, best) and NAME.gz (gzip, best) next to
// every text file of the build worth compressing. web.go serves them in place
// of NAME to clients that accept them, so that the server neither compresses
// at start nor sends the scripts (2 MB) uncompressed.
function precompress(): Plugin {
  let outDir = 'dist';
  return {
    name: 'citytwin-precompress',
    apply: 'build',
    configResolved(c) {
      outDir = resolve(c.root, c.build.outDir);
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
      for (const f of walk(outDir)) {
        if (!/\.(js|mjs|css|html|svg|json|txt)$/.test(f)) continue;
        const body = readFileSync(f);
        if (body.length <= 1024) continue;
        const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
        if (br.length < body.length * 0.9) writeFileSync(f + '.br', br);
        const gz = gzipSync(body, { level: 9 });
        if (gz.length < body.length * 0.9) writeFileSync(f + '.gz', gz);
      }
    },
  };
}

// The app is served by citytwin itself (web.go embeds dist/). `npm run dev`
// proxies the APIs to a citytwin on CITYTWIN_URL (default localhost:8080).
const target = process.env.CITYTWIN_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      output: {
        // maplibre-gl in a chunk of its own (cached across app releases).
        // deck.gl is not named here: src/deck.ts is imported dynamically, so
        // rollup gives deck.gl a chunk that the first page load never fetches.
        manualChunks: {
          maplibre: ['maplibre-gl'],
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': target,
      '/ogc': target,
      '/tiles': target,
      '/ws': { target: target.replace(/^http/, 'ws'), ws: true },
    },
  },
});
