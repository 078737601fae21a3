// Package importers reads the files a city's GIS department holds into the
// twin's layers: one sub-package per format, each a Scanner in the manner of
// osm.Scanner, and Run, which detects formats, maps attributes, picks source
// ids and hands the records to the bulk loader (package spatial/load).
//
// # Formats
//
//   - geojson: a FeatureCollection or newline-delimited features (.geojson,
//     .json, .ndjson, .geojsonl, .jsonl) or a text sequence (RFC 8142),
//     streamed: memory stays bounded whatever the file's size; features are
//     parsed by the loader's workers. A lone Feature or a bare geometry is
//     one feature. A legacy "crs" member is honoured. Whole numbers keep
//     all their digits (ids and codes beyond 2^53).
//   - csv: lon/lat columns (lon, lng, longitude, x, 经度 / lat, latitude, y,
//     纬度) or a geometry column (wkt, geom, geometry, the_geom, shape,
//     wkb_geometry) holding WKT or EWKT, with Z or M as GDAL writes them,
//     hex WKB or EWKB as a CSV export of a PostGIS table holds them (an
//     EWKT's or EWKB's SRID is the record's CRS), or a GeoJSON geometry;
//     comma, semicolon or tab; UTF-8 or GBK/GB18030 (detected).
//   - shapefile: a .shp, a folder holding one, or a .zip holding one; the
//     .prj gives the CRS (see package crs), the .cpg the DBF code page (GBK,
//     UTF-8, Latin-1; else the DBF language driver, else each value UTF-8
//     if valid, else GB18030). Deleted DBF records are skipped.
//   - gpkg: every feature table of a GeoPackage, or only the one named by
//     --table (Options.Table, the jobs API's "table" field) or written after
//     the file as city.gpkg:TABLE; with --layer all go to that layer, else
//     each table to a user layer named after it. An unknown table is
//     EINVALID, naming the file's feature tables. Each table is read in its
//     own CRS (its srs_id's EPSG code in gpkg_spatial_ref_sys; a non-EPSG
//     one needs --crs), geometries with Z or M as 2D.
//   - osm: .osm.pbf, .osm, .osm.bz2: buildings (height, building:levels →
//     height_m, floors), roads, water, waterways, land use, parking, street
//     lamps and power poles (smart_poles), pipelines with a known substance
//     (pipes); multipolygon relations assembled. Every OSM tag is kept as the
//     property "osm:KEY". The extract is held in memory (city extracts).
//   - cityjson: CityJSON 1.1/2.0 and CityJSONSeq; Building and BuildingPart →
//     buildings with footprint (the union of the ground faces' outlines,
//     sloping ones too), height_m (measuredHeight, else the z span) and
//     geom3d; geometry templates are placed by their instances.
//   - epanet: .inp water models → network_nodes (junction, reservoir, tank)
//     and pipes (pipe, pump, valve with status, as EPANET reads it), US
//     units converted.
//   - swmm: .inp drainage models → network_nodes (manhole, outfall,
//     storage) and pipes (conduit from inlet to outlet with inverts, "*"
//     offsets at the node invert; orifice, weir, outlet and pump).
//     EPANET and SWMM records are numbered by their line in the file.
//
// Multi-layer formats (osm, cityjson, epanet, swmm, gpkg) go to their default
// layers when no layer is given; with one, only that layer's features load.
// A layer name that is not built in creates a user layer in the same
// transaction.
//
// # CRS
//
// --crs takes EPSG:nnnn (any code PostGIS knows; reprojected by ST_Transform
// in batches), gcj02 or bd09 (converted in Go, package crs, with an iterative
// inverse), or local:LON,LAT[,METRES_PER_UNIT] for schematic models (EPANET,
// SWMM) whose coordinates are local: their origin is placed at LON,LAT, x
// east and y north. Without --crs the file's own (.prj, CityJSON metadata,
// GeoPackage srs_id per table, GeoJSON crs, EWKT/EWKB SRID) is used, else
// EPSG:4326; --crs overrides it. EPANET and SWMM
// files need --crs. Coordinates that land off the planet are rejected with
// "wrong CRS?".
//
// # Attributes and ids
//
// Properties named like an attribute of the target layer fill its typed
// column (converted and checked: a bad value rejects the record); the others
// are kept in props. --map source=attribute renames first. Then, for
// GeoJSON, CSV, Shapefile and GeoPackage, fields named like an attribute in
// any case (NAME, Height_M) and the names exports commonly use (height,
// 高度 → height_m; levels, building:levels, 层数 → floors; 名称 → name;
// 管径 → diameter_mm; see fields.go) fill the target layer's attribute,
// unless it is already set. The source id
// is the --id-field property, else the format's id (GeoJSON feature id, OSM
// "way/123", EPANET/SWMM element id, GeoPackage primary key), else the "id"
// property, else the record number. The source is --source, else the file
// name without extensions; (source, source_id) upserts.
//
// # All or nothing
//
// One import is one transaction: a rejected record fails it and nothing stays
// (EINVALID naming the file and record), unless SkipInvalid, when the valid
// records commit and the report lists the first rejections with record
// number and reason. A record whose (layer, source, source id) repeats an
// earlier record's in the same import is rejected: it would otherwise
// replace that feature unseen. DryRun checks and stages everything, then
// rolls back.
//
// # Command and API
//
//	citytwin import FILE... --layer LAYER [--format F] [--table T] [--crs C] [--map a=b]...
//	    [--id-field F] [--source S] [--dry-run] [--skip-invalid]
//
// prints a progress bar on a terminal (plain lines otherwise) and the report;
// bad input exits 1 with the message.
//
// POST /api/v1/imports (operator or admin) takes multipart/form-data: one or
// more "file" parts and the fields layer, format, table, crs, map ("a=b", repeatable
// or comma-separated), id_field, source, dry_run, skip_invalid. Bad fields
// answer 400 at once, an upload over the limit 413; otherwise 202 with
//
//	{"id": 7, "status": "running", "files": [...], "options": {...}, "progress": {...}, "created_at": ...}
//
// GET /api/v1/imports/{id} (readers) answers
//
//	{"id": 7, "status": "running"|"succeeded"|"failed", "files": [...], "options": {...},
//	 "progress": {"read", "written", "stage", "bytes_done", "bytes_total"},
//	 "report": {"read", "inserted", "updated", "unchanged", "repaired", "rejected", "rejections": [{"file", "record", "reason"}], "layers": {...}, "duration_s"},
//	 "error": {"code", "message", "where", "status"}, "created_at", "finished_at"}
//
// Jobs run in goroutines the App owns and are recorded in import_jobs, so a
// finished job's report survives restarts; a job cut short by a shutdown is
// marked failed (its transaction rolled back).
package importers
