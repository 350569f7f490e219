//go:build heraldtest

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"herald/internal/app"
)

// internalTuning returns the app options the HERALD_TEST_* variables ask
// for; with none set, the zero options (production defaults).
func internalTuning() (app.Options, error) {
	var o app.Options
	dur := func(name string) (time.Duration, error) {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("herald: %s %q: give a positive Go duration such as 200ms", name, v)
		}
		return d, nil
	}
	retry, err := dur(envTestRetryDelay)
	if err != nil {
		return o, err
	}
	if retry > 0 {
		o.WorkerConfig.RetryDelay = func(int) time.Duration { return retry }
	}
	if o.WorkerConfig.SweepEvery, err = dur(envTestSweepEvery); err != nil {
		return o, err
	}
	if o.WorkerConfig.StaleAfter, err = dur(envTestStaleAfter); err != nil {
		return o, err
	}
	if v := strings.TrimSpace(os.Getenv(envTestClaimSize)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("herald: %s %q: give a positive whole number", envTestClaimSize, v)
		}
		o.ClaimSize = n
	}
	return o, nil
}
