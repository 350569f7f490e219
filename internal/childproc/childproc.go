// Package childproc runs Herald processes (a `herald worker`, say) for the
// benchmarks and the process tests: started with extra environment,
// waited for until they say they are ready, and stopped as a deploy does
// (SIGTERM) or killed as a crash does (SIGKILL).
package childproc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Proc is one running child process.
type Proc struct {
	Cmd        *exec.Cmd
	done       chan struct{}
	peakRSSMiB float64
	stopped    atomic.Bool
}

// Start runs bin with args and env added to this process's environment,
// and waits until it prints a line containing ready. Its standard error
// goes to stderr.
func Start(ctx context.Context, bin string, args []string, env map[string]string, ready string, stderr io.Writer) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("childproc: start %s: %w", bin, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("childproc: start %s: %w", bin, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), ready) {
				seen = true
				close(up)
			}
		}
		if !seen {
			close(up)
		}
		_ = cmd.Wait()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.peakRSSMiB = float64(ru.Maxrss) / 1024
		}
		close(p.done)
	}()
	select {
	case <-up:
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		p.Kill()
		return nil, fmt.Errorf("childproc: %s %v did not start within a minute", bin, args)
	}
	if p.Exited() {
		return nil, fmt.Errorf("childproc: %s %v stopped at start: %s", bin, args, cmd.ProcessState)
	}
	return p, nil
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited tells whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stopped tells whether the process was asked to stop or killed, so that
// its exit is not a failure.
func (p *Proc) Stopped() bool { return p.stopped.Load() }

// PeakRSSMiB is the process's peak resident memory, once it has exited.
func (p *Proc) PeakRSSMiB() float64 { return p.peakRSSMiB }

// Interrupt asks the process to finish (SIGTERM) without waiting for it.
func (p *Proc) Interrupt() error {
	p.stopped.Store(true)
	return p.Cmd.Process.Signal(syscall.SIGTERM)
}

// Stop asks the process to finish (SIGTERM) and waits for it, killing it
// after 30 seconds.
func (p *Proc) Stop() {
	if p.stopped.Swap(true) {
		<-p.done
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Kill()
	}
}

// Kill ends the process at once (SIGKILL), as a crash would.
func (p *Proc) Kill() {
	p.stopped.Store(true)
	_ = p.Cmd.Process.Kill()
	<-p.done
}
