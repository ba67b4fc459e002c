package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/hookflash/hookflash/migrations"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hookflash migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", os.Getenv("HOOKFLASH_DATABASE_URL"), "Postgres URL [HOOKFLASH_DATABASE_URL]")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hookflash migrate [--database-url URL] up|down|status")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	if *dbURL == "" {
		return errors.New("bad configuration: HOOKFLASH_DATABASE_URL (--database-url) is empty: migrations need a Postgres database")
	}
	log := newLogger(stderr, "info", "text")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	switch fs.Arg(0) {
	case "up":
		if err := migrations.Up(ctx, *dbURL, log); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "migrations applied")
	case "down":
		if err := migrations.Down(ctx, *dbURL, log); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rolled back one migration")
	case "status":
		st, err := migrations.Status(ctx, *dbURL)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
		for _, s := range st {
			at := "pending"
			if s.Applied {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Version, s.Name, at)
		}
		tw.Flush()
	default:
		fs.Usage()
		return errUsage
	}
	return nil
}
