package main

import (
	"context"
	"errors"
	"fmt"
	"herald/internal/app"
	"io"
	"os"
	"time"

	"herald/contacts"
	"herald/internal/db"
	"herald/segments"
)

// runImport is `herald import FILE.csv`: it upserts the file's contacts,
// printing progress, then recomputes every segment so memberships include
// them (the running server does this per batch through its worker).
func runImport(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseConfig("import", args, nil)
	if err != nil {
		return err
	}
	files := cfg.Args
	if len(files) != 1 {
		return errors.New("usage: herald import [flags] FILE.csv (the first line names the columns; one must be email)")
	}
	f, err := os.Open(files[0])
	if err != nil {
		return err
	}
	defer f.Close()
	g, err := db.Open(ctx, cfg.DatabaseURL, newLogger(cfg.LogLevel, os.Stderr))
	if err != nil {
		return err
	}
	defer func() {
		if sqlDB, err := g.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	if err := app.Migrate(g); err != nil {
		return err
	}
	cs := contacts.NewStore(g, contacts.Options{})
	start := time.Now()
	last := time.Time{}
	res, err := cs.ImportCSV(ctx, f, func(r contacts.ImportResult) {
		if time.Since(last) > time.Second {
			last = time.Now()
			fmt.Fprintf(out, "… %d rows: %d created, %d updated, %d failed\n", r.Created+r.Updated+r.Failed, r.Created, r.Updated, r.Failed)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Imported %s in %s: %d rows, %d created, %d updated, %d failed.\n", files[0], time.Since(start).Round(time.Millisecond), res.Rows, res.Created, res.Updated, res.Failed)
	for _, e := range res.Errors {
		col := ""
		if e.Column != "" {
			col = " (" + e.Column + ")"
		}
		fmt.Fprintf(out, "  line %d%s: %s\n", e.Line, col, e.Message)
	}
	if res.Failed > len(res.Errors) {
		fmt.Fprintf(out, "  … and %d more\n", res.Failed-len(res.Errors))
	}
	if res.Incomplete != "" {
		fmt.Fprintf(out, "The file was not read to its end: %s.\n", res.Incomplete)
	}
	ss := segments.NewService(g, cs, nil, nil)
	ids, err := ss.IDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := ss.Refresh(ctx, id); err != nil {
			return err
		}
	}
	if len(ids) > 0 {
		fmt.Fprintf(out, "Recomputed %d segments.\n", len(ids))
	}
	return nil
}
