package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchUsage lists the measurements herald-bench can take.
const benchUsage = `Usage: herald-bench [-herald BINARY] <what> [flags]

Measurements (each prints its figures; run "herald-bench <what> -h" for flags):
  send      a campaign through herald serve (and workers) via the API to an SMTP sink: messages/s, RSS, CPU per message of each process
  track     /t/c/ and /t/o/ against a bare 302 server in the same run; events stored vs requests answered
  segments  generated contacts and events: preview, refresh of every segment template, event to membership delay
`

// runBench dispatches `herald-bench <what>`. Each measurement lives in its
// own file (bench_*.go) and adds one case here.
func runBench(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, benchUsage)
		return nil
	}
	switch args[0] {
	// Each measurement adds its case here: case "x": return benchX(ctx, args[1:], out)
	case "send":
		return benchSend(ctx, args[1:], out)
	case "track":
		return benchTrack(ctx, args[1:], out)
	case "segments":
		return benchSegments(ctx, args[1:], out)
	}
	return fmt.Errorf("bench: unknown measurement %q\n\n%s", args[0], benchUsage)
}

// procStats are what a benchmark reports about the process it ran in.
type procStats struct {
	PeakRSSMiB float64 // VmHWM: the most resident memory the process ever had
	CPUSeconds float64 // user + system CPU time so far
}

func readProcStats() procStats {
	var st procStats
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		st.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					st.PeakRSSMiB = kb / 1024
				}
			}
		}
	}
	return st
}

// benchHeader prints what the figures were measured on.
func benchHeader(out io.Writer, what string) {
	host, _ := os.Hostname()
	fmt.Fprintf(out, "# herald-bench %s on %s: %d CPUs, %s, %s\n", what, host, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
}
