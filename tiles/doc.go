// Package tiles serves the twin as Mapbox Vector Tiles: tegola maps built from
// the layer registry, a tile cache with exact invalidation when features
// change, TileJSON and a MapLibre style.
//
// # Maps
//
// tegola (github.com/go-spatial/tegola v0.21.2) is embedded as a library: the
// maps are atlas.Map values built in code from spatial.Registry (no TOML),
// rendered by tegola's mvt_postgis provider (obtained through provider.For),
// so PostGIS encodes each tile with ST_AsMVT in one query. tegola's router is
// not mounted; citytwin serves the tiles with its own handler and cache.
//
//   - base: the registry layers of Group "base" (districts, landuse, water,
//     waterways, roads, parking_lots, buildings, and user layers).
//   - infra: the layers of Group "infra" (pipes, network_nodes, smart_poles,
//     cameras, project_sites).
//   - hex: one MVT layer "hex" of H3 hexagons with feature counts per cell,
//     at a resolution chosen by zoom (zoom-4, between 5 and 11). Attributes:
//     cell (hex string), res, count (all layers), and one count per built-in
//     layer (buildings, pipes, network_nodes, smart_poles, cameras,
//     project_sites, parking_lots, roads).
//
// Every MVT layer is named after its registry layer. The MVT feature id is the
// feature's stable id, the same id the feature API and the websocket use.
// Each layer's SQL filters with the tile envelope in EPSG:4326 (the table's
// CRS, so the GiST index is used), transforms to 3857 for ST_AsMVTGeom,
// simplifies below zoom 15, and carries only the attributes whose
// spatial.Attribute.TileMinZoom is at or below the tile's zoom (tegola map
// layers of the same name in disjoint zoom bands). text[] attributes (smart
// pole functions) are encoded as comma-separated strings, dates as
// YYYY-MM-DD.
//
// # HTTP
//
//	GET /tiles/{map}/{z}/{x}/{y}.pbf           all layers of a map
//	GET /tiles/{map}/{layer}/{z}/{x}/{y}.pbf   one layer
//	GET /tiles/{map}.json                      TileJSON 3.0.0 (absolute URLs)
//	GET /tiles/style.json                      MapLibre style v8
//	POST /api/v1/tiles/purge                   admin: {"layer", "bbox": [w,s,e,n], "minzoom", "maxzoom"}
//
// Tiles are application/vnd.mapbox-vector-tile, gzip-encoded when the client
// accepts gzip, with an ETag (If-None-Match gives 304) and Cache-Control
// "no-cache" by default (clients revalidate, so none keeps a stale tile after
// a write; CITYTWIN_TILE_MAX_AGE=N sends "public, max-age=N" instead), 204
// for an empty tile, and X-Tile-Cache: hit or miss. A bad z/x/y, an unknown map or layer get a
// JSON error (400 or 404) before any database query. Reads follow the
// server's read policy (a viewer key, or public reads); an access_token query
// parameter given to the TileJSON or style is carried into the URLs they
// return.
//
// # Style
//
// /tiles/style.json draws base and infra in a dark command-view palette with
// no external URL (no glyphs, no sprite, no text layers). Sources: "base",
// "infra", "hex" (vector, url = the TileJSON). Layer ids, bottom to top:
//
//	background, landuse, water, waterways, parking-lots, districts-outline,
//	roads, project-sites, project-sites-outline, buildings-3d (fill-extrusion
//	by height_m, coloured by use), pipes (by network), network-nodes (by kind),
//	smart-poles (by status), cameras, hex (fill by count; visibility none).
//
// # Cache and invalidation
//
// A tile is gzipped once when it is rendered (klauspost/compress, stateless
// deflate), and its ETag and header values are computed then. Tiles are
// cached gzipped: in memory by default (an LRU split into shards with their
// own locks, bounded by CITYTWIN_TILE_CACHE_MB, default 256; 0 turns caching
// off), whose hit writes the stored bytes and header values as they are; in
// Redis when CITYTWIN_REDIS_URL is set (shared by instances; /readyz then
// checks it). tegola keeps its own pgx/v4 pool of CITYTWIN_TILE_DB_POOL
// connections (default 8) beside citytwin's pool (CITYTWIN_DB_POOL, default
// 16): on a small machine more concurrent ST_AsMVT queries than cores only
// queue.
//
// spatial.Store.OnChange tells the service about every committed write
// before the write returns (spatial.Change: layer, ids, bound before and
// after); the service drops exactly the cached tiles, at every zoom, of every
// map holding the layer (and the hex map, with a half-tile margin for its
// cells) whose extent meets the change's bound; a change with All, or with
// ids but no bound, drops every tile of those maps. Each map has a generation
// that every purge moves on; a tile rendered from a read that began before a
// purge is not stored, so a concurrent render cannot put a stale tile back.
//
// # Commands
//
//	citytwin tiles seed --map base --minzoom 12 --maxzoom 15 --bbox w,s,e,n
//	citytwin tiles purge --layer buildings --bbox w,s,e,n --minzoom 0 --maxzoom 22
//
// seed renders into the shared Redis cache (--redis-url) or asks a running
// server (--server URL) for each tile so that its memory cache fills; purge
// drops tiles from Redis or through a server's admin endpoint (--key).
package tiles
