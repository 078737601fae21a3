-- The live event log: every change the websocket clients see is written here
-- in the same transaction as the data it describes, with a gapless sequence
-- number taken from event_seq (a row lock, so sequence order is commit order
-- and a rolled-back transaction leaves no gap). The epoch names this log; it
-- changes only if the log is reset, telling clients to resync.
CREATE TABLE event_seq (
  id    boolean PRIMARY KEY DEFAULT true CHECK (id),
  epoch text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text),
  seq   bigint NOT NULL DEFAULT 0
);
INSERT INTO event_seq DEFAULT VALUES;

CREATE TABLE event_log (
  seq     bigint PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  stream  text NOT NULL CHECK (stream IN ('state','event')),
  kind    text NOT NULL,
  entity  text NOT NULL,
  layer   text NOT NULL,
  cell    bigint,
  version bigint NOT NULL,
  data    jsonb NOT NULL
);
CREATE INDEX event_log_at ON event_log (at);
