-- Twin ingest: a per-device state version (the live feed's entity version),
-- alarm versions, rules for alarms, and commands sent to devices.

ALTER TABLE devices ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE alarms ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE alarms ADD COLUMN rule_id bigint;
CREATE INDEX alarms_device ON alarms (device_id, raised_at DESC);

-- Rules raise alarms from observations. A rule applies to every device of a
-- kind (device_id NULL) or to one device. kind: threshold (op, value), range
-- (outside min..max), rate (|change per second| over value); for_s > 0 makes
-- any of them a duration rule (the condition must hold that long). An
-- optional guard (when_metric when_op when_value) must hold too, e.g. "lamp
-- current 0 while on".
CREATE TABLE rules (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name          text NOT NULL,
  device_kind   text,
  device_id     text REFERENCES devices(id) ON DELETE CASCADE,
  metric        text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('threshold','range','rate')),
  op            text CHECK (op IN ('>','>=','<','<=','==','!=')),
  value         double precision,
  min           double precision,
  max           double precision,
  for_s         double precision NOT NULL DEFAULT 0 CHECK (for_s >= 0),
  when_metric   text,
  when_op       text CHECK (when_op IN ('>','>=','<','<=','==','!=')),
  when_value    double precision,
  alarm_type    text NOT NULL,
  severity      text NOT NULL CHECK (severity IN ('info','minor','major','critical')),
  message       text NOT NULL DEFAULT '',
  auto_clear    boolean NOT NULL DEFAULT true,
  feature_status text CHECK (feature_status IN ('fault','offline','maintenance')),
  builtin       boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK ((device_kind IS NULL) <> (device_id IS NULL))
);

INSERT INTO rules (name, device_kind, metric, kind, op, value, for_s, when_metric, when_op, when_value, alarm_type, severity, message, feature_status, builtin) VALUES
  ('low water pressure', 'pressure', 'pressure_mpa', 'threshold', '<', 0.15, 60, NULL, NULL, NULL, 'low_pressure', 'critical', 'water pressure below 0.15 MPa for 60 s', NULL, true),
  ('PM2.5 high', 'env', 'pm25', 'threshold', '>', 75, 0, NULL, NULL, NULL, 'pm25_high', 'major', 'PM2.5 over 75 µg/m³', NULL, true),
  ('tunnel water level', 'tunnel_water', 'level_m', 'threshold', '>', 0.5, 0, NULL, NULL, NULL, 'tunnel_flood', 'critical', 'tunnel water level over the 0.5 m mark', NULL, true),
  ('lamp fault', 'lamp', 'current_a', 'threshold', '<=', 0, 0, 'on', '==', 1, 'lamp_fault', 'major', 'lamp draws no current while switched on', 'fault', true),
  ('gas leak', 'gas_leak', 'ch4_ppm', 'threshold', '>', 1000, 0, NULL, NULL, NULL, 'gas_leak', 'critical', 'methane over 1000 ppm', NULL, true),
  ('gas leak LEL', 'gas_leak', 'lel_pct', 'threshold', '>', 10, 0, NULL, NULL, NULL, 'gas_leak', 'critical', 'gas over 10 % LEL', NULL, true),
  ('tunnel gas', 'tunnel_gas', 'ch4_ppm', 'threshold', '>', 1000, 0, NULL, NULL, NULL, 'tunnel_gas', 'critical', 'methane in the utility tunnel over 1000 ppm', NULL, true),
  ('tunnel temperature', 'tunnel_temp', 'temp_c', 'threshold', '>', 40, 0, NULL, NULL, NULL, 'tunnel_hot', 'major', 'utility tunnel temperature over 40 °C', NULL, true);

CREATE TABLE device_commands (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_id   text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  command     text NOT NULL,
  args        jsonb NOT NULL DEFAULT '{}',
  status      text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent','ok','failed','timeout')),
  result      jsonb,
  actor       text NOT NULL,
  sent_at     timestamptz NOT NULL DEFAULT now(),
  acked_at    timestamptz
);
CREATE INDEX device_commands_device ON device_commands (device_id, sent_at DESC);
