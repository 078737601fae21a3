-- Hexagon outlines for the tile server's hex map: the H3 cells (at the
-- resolutions the hex map draws, 5 to 11) whose outlines tiles have needed,
-- computed in Go with h3-go and inserted the first time a tile needs them.
-- Pure geometry of the H3 grid: it never changes, so it needs no invalidation.
CREATE TABLE ct_hex_cells (
  cell bigint PRIMARY KEY,
  res  smallint NOT NULL CHECK (res BETWEEN 0 AND 15),
  geom geometry(Polygon, 4326) NOT NULL
);
CREATE INDEX ct_hex_cells_geom ON ct_hex_cells USING gist (geom);
