package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
)

// command is one citytwin subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands. A subcommand exists only when it works.
func commands() map[string]command {
	return map[string]command{
		"serve":   {"serve the HTTP API, tiles, websocket and MQTT", runServe},
		"migrate": {"apply database migrations and exit", runMigrate},
		"demo":    {"run citytwin on the sample district (private database, public reads)", runDemo},
		"keys":    {"create, list and revoke API keys", runKeys},
		// command: import
		"import": {"import GIS files (GeoJSON, CSV, Shapefile, GeoPackage, OSM, CityJSON, EPANET, SWMM) into layers", runImport},
		// command: simulate
		"simulate": {"report telemetry for a citytwin's devices, with daily patterns and faults (load generator)", runSimulate},
		// command: tiles
		"tiles": {"seed tiles into the cache or purge them (zooms, bbox, layer)", runTiles},
	}
}

// UsageError is a command-line mistake; the command exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Main runs the citytwin command with args (without the program name).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return &UsageError{"a subcommand is required"}
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return &UsageError{fmt.Sprintf("unknown subcommand %q", args[0])}
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "citytwin: a digital twin and spatial GIS engine for a city's one-map command view")
	fmt.Fprintln(w, "\nUsage: citytwin COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%s\n", n, cmds[n].summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nRun 'citytwin COMMAND -h' for a command's flags.")
}

// parseFlags parses args into fs, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{err.Error()}
	}
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("citytwin serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.ServeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a := New(cfg, stdout, stderr)
	err := a.Run(ctx)
	return errors.Join(err, a.Close())
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("citytwin migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DatabaseFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a := New(cfg, stdout, stderr)
	defer a.Close()
	if err := a.OpenDB(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database schema is current")
	return nil
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &UsageError{"usage: citytwin keys create --role ROLE --name NAME | keys list | keys revoke PREFIX"}
	}
	cfg := config.Default()
	fs := flag.NewFlagSet("citytwin keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DatabaseFlags(fs)
	role := fs.String("role", "", "viewer, operator or admin")
	name := fs.String("name", "", "who or what holds the key")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	a := New(cfg, stdout, stderr)
	switch args[0] {
	case "create":
		r, err := auth.ParseRole(*role)
		if err != nil || r == auth.Device {
			return &UsageError{"--role must be viewer, operator or admin (device keys come with their device)"}
		}
		if strings.TrimSpace(*name) == "" {
			return &UsageError{"--name is required"}
		}
		defer a.Close()
		if err := a.OpenDB(ctx); err != nil {
			return err
		}
		var key string
		err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
			var err error
			key, err = auth.CreateKey(ctx, tx, *name, r, "")
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
		fmt.Fprintf(stderr, "created %s key for %q; it is shown only now\n", r, *name)
		return nil
	case "list":
		defer a.Close()
		if err := a.OpenDB(ctx); err != nil {
			return err
		}
		rows, err := a.Pool.Query(ctx, `SELECT prefix, name, role, coalesce(device_id, ''), created_at, revoked_at IS NOT NULL
			FROM api_keys ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PREFIX\tNAME\tROLE\tDEVICE\tCREATED\tREVOKED")
		for rows.Next() {
			var prefix, n, r, dev string
			var created any
			var revoked bool
			if err := rows.Scan(&prefix, &n, &r, &dev, &created, &revoked); err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\n", prefix, n, r, dev, created, revoked)
		}
		tw.Flush()
		return rows.Err()
	case "revoke":
		if fs.NArg() != 1 {
			return &UsageError{"usage: citytwin keys revoke PREFIX"}
		}
		defer a.Close()
		if err := a.OpenDB(ctx); err != nil {
			return err
		}
		if err := a.Auth.Revoke(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked", fs.Arg(0))
		return nil
	}
	return &UsageError{fmt.Sprintf("unknown keys subcommand %q (create, list, revoke)", args[0])}
}
