// Package spatial is citytwin's PostGIS store: the schema and its embedded
// migrations, the layer registry, feature reads and writes, H3 indexing,
// spatial queries, the pipe-network graph and traces, impact analysis, and
// their HTTP API (OGC API - Features at /ogc and /api/v1/...).
//
// Geometry is EPSG:4326 throughout. Every feature has a stable id, a source and
// source id (re-imports upsert), typed attributes from its Layer, free
// properties, and H3 cells.
package spatial
