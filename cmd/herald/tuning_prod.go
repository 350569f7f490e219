//go:build !heraldtest

package main

import "herald/internal/app"

// internalTuning is production's: the HERALD_TEST_* variables are read only
// by a binary built with the heraldtest tag.
func internalTuning() (app.Options, error) { return app.Options{}, nil }
