// Command hookflash is the Hookflash server and its operator tools.
//
//	hookflash serve      run a replica (HTTP/WebSocket API, hub, PBX connectors)
//	hookflash demo       run a single node with simulated PBXes and live traffic
//	hookflash migrate    apply or inspect database migrations (up|down|status)
//	hookflash tail       print the live event feed, one line per event
//	hookflash admin      administer tenants, PBXes, users, tokens, policies (REST)
//	hookflash token      token create: make an integrator API token
//	hookflash version    print the version
//
// Configuration comes from HOOKFLASH_* environment variables; every variable
// has a mirroring flag. `hookflash serve --help` lists them all.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookflash/hookflash/cmd/hookflash/internal/config"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func subcommands() []command {
	return []command{
		{"serve", "run a replica: API, WebSocket feed, hub and PBX connectors", runServe},
		{"demo", "run a single node with simulated PBXes, demo tenants and live traffic", runDemo},
		{"migrate", "database migrations: migrate up|down|status", runMigrate},
		{"tail", "print the live event feed of a server, one line per event", runTail},
		{"admin", "administer tenants, PBXes, users, tokens and policies over the REST API", runAdmin},
		{"token", "token create: make an integrator API token (same as admin tokens create)", runToken},
		{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
			fmt.Fprintln(out, "hookflash", version)
			return nil
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks an error already explained by printed usage.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range subcommands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil || errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			default:
				fmt.Fprintln(stderr, "hookflash "+c.name+":", err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "hookflash: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Hookflash %s: multi-tenant CTI backend for Asterisk.\n\nUsage: hookflash <command> [flags]\n\nCommands:\n", version)
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nConfiguration (environment variables; each has a mirroring flag):")
	config.PrintTable(w)
	fmt.Fprintln(w, "\nRun 'hookflash <command> --help' for a command's flags.")
}

// parseConfig parses the shared configuration flags of serve and demo.
func parseConfig(name string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (*config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("hookflash "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	build := config.Register(fs, os.Getenv)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hookflash %s [flags]\n\nEvery setting is an environment variable with a mirroring flag:\n", name)
		config.PrintTable(stderr)
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return nil, nil, errUsage
	}
	cfg, err := build()
	if err != nil {
		return nil, nil, err
	}
	return cfg, fs, nil
}
