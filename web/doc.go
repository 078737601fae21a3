// Package web is citytwin's browser app: the 3D city and the one-map command
// view (TypeScript, Vite, MapLibre GL JS, deck.gl, uPlot), built from this
// folder into dist/ by `npm run build` (scripts/build.sh does it before go
// build) and embedded in the binary, so that `citytwin serve` needs nothing
// from the internet: every script, style, font and icon comes from the server
// itself.
//
// [Handler] serves the build: "GET /" is index.html (Cache-Control no-cache,
// an ETag, and a Content-Security-Policy that keeps every request on the
// serving origin), the content-hashed files under /assets/ are served
// immutable for a year, and the brotli (NAME.br) or gzip (NAME.gz) copy the
// build wrote of a file is served in its place to a client that accepts it
// (a file without a gzip copy is gzip-compressed once at start).
//
// The app reads only citytwin's own APIs: /tiles/style.json and the tiles,
// /ogc/collections (layer titles in Chinese and English, palettes), the
// feature, search, isolation, impact and H3 APIs under /api/v1, the device,
// history and alarm APIs, and the websocket /ws for live state. See
// README.md in this folder for the app's features, its URL hash and the
// browser tests (npm test in this folder, run by make test).
package web
