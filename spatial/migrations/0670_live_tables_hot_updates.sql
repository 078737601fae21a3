-- The live tables' rows are rewritten by every ingest batch: a device's
-- status row and its latest value per metric, about twenty times a second
-- each under load. 0620 left 30% of each page free so that those updates
-- stay on their page (HOT); but a page only gets its old versions back
-- (pruning) once no snapshot can see them, and a concurrent batch or an
-- ANALYZE holds such a snapshot for a while. A page of about thirty devices
-- with room for nine new versions then overflows within one batch: the
-- update goes to another page and adds entries to all five indexes of
-- devices (GiST included). Over a 100 s bench-live run at 20,000 obs/s,
-- 22,000 updates went that way; devices grew from 80 to 634 pages, its
-- indexes from 53 to 196, and every later lookup walked the dead entries
-- until autovacuum came. With 80% of each page free (the tables hold one row
-- per device, and per device and metric: a few MB for thousands of devices),
-- a page has room for several batches' versions; the same run had no update
-- leave its page and devices stayed at 200 pages.
ALTER TABLE devices SET (fillfactor = 20);
ALTER TABLE device_state SET (fillfactor = 20);
-- A fillfactor applies to pages filled from now on: rewrite the existing
-- rows (small tables; the migration runs before the server starts serving).
CLUSTER devices USING devices_pkey;
CLUSTER device_state USING device_state_pkey;

-- The event log is append-only and trimmed by dropping whole partitions
-- (feed.Log.Trim), so autovacuum has nothing to reclaim in it; yet each
-- partition crossed the insert threshold soon after it filled and got a
-- VACUUM ANALYZE of its 262,144 rows and two indexes, every 15 s or so at
-- full load, whose ANALYZE held back pruning everywhere (above). Partitions
-- are made without autovacuum; PostgreSQL still runs the anti-wraparound
-- vacuum that a long-kept partition may need, whatever this setting says.

CREATE OR REPLACE FUNCTION ct_event_log_partitions(need bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  upto bigint;
  n    bigint;
BEGIN
  SELECT part_upto, part_rows INTO upto, n FROM event_seq;
  WHILE upto <= need LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF event_log FOR VALUES FROM (%s) TO (%s) WITH (autovacuum_enabled = false)',
                   'event_log_' || upto, upto, upto + n);
    upto := upto + n;
  END LOOP;
  UPDATE event_seq SET part_upto = upto;
  RETURN upto;
END $$;

DO $$
DECLARE p regclass;
BEGIN
  FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'event_log'::regclass LOOP
    EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = false)', p);
  END LOOP;
END $$;
