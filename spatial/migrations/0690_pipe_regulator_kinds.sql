-- SWMM models regulate drainage with orifices, weirs and outlets between
-- two nodes; the importer brings them in as pipes of their own kind (they
-- were "other", with the type only in props), so that traces run through
-- them and the map can tell them apart.
ALTER TABLE pipes DROP CONSTRAINT pipes_kind_check;
ALTER TABLE pipes ADD CONSTRAINT pipes_kind_check
  CHECK (kind IN ('pipe','main','distribution','service','pump','valve','conduit','supply','return','cable','orifice','weir','outlet','other'));
