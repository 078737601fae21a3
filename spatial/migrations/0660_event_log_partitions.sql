-- The event log is partitioned by seq, so that trimming it drops whole
-- partitions instead of deleting rows. At 20,000 events/s a bound of two
-- million rows meant deleting 20,000 rows a second, and the deletes and the
-- vacuuming after them cost PostgreSQL as much as a third of the ingest's
-- own work (make bench-live over 240 s). Partitions hold part_rows seqs
-- each, created ahead by the ingest transaction that needs them
-- (ct_event_log_partitions); part_upto is the exclusive upper bound of the
-- newest one. Seqs are gapless, so every partition but the newest is full.
ALTER TABLE event_seq
  ADD COLUMN part_rows bigint NOT NULL DEFAULT 262144 CHECK (part_rows > 0),
  ADD COLUMN part_upto bigint;

ALTER TABLE event_log RENAME TO event_log_unpartitioned;
ALTER INDEX event_log_pkey RENAME TO event_log_unpartitioned_pkey;
ALTER INDEX event_log_at RENAME TO event_log_unpartitioned_at;

CREATE TABLE event_log (
  seq     bigint NOT NULL,
  at      timestamptz NOT NULL DEFAULT now(),
  stream  text NOT NULL CHECK (stream IN ('state','event')),
  kind    text NOT NULL,
  entity  text NOT NULL,
  layer   text NOT NULL,
  cell    bigint,
  version bigint NOT NULL,
  data    json NOT NULL,
  PRIMARY KEY (seq)
) PARTITION BY RANGE (seq);
CREATE INDEX event_log_at ON event_log (at);

-- The events logged so far go into one partition that ends after them.
UPDATE event_seq SET part_upto = seq + 1;
DO $$
DECLARE upto bigint := (SELECT part_upto FROM event_seq);
BEGIN
  EXECUTE format('CREATE TABLE event_log_0 PARTITION OF event_log FOR VALUES FROM (0) TO (%s)', upto);
END $$;
INSERT INTO event_log SELECT seq, at, stream, kind, entity, layer, cell, version, data FROM event_log_unpartitioned;
DROP TABLE event_log_unpartitioned;
ALTER TABLE event_seq ALTER COLUMN part_upto SET NOT NULL;

-- ct_event_log_partitions creates the partitions that seqs up to need
-- fall in (each named after its first seq). The caller holds event_seq's
-- row lock (it has just taken its seqs), so partitions are created one
-- transaction at a time.
CREATE FUNCTION ct_event_log_partitions(need bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  upto bigint;
  n    bigint;
BEGIN
  SELECT part_upto, part_rows INTO upto, n FROM event_seq;
  WHILE upto <= need LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF event_log FOR VALUES FROM (%s) TO (%s)',
                   'event_log_' || upto, upto, upto + n);
    upto := upto + n;
  END LOOP;
  UPDATE event_seq SET part_upto = upto;
  RETURN upto;
END $$;
