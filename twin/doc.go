// Package twin holds the live state of the city: the device registry,
// telemetry ingest over HTTP and MQTT, latest state and history, rules and
// alarms, and commands to devices. The event bus lives in twin/feed and the
// websocket hub in twin/hub.
//
// A [Service] is built by internal/app (wire_twin.go):
//
//	s := twin.NewService(pool, registry, store, bus, auth, logger, twin.Options{})
//	s.RegisterMetrics(metrics)
//	s.Load(ctx)                      // devices, latest state, rules, active alarms
//	go s.Run(ctx)()                  // batch writers and the health check
//	s.StartBroker(ctx, "127.0.0.1:1883") // or s.ConnectExternal(ctx, "tcp://host:1883")
//	s.RegisterRoutes(mux)
//
// Observations from HTTP ([Service.Ingest]) and MQTT ([Service.HandleMessage])
// are queued to writers that commit them in batches (COPY into the
// partitioned observation_points table, keyed by series number and time;
// INSERT … ON CONFLICT DO NOTHING when a row is already stored), together with the devices' new state, the alarms their rules raise
// or clear and the feed events, in one transaction; callers get their answer
// (HTTP 200, MQTT PUBACK) only after that commit. See README.md for the
// routes, MQTT topics and payloads.
package twin
