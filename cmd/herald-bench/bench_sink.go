package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// benchSink is where the messages go and how many it accepted.
type benchSink interface {
	count() (int64, bool)
	pid() int
	stop() sinkResult
}

type sinkResult struct {
	ok     bool
	total  int64
	lastAt time.Time
}

type noSink struct{}

func (noSink) count() (int64, bool) { return 0, false }
func (noSink) pid() int             { return 0 }
func (noSink) stop() sinkResult     { return sinkResult{} }

// memSink counts messages in this process: the fallback when no smtpsink
// is given. Its CPU is herald-bench's and is not reported.
type memSink struct {
	srv         *smtp.Server
	ln          net.Listener
	total, last atomic.Int64
	stopped     atomic.Bool
}

func startMemSink() (*memSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench send: sink: %w", err)
	}
	s := &memSink{ln: ln}
	s.srv = smtp.NewServer(memSinkBackend{s})
	s.srv.Domain = "sink.localhost"
	s.srv.MaxLineLength = 0
	go s.srv.Serve(ln)
	return s, nil
}

func (s *memSink) count() (int64, bool) { return s.total.Load(), true }
func (s *memSink) pid() int             { return 0 }
func (s *memSink) stop() sinkResult {
	if !s.stopped.Swap(true) {
		s.srv.Close()
	}
	return sinkResult{ok: true, total: s.total.Load(), lastAt: time.Unix(0, s.last.Load())}
}

type memSinkBackend struct{ s *memSink }

func (b memSinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return memSinkSession(b), nil }

type memSinkSession struct{ s *memSink }

func (memSinkSession) Reset()                               {}
func (memSinkSession) Logout() error                        { return nil }
func (memSinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (memSinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss memSinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	ss.s.total.Add(1)
	ss.s.last.Store(time.Now().UnixNano())
	return nil
}

// buildSmtpsink returns the smtpsink binary at path, building it first when
// path is its source directory (into dir).
func buildSmtpsink(ctx context.Context, path, dir string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("bench send: --sink: %w", err)
	}
	if !fi.IsDir() {
		return path, nil
	}
	bin := filepath.Join(dir, "smtpsink")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = path
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench send: build smtpsink in %s: %v\n%s", path, err, b)
	}
	return bin, nil
}

// smtpsink runs ../shared/tools/smtpsink as a separate process and reads
// its count from what it prints.
type smtpsink struct {
	addr    string
	cmd     *exec.Cmd
	total   atomic.Int64
	final   chan string
	stopped atomic.Bool
	result  sinkResult
}

func startSmtpsink(bin string) (*smtpsink, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &smtpsink{addr: addr, final: make(chan string, 1)}
	s.cmd = exec.Command(bin, "-addr", addr)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench send: %w", err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench send: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench send: start smtpsink: %w", err)
	}
	// It prints "smtpsink listening on ..." on stderr once it listens.
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "listening") {
				once = true
				close(listening)
			}
		}
		if !once {
			close(listening)
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "total=") {
				s.final <- line
				continue
			}
			if v, ok := field(line, "total"); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					s.total.Store(n)
				}
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		return nil, errors.New("bench send: smtpsink did not start listening")
	}
	return s, nil
}

func (s *smtpsink) count() (int64, bool) { return s.total.Load(), true }
func (s *smtpsink) pid() int             { return s.cmd.Process.Pid }

// stop sends SIGTERM and reads the final line: total=N first_at=...
// last_at=... avg_rate=... faults=N.
func (s *smtpsink) stop() sinkResult {
	if s.stopped.Swap(true) {
		return s.result
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case line := <-s.final:
		total, _ := field(line, "total")
		last, _ := field(line, "last_at")
		n, err := strconv.ParseInt(total, 10, 64)
		at, terr := time.Parse("2006-01-02T15:04:05.000Z07:00", last)
		if err == nil && (terr == nil || n == 0) {
			s.result = sinkResult{ok: true, total: n, lastAt: at}
		}
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
	}
	_ = s.cmd.Wait()
	return s.result
}

// field finds key=value among the space-separated words of line.
func field(line, key string) (string, bool) {
	for _, w := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(w, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procCPUSeconds is the user + system CPU time of a process, and of its
// children that it waited for (PostgreSQL's backends, once they exit).
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (utime is field 14 of the whole line).
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 15 {
		return 0
	}
	var ticks float64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / 100 // USER_HZ is 100 on Linux
}

// procPeakRSSMiB is a running process's VmHWM: the most resident memory it
// ever had.
func procPeakRSSMiB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// commandCPUSeconds sums procCPUSeconds over every process called name.
func commandCPUSeconds(name string) float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var sum float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		sum += procCPUSeconds(pid)
	}
	return sum
}
