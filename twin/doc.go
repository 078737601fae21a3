// Package twin holds the live state of the city: the device registry,
// telemetry ingest over HTTP and MQTT, latest state and history, rules and
// alarms, commands to devices, the event bus and the websocket hub.
package twin
