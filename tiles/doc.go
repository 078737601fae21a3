// Package tiles serves the twin as Mapbox Vector Tiles: tegola maps built from
// the layer registry, a tile cache with exact invalidation when features
// change, TileJSON and a MapLibre style.
package tiles
