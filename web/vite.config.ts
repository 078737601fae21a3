import { defineConfig } from 'vite';

// The app is served by citytwin itself (web.go embeds dist/). `npm run dev`
// proxies the APIs to a citytwin on CITYTWIN_URL (default localhost:8080).
const target = process.env.CITYTWIN_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
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
