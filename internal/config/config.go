// Package config holds citytwin's configuration: one struct filled from
// flags, whose defaults come from the environment (CITYTWIN_*), so that
// scripts can drive the binary either way.
package config

import (
	"flag"
	"os"
	"strconv"
	"time"
)

// Config is the configuration of a citytwin process.
type Config struct {
	// Addr is the HTTP listen address (CITYTWIN_ADDR, default :8080).
	Addr string
	// DatabaseURL points at a PostGIS database (CITYTWIN_DATABASE_URL or
	// DATABASE_URL). When empty, a private cluster runs in DataDir.
	DatabaseURL string
	// DataDir holds the private cluster and other local state
	// (CITYTWIN_DATA_DIR, default .citytwin).
	DataDir string
	// PGPort fixes the private cluster's port (CITYTWIN_PG_PORT); 0 picks a
	// free one.
	PGPort int
	// PoolMax is the size of citytwin's pgx pool (CITYTWIN_DB_POOL, default 16).
	PoolMax int
	// PublicReads lets anonymous clients read (CITYTWIN_PUBLIC_READS).
	PublicReads bool
	// LogLevel is debug, info, warn or error (CITYTWIN_LOG_LEVEL).
	LogLevel string
	// LogFormat is text or json (CITYTWIN_LOG_FORMAT).
	LogFormat string
	// ShutdownTimeout bounds the graceful HTTP shutdown.
	ShutdownTimeout time.Duration

	// MQTTAddr is the embedded broker's listen address (CITYTWIN_MQTT_ADDR,
	// default 127.0.0.1:1883); "off" disables it.
	MQTTAddr string
	// MQTTURL is an external broker to use instead (CITYTWIN_MQTT_URL).
	MQTTURL string
	// NATSURL makes the event bus go through NATS (CITYTWIN_NATS_URL).
	NATSURL string
	// RedisURL makes the tile cache shared in Redis (CITYTWIN_REDIS_URL).
	RedisURL string
	// PprofAddr, when set, serves Go's profiles (/debug/pprof/) on their
	// own listener (CITYTWIN_PPROF_ADDR), never on the public one.
	PprofAddr string
}

// Default returns the configuration from the environment's defaults.
func Default() Config {
	return Config{
		Addr:            env("CITYTWIN_ADDR", ":8080"),
		DatabaseURL:     env("CITYTWIN_DATABASE_URL", os.Getenv("DATABASE_URL")),
		DataDir:         env("CITYTWIN_DATA_DIR", ".citytwin"),
		PGPort:          envInt("CITYTWIN_PG_PORT", 0),
		PoolMax:         envInt("CITYTWIN_DB_POOL", 16),
		PublicReads:     envBool("CITYTWIN_PUBLIC_READS", false),
		LogLevel:        env("CITYTWIN_LOG_LEVEL", "info"),
		LogFormat:       env("CITYTWIN_LOG_FORMAT", "text"),
		ShutdownTimeout: 10 * time.Second,
		MQTTAddr:        env("CITYTWIN_MQTT_ADDR", "127.0.0.1:1883"),
		MQTTURL:         os.Getenv("CITYTWIN_MQTT_URL"),
		NATSURL:         os.Getenv("CITYTWIN_NATS_URL"),
		RedisURL:        os.Getenv("CITYTWIN_REDIS_URL"),
		PprofAddr:       os.Getenv("CITYTWIN_PPROF_ADDR"),
	}
}

// DatabaseFlags registers the flags that choose the database.
func (c *Config) DatabaseFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostGIS database URL (env CITYTWIN_DATABASE_URL); empty runs a private cluster in --data-dir")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "folder for the private PostgreSQL cluster and local state (env CITYTWIN_DATA_DIR)")
	fs.IntVar(&c.PGPort, "pg-port", c.PGPort, "port of the private cluster on 127.0.0.1; 0 picks a free one (env CITYTWIN_PG_PORT)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env CITYTWIN_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env CITYTWIN_LOG_FORMAT)")
}

// ServeFlags registers the flags of a serving process.
func (c *Config) ServeFlags(fs *flag.FlagSet) {
	c.DatabaseFlags(fs)
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address (env CITYTWIN_ADDR)")
	fs.IntVar(&c.PoolMax, "db-pool", c.PoolMax, "database pool size (env CITYTWIN_DB_POOL)")
	fs.BoolVar(&c.PublicReads, "public-reads", c.PublicReads, "let anonymous clients read (env CITYTWIN_PUBLIC_READS)")
	fs.StringVar(&c.MQTTAddr, "mqtt-addr", c.MQTTAddr, `embedded MQTT broker address, or "off" (env CITYTWIN_MQTT_ADDR)`)
	fs.StringVar(&c.MQTTURL, "mqtt-url", c.MQTTURL, "external MQTT broker URL, e.g. tcp://127.0.0.1:1883 (env CITYTWIN_MQTT_URL)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "NATS URL for the event bus across instances (env CITYTWIN_NATS_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis URL for a shared tile cache (env CITYTWIN_REDIS_URL)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "serve Go profiles at /debug/pprof/ on this address, e.g. 127.0.0.1:6060 (env CITYTWIN_PPROF_ADDR); off when empty")
}

func env(k, def string) string {
	if v, ok := os.LookupEnv(k); ok && v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envBool(k string, def bool) bool {
	if v, err := strconv.ParseBool(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
