package main

import (
	"flag"

	"herald/internal/app"
)

// parseConfig reads the environment, then the flags of a subcommand (extra
// adds a command's own), and validates the result.
func parseConfig(name string, args []string, extra func(*flag.FlagSet)) (*app.Config, error) {
	c := &app.Config{}
	fs := flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	if err := c.Bind(fs); err != nil {
		return nil, err
	}
	if name == "serve" {
		fs.BoolVar(&c.NoWorker, "no-worker", false, "run the web server only (workers run as `herald worker`)")
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.Args = fs.Args()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}
