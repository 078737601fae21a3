package ogc

// OpenAPI returns the OpenAPI 3.0 document of the routes Register adds, with
// server url base (e.g. http://host/ogc).
func (s *Server) OpenAPI(base string) map[string]any {
	type m = map[string]any
	param := func(name, in, desc string, schema m, required bool) m {
		return m{"name": name, "in": in, "description": desc, "required": required, "schema": schema}
	}
	str := m{"type": "string"}
	f := param("f", "query", "format: json or html", m{"type": "string", "enum": []string{"json", "html"}}, false)
	cid := param("collectionId", "path", "collection (layer) id", str, true)
	fid := param("featureId", "path", "feature id", m{"type": "integer", "format": "int64"}, true)
	crs := param("crs", "query", "output CRS URI", m{"type": "string", "format": "uri", "enum": crsURIs()}, false)
	errResp := m{"description": "error", "content": m{"application/json": m{"schema": m{"$ref": "#/components/schemas/Error"}}}}
	jsonOK := func(desc, ctype string) m {
		return m{"description": desc, "content": m{ctype: m{"schema": m{"type": "object"}}, "text/html": m{"schema": str}}}
	}
	itemsParams := []any{cid, f, crs,
		param("bbox", "query", "minx,miny,maxx,maxy (in bbox-crs, default CRS84)", m{"type": "array", "minItems": 4, "maxItems": 6, "items": m{"type": "number"}}, false),
		param("bbox-crs", "query", "CRS of bbox", m{"type": "string", "format": "uri", "enum": crsURIs()}, false),
		param("limit", "query", "page size", m{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": DefaultLimit}, false),
		param("offset", "query", "first item (0-based)", m{"type": "integer", "minimum": 0, "default": 0}, false),
		param("datetime", "query", "instant or interval on updated_at (RFC 3339, .. for open ends)", str, false),
		param("properties", "query", "comma-separated properties to return", str, false),
		param("sortby", "query", "comma-separated queryables, - for descending", str, false),
		param("filter", "query", "CQL2 text filter", str, false),
		param("filter-lang", "query", "filter language", m{"type": "string", "enum": []string{"cql2-text"}}, false),
		param("filter-crs", "query", "CRS of geometry literals in filter", m{"type": "string", "format": "uri", "enum": crsURIs()}, false),
	}
	bearer := []any{m{"bearer": []any{}}}
	featureBody := m{"required": true, "content": m{
		"application/geo+json": m{"schema": m{"type": "object"}},
		"application/json":     m{"schema": m{"type": "object"}},
	}}
	paths := m{
		"/": m{"get": m{"operationId": "getLandingPage", "summary": "landing page", "parameters": []any{f},
			"responses": m{"200": jsonOK("landing page", "application/json"), "400": errResp}}},
		"/conformance": m{"get": m{"operationId": "getConformance", "summary": "conformance classes", "parameters": []any{f},
			"responses": m{"200": jsonOK("conformance classes", "application/json"), "400": errResp}}},
		"/api": m{"get": m{"operationId": "getAPI", "summary": "this OpenAPI document", "parameters": []any{f},
			"responses": m{"200": m{"description": "OpenAPI 3.0", "content": m{"application/vnd.oai.openapi+json;version=3.0": m{"schema": m{"type": "object"}}}}}}},
		"/collections": m{"get": m{"operationId": "getCollections", "summary": "collections (one per layer)", "parameters": []any{f},
			"responses": m{"200": jsonOK("collections", "application/json"), "400": errResp}}},
		"/collections/{collectionId}": m{"get": m{"operationId": "describeCollection", "summary": "a collection", "parameters": []any{cid, f},
			"responses": m{"200": jsonOK("collection", "application/json"), "400": errResp, "404": errResp}}},
		"/collections/{collectionId}/queryables": m{"get": m{"operationId": "getQueryables", "summary": "queryables as JSON schema", "parameters": []any{cid, f},
			"responses": m{"200": jsonOK("queryables", "application/schema+json"), "404": errResp}}},
		"/collections/{collectionId}/items": m{
			"get": m{"operationId": "getFeatures", "summary": "features of a collection", "parameters": itemsParams,
				"responses": m{"200": jsonOK("features", "application/geo+json"), "400": errResp, "404": errResp}},
			"post": m{"operationId": "createFeature", "summary": "add a feature (operator)", "parameters": []any{cid}, "security": bearer,
				"requestBody": featureBody,
				"responses":   m{"201": m{"description": "created"}, "400": errResp, "401": errResp, "403": errResp, "404": errResp, "409": errResp}},
		},
		"/collections/{collectionId}/items/{featureId}": m{
			"get": m{"operationId": "getFeature", "summary": "one feature", "parameters": []any{cid, fid, f, crs},
				"responses": m{"200": jsonOK("feature", "application/geo+json"), "400": errResp, "404": errResp}},
			"put": m{"operationId": "replaceFeature", "summary": "replace a feature (operator)", "parameters": []any{cid, fid}, "security": bearer,
				"requestBody": featureBody,
				"responses":   m{"200": m{"description": "replaced"}, "400": errResp, "401": errResp, "403": errResp, "404": errResp}},
			"patch": m{"operationId": "updateFeature", "summary": "JSON merge patch of a feature (operator)", "parameters": []any{cid, fid}, "security": bearer,
				"requestBody": m{"required": true, "content": m{"application/merge-patch+json": m{"schema": m{"type": "object"}}}},
				"responses":   m{"200": m{"description": "updated"}, "400": errResp, "401": errResp, "403": errResp, "404": errResp}},
			"delete": m{"operationId": "deleteFeature", "summary": "delete a feature (operator)", "parameters": []any{cid, fid}, "security": bearer,
				"responses": m{"204": m{"description": "deleted"}, "401": errResp, "403": errResp, "404": errResp}},
		},
	}
	return m{
		"openapi": "3.0.3",
		"info": m{"title": "citytwin OGC API - Features", "version": "1.0.0",
			"description": "Features of the citytwin digital twin (OGC API - Features Parts 1-4)."},
		"servers": []any{m{"url": base}},
		"paths":   paths,
		"components": m{
			"securitySchemes": m{"bearer": m{"type": "http", "scheme": "bearer"}},
			"schemas": m{"Error": m{"type": "object", "properties": m{"error": m{"type": "object", "properties": m{
				"code": str, "message": str, "where": str, "request_id": str}}}}},
		},
	}
}
