-- Live twin: devices, their observations (partitioned by month), latest state,
-- alarms, incidents and their timeline.

CREATE TABLE devices (
  id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  kind          text NOT NULL,
  name          text,
  feature_layer text,
  feature_id    bigint,
  metrics       jsonb NOT NULL DEFAULT '{}',
  interval_s    integer NOT NULL DEFAULT 60 CHECK (interval_s > 0),
  status        text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown','online','offline')),
  last_seen     timestamptz,
  props         jsonb NOT NULL DEFAULT '{}',
  h3            bigint,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  geom          geometry(Point, 4326),
  CHECK ((feature_layer IS NULL) = (feature_id IS NULL))
);
CREATE INDEX devices_geom ON devices USING gist (geom);
CREATE INDEX devices_h3 ON devices (h3);
CREATE INDEX devices_feature ON devices (feature_layer, feature_id);
CREATE INDEX devices_kind ON devices (kind);

-- Observations are idempotent on (device, metric, time): a retried batch
-- inserts nothing twice.
CREATE TABLE observations (
  device_id   text NOT NULL,
  time        timestamptz NOT NULL,
  metric      text NOT NULL,
  value       double precision NOT NULL,
  PRIMARY KEY (device_id, metric, time)
) PARTITION BY RANGE (time);

-- ct_observation_partition creates the month partition holding t, if missing,
-- and returns its name. Ingest calls it for each month a batch touches.
CREATE FUNCTION ct_observation_partition(t timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  m    timestamptz := date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  name text := 'observations_' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  IF to_regclass(name) IS NULL THEN
    PERFORM pg_advisory_xact_lock(hashtext('ct_observation_partition'));
    IF to_regclass(name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF observations FOR VALUES FROM (%L) TO (%L)',
                     name, m, m + interval '1 month');
    END IF;
  END IF;
  RETURN name;
END $$;

SELECT ct_observation_partition(now());
SELECT ct_observation_partition(now() + interval '1 month');

-- Latest value per device and metric.
CREATE TABLE device_state (
  device_id  text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  metric     text NOT NULL,
  time       timestamptz NOT NULL,
  value      double precision NOT NULL,
  version    bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (device_id, metric)
);

-- Alarms: at most one active alarm per device and type.
CREATE TABLE alarms (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_id    text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  type         text NOT NULL,
  severity     text NOT NULL CHECK (severity IN ('info','minor','major','critical')),
  message      text NOT NULL,
  metric       text,
  value        double precision,
  active       boolean NOT NULL DEFAULT true,
  acknowledged boolean NOT NULL DEFAULT false,
  raised_at    timestamptz NOT NULL DEFAULT now(),
  cleared_at   timestamptz,
  acked_at     timestamptz,
  acked_by     text,
  h3           bigint,
  geom         geometry(Point, 4326)
);
CREATE UNIQUE INDEX alarms_one_active ON alarms (device_id, type) WHERE active;
CREATE INDEX alarms_open ON alarms (raised_at DESC) WHERE active OR NOT acknowledged;

CREATE TABLE incidents (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title         text NOT NULL,
  category      text NOT NULL,
  severity      text NOT NULL CHECK (severity IN ('low','medium','high','critical')),
  source        text NOT NULL CHECK (source IN ('hotline','camera','sensor_alarm','patrol','other')),
  state         text NOT NULL DEFAULT 'reported' CHECK (state IN ('reported','verified','dispatched','in_progress','resolved','closed')),
  description   text,
  assignee_unit text,
  sla_deadline  timestamptz,
  alarm_id      bigint REFERENCES alarms(id) ON DELETE SET NULL,
  impact        jsonb,
  reported_at   timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  closed_at     timestamptz,
  h3            bigint,
  geom          geometry(Point, 4326) NOT NULL
);
CREATE INDEX incidents_geom ON incidents USING gist (geom);
CREATE INDEX incidents_open ON incidents (state) WHERE state <> 'closed';

CREATE TABLE incident_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  kind        text NOT NULL,
  from_state  text,
  to_state    text,
  note        text,
  detail      jsonb
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, at);
