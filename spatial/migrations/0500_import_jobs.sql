-- Import jobs run by POST /api/v1/imports: their options, last progress, and
-- the report or error once finished, so that a finished job's report
-- survives restarts.
CREATE TABLE import_jobs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status      text NOT NULL CHECK (status IN ('running','succeeded','failed')),
  actor       text NOT NULL,
  files       text[] NOT NULL,
  options     jsonb NOT NULL DEFAULT '{}',
  progress    jsonb,
  report      jsonb,
  error       jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
