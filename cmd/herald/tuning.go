package main

import (
	"fmt"
	"herald/internal/app"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Internal tuning: knobs that Herald's own process tests and benchmarks
// turn, read from the environment by cmd/herald only. They are not part of
// the configuration users are offered (no flag, not in the README): the
// defaults are what production wants, and the tests need seconds where
// production wants minutes (how long a delivery may stay in flight before
// its worker is presumed dead, how long a greylisted batch waits).
const (
	envTestRetryDelay = "HERALD_TEST_RETRY_DELAY" // every task retry waits this long
	envTestSweepEvery = "HERALD_TEST_SWEEP_EVERY" // campaign sweep period
	envTestStaleAfter = "HERALD_TEST_STALE_AFTER" // in-flight age at which a delivery becomes unknown
	envTestClaimSize  = "HERALD_TEST_CLAIM_SIZE"  // deliveries claimed at once
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

// tuneGC lets the heap of a process that sends grow to five times what is
// live between collections instead of twice (GOGC=400 rather than 100),
// unless GOGC or GOMEMLIMIT is set. A worker's live heap is small (tens of
// MB: batches, templates, buffers) while it allocates per message, so the
// default collects very often: about a seventh of a worker's CPU at
// 100,000 messages. The cost is a peak RSS of about 90 MB instead of 55.
func tuneGC() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
	}
}
