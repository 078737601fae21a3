-- Layer tables are read by many small concurrent queries (a tile, a bbox
-- page, a kNN): PostGIS marks ST_AsMVTGeom and friends as costly, so once a
-- table passes min_parallel_table_scan_size the planner picks a parallel
-- seq scan with a Gather for a few hundred rows, and starting its worker
-- costs far more than the scan. Measured on the tiles bench district (22,500
-- buildings, 15 MB): a z16 tile 33 ms with a Gather against 2 ms through the
-- GiST index. tegola's pool cannot set session parameters (it replaces them),
-- so the tables say it: no parallel workers for scans of layer tables.
ALTER TABLE buildings SET (parallel_workers = 0);
ALTER TABLE cameras SET (parallel_workers = 0);
ALTER TABLE districts SET (parallel_workers = 0);
ALTER TABLE landuse SET (parallel_workers = 0);
ALTER TABLE network_nodes SET (parallel_workers = 0);
ALTER TABLE parking_lots SET (parallel_workers = 0);
ALTER TABLE pipes SET (parallel_workers = 0);
ALTER TABLE project_sites SET (parallel_workers = 0);
ALTER TABLE roads SET (parallel_workers = 0);
ALTER TABLE smart_poles SET (parallel_workers = 0);
ALTER TABLE water SET (parallel_workers = 0);
ALTER TABLE waterways SET (parallel_workers = 0);
ALTER TABLE user_features SET (parallel_workers = 0);
