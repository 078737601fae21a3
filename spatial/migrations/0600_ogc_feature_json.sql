-- Pre-rendered GeoJSON of every feature for OGC API - Features item pages
-- (issue #8): ogc_json holds the text `"geometry":{...},"properties":{...}`
-- of the feature in CRS84 with all its properties, exactly what
-- spatial.Layer.PropsSQL and ST_AsGeoJSON(geom, 7) render at query time, so
-- that a bbox page of 1,000 buildings is a scan of stored text instead of
-- 1,000 jsonb objects built, merged and printed per request (that was ~70%
-- of the page's database time).
--
-- A stored generated column, not a trigger: PostgreSQL recomputes it on
-- every INSERT, UPDATE and COPY, after any BEFORE trigger, whichever path
-- writes the row (the importers' loader, OGC Part 4 writes, edits, SQL by
-- hand). Generated columns need immutable expressions, hence one IMMUTABLE
-- function per table taking the columns as arguments; jsonb_build_object is
-- only STABLE because of its timestamptz input, so updated_at is printed in
-- UTC explicitly (the same text jsonb prints in a UTC session) and the
-- function is truly a function of its arguments.
--
-- The attribute lists follow the layer registry (spatial/layers_builtin.go);
-- spatial/ogc's TestPrerenderedFeatureJSON checks that every layer's stored
-- text equals the query-time rendering, after inserts and updates.

CREATE FUNCTION ogc_feature_json_buildings(g geometry, p jsonb, a1 text, a2 text, a3 text, a4 double precision, a5 integer, a6 integer, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'address', a2, 'use', a3, 'height_m', a4, 'floors', a5, 'year_built', a6)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE buildings ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_buildings(geom, props, "name", "address", "use", "height_m", "floors", "year_built", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_cameras(g geometry, p jsonb, a1 text, a2 text, a3 double precision, a4 double precision, a5 double precision, a6 text, a7 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'pole', a2, 'direction_deg', a3, 'fov_deg', a4, 'range_m', a5, 'stream_url', a6, 'status', a7)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE cameras ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_cameras(geom, props, "name", "pole", "direction_deg", "fov_deg", "range_m", "stream_url", "status", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_districts(g geometry, p jsonb, a1 text, a2 text, a3 text, a4 integer, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'name_en', a2, 'code', a3, 'population', a4)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE districts ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_districts(geom, props, "name", "name_en", "code", "population", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_landuse(g geometry, p jsonb, a1 text, a2 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('class', a1, 'name', a2)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE landuse ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_landuse(geom, props, "class", "name", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_network_nodes(g geometry, p jsonb, a1 text, a2 text, a3 text, a4 double precision, a5 double precision, a6 text, a7 text, a8 text, a9 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('network', a1, 'kind', a2, 'name', a3, 'elevation_m', a4, 'depth_m', a5, 'valve_state', a6, 'status', a7, 'on_pipe', a8, 'near_node', a9)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE network_nodes ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_network_nodes(geom, props, "network", "kind", "name", "elevation_m", "depth_m", "valve_state", "status", "on_pipe", "near_node", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_parking_lots(g geometry, p jsonb, a1 text, a2 integer, a3 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'capacity', a2, 'kind', a3)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE parking_lots ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_parking_lots(geom, props, "name", "capacity", "kind", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_pipes(g geometry, p jsonb, a1 text, a2 text, a3 text, a4 double precision, a5 text, a6 double precision, a7 double precision, a8 integer, a9 text, a10 text, a11 text, a12 double precision, a13 double precision, a14 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('network', a1, 'kind', a2, 'name', a3, 'diameter_mm', a4, 'material', a5, 'depth_m', a6, 'length_m', a7, 'install_year', a8, 'status', a9, 'from_node', a10, 'to_node', a11, 'from_invert_m', a12, 'to_invert_m', a13, 'tunnel', a14)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE pipes ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_pipes(geom, props, "network", "kind", "name", "diameter_mm", "material", "depth_m", "length_m", "install_year", "status", "from_node", "to_node", "from_invert_m", "to_invert_m", "tunnel", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_project_sites(g geometry, p jsonb, a1 text, a2 text, a3 text, a4 double precision, a5 double precision, a6 date, a7 date, a8 text, a9 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'type', a2, 'stage', a3, 'investment', a4, 'progress_pct', a5, 'start_date', a6, 'planned_end', a7, 'owner', a8, 'risk_level', a9)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE project_sites ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_project_sites(geom, props, "name", "type", "stage", "investment", "progress_pct", "start_date", "planned_end", "owner", "risk_level", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_roads(g geometry, p jsonb, a1 text, a2 text, a3 text, a4 integer, a5 boolean, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'name_en', a2, 'class', a3, 'lanes', a4, 'oneway', a5)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE roads ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_roads(geom, props, "name", "name_en", "class", "lanes", "oneway", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_smart_poles(g geometry, p jsonb, a1 text, a2 text[], a3 double precision, a4 text, a5 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'functions', a2, 'height_m', a3, 'road', a4, 'status', a5)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE smart_poles ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_smart_poles(geom, props, "name", "functions", "height_m", "road", "status", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_water(g geometry, p jsonb, a1 text, a2 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'class', a2)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE water ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_water(geom, props, "name", "class", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_waterways(g geometry, p jsonb, a1 text, a2 text, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p || jsonb_build_object('name', a1, 'class', a2)
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE waterways ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_waterways(geom, props, "name", "class", source, source_id, updated_at)) STORED;

CREATE FUNCTION ogc_feature_json_user_features(g geometry, p jsonb, src text, sid text, upd timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"geometry":' || ST_AsGeoJSON(g, 7) || ',"properties":' || (p
    || jsonb_build_object('source', src, 'source_id', sid, 'updated_at', (to_jsonb(upd AT TIME ZONE 'UTC') #>> '{}') || '+00:00'))::text
$$;
ALTER TABLE user_features ADD COLUMN ogc_json text GENERATED ALWAYS AS (
  ogc_feature_json_user_features(geom, props, source, source_id, updated_at)) STORED;
