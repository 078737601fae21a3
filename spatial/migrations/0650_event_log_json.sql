-- The event log keeps each event's data as the text the twin wrote, not as
-- jsonb: nothing queries inside it, readers hand it on as it is, and every
-- ingest batch appends an event per reporting device. Parsing that into
-- jsonb cost PostgreSQL about 1.7 µs per event of about 400 bytes (3.8 µs
-- against 2.1 µs per row inserted), and gave resumed clients the data in
-- jsonb's own layout rather than the one they saw live.
ALTER TABLE event_log ALTER COLUMN data TYPE json USING data::json;
