package spatial

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFS holds the schema as numbered SQL files. Each domain owns a range
// of numbers: 0001-0099 core, 0100 spatial queries, 0200 twin, 0300 scenes,
// 0400 tiles, 0500 importers, 0600 sample data.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key held while migrating, so that two
// instances starting at once never race.
const migrationLock = 0x63_69_74_79_74_77 // "cityt w"

// Migration is one embedded schema file.
type Migration struct {
	Version string // file name without .sql, e.g. "0001_core"
	SQL     string
	Sum     string // sha256 of SQL
}

// Migrations returns the embedded migrations in order.
func Migrations() []Migration {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(names)
	ms := make([]Migration, 0, len(names))
	for _, n := range names {
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{
			Version: strings.TrimSuffix(strings.TrimPrefix(n, "migrations/"), ".sql"),
			SQL:     string(b),
			Sum:     hex.EncodeToString(sum[:]),
		})
	}
	return ms
}

// Migrate applies the embedded migrations that the database lacks, each in
// its own transaction, under an advisory lock. It returns the versions it
// applied. A migration that was applied with different content is an error:
// migrations are never edited once released.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text PRIMARY KEY,
		sum        text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied, err := appliedMigrations(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	var done []string
	for _, m := range Migrations() {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Sum {
				return done, fmt.Errorf("migrate: %s was applied with different content; migrations must not change once applied", m.Version)
			}
			continue
		}
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, sum) VALUES ($1, $2)`, m.Version, m.Sum)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("migrate: %s: %w", m.Version, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

func appliedMigrations(ctx context.Context, conn *pgx.Conn) (map[string]string, error) {
	rows, err := conn.Query(ctx, `SELECT version, sum FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := map[string]string{}
	for rows.Next() {
		var v, s string
		if err := rows.Scan(&v, &s); err != nil {
			return nil, err
		}
		applied[v] = s
	}
	return applied, rows.Err()
}

// PendingMigrations returns the versions of embedded migrations that the
// database has not applied. /readyz uses it.
func PendingMigrations(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, err
	}
	applied := map[string]string{}
	if exists {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Release()
		if applied, err = appliedMigrations(ctx, conn.Conn()); err != nil {
			return nil, err
		}
	}
	var pending []string
	for _, m := range Migrations() {
		if _, ok := applied[m.Version]; !ok {
			pending = append(pending, m.Version)
		}
	}
	return pending, nil
}
