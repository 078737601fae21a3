-- Access, audit and saved scenes.

-- People and services; each holds keys with its role.
CREATE TABLE users (
  name       text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
  role       text NOT NULL CHECK (role IN ('viewer','operator','admin')),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- API keys are random 256-bit secrets; only their SHA-256 is stored. prefix is
-- the public part of a key ("ct_" + 12 characters) used to find its row.
-- A device key belongs to one device and may write only its telemetry.
CREATE TABLE api_keys (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL,
  role         text NOT NULL CHECK (role IN ('viewer','operator','admin','device')),
  prefix       text NOT NULL UNIQUE,
  hash         bytea NOT NULL,
  user_name    text REFERENCES users(name) ON DELETE CASCADE,
  device_id    text REFERENCES devices(id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz,
  CHECK ((role = 'device') = (device_id IS NOT NULL))
);

CREATE TABLE audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  action      text NOT NULL,
  entity_type text NOT NULL,
  entity_id   text,
  detail      jsonb
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, at);

CREATE TABLE scenes (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
  name        text NOT NULL,
  description text,
  spec        jsonb NOT NULL,
  builtin     boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
