package main

import (
	"context"
	"herald/internal/app"
	"sync"
	"testing"

	"herald/internal/db"
	"herald/internal/testenv"
)

// Web and worker replicas start together on a new database; each runs the
// migration, and none may fail because another is creating the same tables.
func TestMigrationsRunConcurrentlyOnANewDatabase(t *testing.T) {
	url := testenv.DatabaseURL(t)
	const processes = 4
	var wg sync.WaitGroup
	errs := make([]error, processes)
	for i := range processes {
		g, err := db.Open(context.Background(), url, testenv.Logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if sqlDB, err := g.DB(); err == nil {
				sqlDB.Close()
			}
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = app.Migrate(g)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migration %d: %v", i, err)
		}
	}
	// And a later start finds everything in place.
	g, err := db.Open(context.Background(), url, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if sqlDB, err := g.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	if err := app.Migrate(g); err != nil {
		t.Fatalf("migration after the others: %v", err)
	}
	for _, table := range []string{"contacts", "events", "segments", "campaigns", "deliveries", "settings"} {
		if !g.Migrator().HasTable(table) {
			t.Errorf("table %s is missing", table)
		}
	}
}
