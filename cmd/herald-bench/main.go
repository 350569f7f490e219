// Command herald-bench measures Herald: a campaign sent through `herald
// serve` (and workers) to an SMTP sink, tracking hits under load, and
// segment refreshes over generated data. The herald processes it starts
// are a herald binary, given with -herald or built once at start with the
// heraldtest tag, so the production binary carries no benchmark code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"

	"herald/internal/app"
)

// Variables a heraldtest herald binary reads (cmd/herald/tuning_env.go).
const (
	envTestClaimSize  = "HERALD_TEST_CLAIM_SIZE"
	envTestCPUProfile = "HERALD_TEST_CPU_PROFILE"
)

// heraldBin is the herald binary the processes run; heraldBins lists
// every binary given with -herald A,B (send compares them side by side).
var (
	heraldBin  string
	heraldBins []string
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 1 && (args[0] == "-herald" || args[0] == "--herald") {
		for _, b := range strings.Split(args[1], ",") {
			if b = strings.TrimSpace(b); b != "" {
				heraldBins = append(heraldBins, b)
			}
		}
		args = args[2:]
		if len(heraldBins) > 0 {
			heraldBin = heraldBins[0]
		}
	}
	if len(args) == 0 {
		fmt.Fprint(out, benchUsage)
		return nil
	}
	if heraldBin == "" {
		dir, err := os.MkdirTemp("", "herald-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		heraldBin = filepath.Join(dir, "herald")
		build := exec.CommandContext(ctx, "go", "build", "-tags", "heraldtest", "-o", heraldBin, "herald/cmd/herald")
		if b, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build herald: %w\n%s", err, b)
		}
		heraldBins = []string{heraldBin}
	}
	return runBench(ctx, args, out)
}

// parseConfig reads the environment, then the bench's flags, as herald does.
func parseConfig(name string, args []string, extra func(*flag.FlagSet)) (*app.Config, error) {
	c := &app.Config{}
	fs := flag.NewFlagSet("herald-bench "+name, flag.ContinueOnError)
	if err := c.Bind(fs); err != nil {
		return nil, err
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

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
