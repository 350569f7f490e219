package main

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

// childProc is a Herald process started by a test.
type childProc struct {
	cmd        *exec.Cmd
	done       chan struct{}
	peakRSSMiB float64
	stopped    atomic.Bool
}

// startChild runs bin with args and env added to this process's
// environment, and waits until it prints a line containing ready. Its
// standard error goes to stderr.
func startChild(ctx context.Context, bin string, args []string, env map[string]string, ready string, stderr io.Writer) (*childProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &childProc{cmd: cmd, done: make(chan struct{})}
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
		p.kill()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		p.kill()
		return nil, fmt.Errorf("%s %v did not start within a minute", bin, args)
	}
	if p.exited() {
		return nil, fmt.Errorf("%s %v stopped at start: %s", bin, args, cmd.ProcessState)
	}
	return p, nil
}

func (p *childProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to finish (SIGTERM) and waits for it.
func (p *childProc) stop() {
	if p.stopped.Swap(true) {
		<-p.done
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}

// kill ends the process at once (SIGKILL), as a crash would.
func (p *childProc) kill() {
	p.stopped.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}
