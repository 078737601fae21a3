-- Every ingest batch updates the reporting devices' status row and their
-- latest value per metric. Neither update touches an indexed column, so
-- PostgreSQL can update in place (HOT: no new entry in the devices table's
-- five indexes, GiST included) when the page has room; at the default
-- fillfactor of 100 a freshly loaded page has none. Leave room on every page.
ALTER TABLE devices SET (fillfactor = 70);
ALTER TABLE device_state SET (fillfactor = 70);
