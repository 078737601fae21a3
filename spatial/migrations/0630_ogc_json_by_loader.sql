-- ogc_json (migration 0600) written by the bulk loader (issue #3).
--
-- As a stored generated column, ogc_json cost the import's single database
-- backend about 2 s of every 4.4 s of row COPY (200,000 buildings):
-- ST_AsGeoJSON and a jsonb object built, merged and printed per row. The
-- loader's direct path (spatial/load) now renders the same text in Go, in
-- its parallel workers, and copies it with the row. So the column becomes a
-- plain one (DROP EXPRESSION keeps every stored value), kept by triggers
-- that call the same ogc_feature_json_<table> functions:
--
--   zz_ogc_json_insert  BEFORE INSERT, unless the row already carries a text
--                       and the transaction says the loader wrote it
--                       (SET LOCAL citytwin.loader_json = 'on'); a row that
--                       comes with NULL is computed here, which is how the
--                       loader hands over values it cannot render exactly.
--   zz_ogc_json_update  BEFORE UPDATE, always: an update recomputes.
--
-- Every other write (the staging upsert, OGC Part 4 writes, edits, SQL by
-- hand) gets the text the generated column gave, whatever it supplies.
-- The WHEN clause keeps the loader's rows from calling PL/pgSQL at all.
-- BEFORE ROW triggers of a table fire in the order of their names (bytes),
-- and a generated column was computed after all of them: the zz_ names keep
-- these triggers last, so that they see what other BEFORE triggers changed;
-- spatial/ogc's TestPrerenderedFeatureJSON checks that no BEFORE ROW trigger
-- of a layer table sorts after them.

CREATE FUNCTION ogc_json_trigger_buildings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_buildings(NEW.geom, NEW.props, NEW."name", NEW."address", NEW."use", NEW."height_m", NEW."floors", NEW."year_built", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE buildings ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON buildings FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_buildings();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON buildings FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_buildings();

CREATE FUNCTION ogc_json_trigger_cameras() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_cameras(NEW.geom, NEW.props, NEW."name", NEW."pole", NEW."direction_deg", NEW."fov_deg", NEW."range_m", NEW."stream_url", NEW."status", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE cameras ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON cameras FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_cameras();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON cameras FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_cameras();

CREATE FUNCTION ogc_json_trigger_districts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_districts(NEW.geom, NEW.props, NEW."name", NEW."name_en", NEW."code", NEW."population", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE districts ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON districts FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_districts();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON districts FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_districts();

CREATE FUNCTION ogc_json_trigger_landuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_landuse(NEW.geom, NEW.props, NEW."class", NEW."name", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE landuse ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON landuse FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_landuse();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON landuse FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_landuse();

CREATE FUNCTION ogc_json_trigger_network_nodes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_network_nodes(NEW.geom, NEW.props, NEW."network", NEW."kind", NEW."name", NEW."elevation_m", NEW."depth_m", NEW."valve_state", NEW."status", NEW."on_pipe", NEW."near_node", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE network_nodes ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON network_nodes FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_network_nodes();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON network_nodes FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_network_nodes();

CREATE FUNCTION ogc_json_trigger_parking_lots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_parking_lots(NEW.geom, NEW.props, NEW."name", NEW."capacity", NEW."kind", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE parking_lots ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON parking_lots FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_parking_lots();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON parking_lots FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_parking_lots();

CREATE FUNCTION ogc_json_trigger_pipes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_pipes(NEW.geom, NEW.props, NEW."network", NEW."kind", NEW."name", NEW."diameter_mm", NEW."material", NEW."depth_m", NEW."length_m", NEW."install_year", NEW."status", NEW."from_node", NEW."to_node", NEW."from_invert_m", NEW."to_invert_m", NEW."tunnel", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE pipes ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON pipes FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_pipes();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON pipes FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_pipes();

CREATE FUNCTION ogc_json_trigger_project_sites() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_project_sites(NEW.geom, NEW.props, NEW."name", NEW."type", NEW."stage", NEW."investment", NEW."progress_pct", NEW."start_date", NEW."planned_end", NEW."owner", NEW."risk_level", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE project_sites ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON project_sites FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_project_sites();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON project_sites FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_project_sites();

CREATE FUNCTION ogc_json_trigger_roads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_roads(NEW.geom, NEW.props, NEW."name", NEW."name_en", NEW."class", NEW."lanes", NEW."oneway", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE roads ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON roads FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_roads();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON roads FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_roads();

CREATE FUNCTION ogc_json_trigger_smart_poles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_smart_poles(NEW.geom, NEW.props, NEW."name", NEW."functions", NEW."height_m", NEW."road", NEW."status", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE smart_poles ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON smart_poles FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_smart_poles();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON smart_poles FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_smart_poles();

CREATE FUNCTION ogc_json_trigger_water() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_water(NEW.geom, NEW.props, NEW."name", NEW."class", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE water ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON water FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_water();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON water FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_water();

CREATE FUNCTION ogc_json_trigger_waterways() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_waterways(NEW.geom, NEW.props, NEW."name", NEW."class", NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE waterways ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON waterways FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_waterways();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON waterways FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_waterways();

CREATE FUNCTION ogc_json_trigger_user_features() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.ogc_json := ogc_feature_json_user_features(NEW.geom, NEW.props, NEW.source, NEW.source_id, NEW.updated_at);
  RETURN NEW;
END $$;
ALTER TABLE user_features ALTER COLUMN ogc_json DROP EXPRESSION;
CREATE TRIGGER zz_ogc_json_insert BEFORE INSERT ON user_features FOR EACH ROW
  WHEN (NEW.ogc_json IS NULL OR current_setting('citytwin.loader_json', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ogc_json_trigger_user_features();
CREATE TRIGGER zz_ogc_json_update BEFORE UPDATE ON user_features FOR EACH ROW
  EXECUTE FUNCTION ogc_json_trigger_user_features();
