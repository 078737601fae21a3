// Package importers reads the files a city's GIS department holds (GeoJSON,
// CSV, Shapefile, GeoPackage, OpenStreetMap, CityJSON, EPANET, SWMM) into
// features for the bulk loader in package spatial, with CRS handling and
// geometry checks.
package importers
