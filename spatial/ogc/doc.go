// Package ogc serves the twin's layers as OGC API - Features at /ogc:
// Part 1 Core (landing page, conformance, OpenAPI 3.0 at /ogc/api,
// collections, items with bbox, limit (default 100, capped at 10000),
// offset with next/prev links, numberMatched/numberReturned, datetime on
// updated_at, property=value filters, properties, sortby; single items),
// GeoJSON and HTML; Part 2 CRS (crs, bbox-crs, filter-crs for CRS84,
// EPSG:4326 (lat/lon axis order), EPSG:3857 and CGCS2000 EPSG:4490);
// Part 3 filtering (queryables as application/schema+json, filter with
// filter-lang=cql2-text, see package cql2); Part 4 writes (POST items, PUT,
// PATCH as JSON merge patch, DELETE; operator or admin key), their geometry
// in the CRS the Content-Crs header names (one of Part 2's; CRS84 without
// it), stored and answered as CRS84.
//
// Feature ids are the table ids. Feature properties are the layer's typed
// attributes plus its free properties (an attribute wins on a name clash)
// plus source, source_id and updated_at. Unknown query parameters are
// refused with 400 naming the parameter; an unknown collection or feature
// is 404 (as OGC API - Features requires for path parameters).
//
// Item pages stream: each row is written as PostGIS returns it, so a page
// of 10,000 features never sits in memory. In CRS84 with all properties
// (the default request) a page reads each feature's stored GeoJSON text
// (column ogc_json, migration 0600, kept current on every write by triggers
// since 0630; the importer's bulk path writes the same text, rendered in
// Go) and copies its bytes to the response; other CRSs
// and property selections render the features in the query. A bbox page
// counts numberMatched in the same query (count(*) OVER ()); otherwise
// numberMatched costs a COUNT only when the page is full (or empty past the
// first page).
package ogc
