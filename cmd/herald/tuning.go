//go:build heraldtest

package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
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

// startTestHooks starts what the HERALD_TEST_* variables ask of a running
// process: with HERALD_TEST_CPU_PROFILE=FILE, SIGUSR1 starts a CPU profile
// and SIGUSR2 writes it to FILE (through FILE.tmp, so that FILE appears
// complete). The returned function stops them.
func startTestHooks(log *slog.Logger) func() {
	path := strings.TrimSpace(os.Getenv(envTestCPUProfile))
	if path == "" {
		return func() {}
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		var f *os.File
		stop := func() {
			if f == nil {
				return
			}
			pprof.StopCPUProfile()
			err := f.Close()
			if err == nil {
				err = os.Rename(f.Name(), path)
			}
			if err != nil {
				log.Error("herald: cpu profile", "err", err)
			}
			f = nil
		}
		for {
			select {
			case <-done:
				stop()
				return
			case s := <-sig:
				if s == syscall.SIGUSR2 {
					stop()
					continue
				}
				if f != nil {
					continue
				}
				var err error
				if f, err = os.Create(path + ".tmp"); err == nil {
					if err = pprof.StartCPUProfile(f); err != nil {
						f.Close()
						f = nil
					}
				}
				if err != nil {
					log.Error("herald: cpu profile", "err", err)
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}
