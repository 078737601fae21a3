// Package query serves the city-specific spatial queries under /api/v1.
// Every route reads (a viewer key, or none with --public-reads); unknown
// query parameters and bad values are 400 with the JSON error naming the
// parameter; an unknown layer in the path is 404, in a query parameter 400.
// Features come as GeoJSON FeatureCollections (streamed as PostGIS returns
// rows) whose properties are those of the OGC API (attributes, free
// properties, source, source_id, updated_at).
//
//	GET  /api/v1/layers/{layer}/nearest?lon=&lat=&k=10        k 1..1000; kNN on the GiST index (<->),
//	     re-ranked by geodesic distance; properties.distance_m
//	GET  /api/v1/layers/{layer}/within?lon=&lat=&radius=&limit= radius in metres, 0..50,000; nearest first
//	POST /api/v1/layers/{layer}/intersects?limit=             body: a GeoJSON geometry or Feature, at most
//	     100,000 vertices (else 400 "geometry")
//	GET  /api/v1/layers/{layer}/features/{id}/cells?res=10    {"layer","id","res","count","cells":[hex],"cell"}
//	GET  /api/v1/h3/features?layer=&cells=a,b,c&limit=        features in up to 1,000 cells of any
//	     resolution (res-10 cells use feature_cells, others the cells' hexagons)
//	GET  /api/v1/h3/aggregate?layer=&bbox=&res=&op=count|sum|mean&attr=
//	     per cell (ct_h3_parent of each feature's res-15 cell): FeatureCollection of hexagons with
//	     properties {cell, count, value}, plus "total"
//	GET  /api/v1/coverage/gaps?layer=&kind=&bbox=&distance=5000&res=7
//	     the cells of bbox whose centre has no feature within distance metres; layer=devices&kind=weather_station
//	     checks the devices table; FeatureCollection of gap hexagons with "cells_total" and "gaps"
//	GET  /api/v1/impact?lon=&lat=&radius=200                  (POST with a GeoJSON polygon body, ?radius= default 0)
//	     {"buildings":{count,floors,by_use,items},"pipes":{count,by_network:{net:{count,length_m}},items},
//	      "poles":{count,items},"cameras":{count,items}}; items sorted by distance_m (0 inside the area),
//	     at most 500 listed per kind; cameras are those whose sector (direction_deg ± fov_deg/2, out to
//	     range_m) covers the point (for an area: its point nearest the camera)
//	GET  /api/v1/search?q=&limit=20&layer=                    {"q","results":[{layer,id,name,point:[lon,lat],bbox}]}:
//	     name contains q (case-insensitive), or id or source_id equals q; exact, then prefix matches first
//
// Network traces are in package network.
package query
