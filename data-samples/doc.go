// Package samples generates the Dezhou sample district (same seed, same
// city) and simulates its devices' telemetry and faults.
package samples
