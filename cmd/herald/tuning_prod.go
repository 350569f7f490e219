//go:build !heraldtest

package main

import (
	"log/slog"

	"herald/internal/app"
)

// internalTuning is production's: the HERALD_TEST_* variables are read only
// by a binary built with the heraldtest tag.
func internalTuning() (app.Options, error) { return app.Options{}, nil }

// startTestHooks is production's: nothing.
func startTestHooks(*slog.Logger) func() { return func() {} }
