package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The sink's own ceiling: how fast the SMTP server accepts messages of the
// campaign's size from the leanest client there is, on the same machine,
// so that Herald's rate can be read against what the server allows. The
// client holds ceilingConns connections (Herald's default worker
// concurrency), writes each message with the next envelope behind its
// final dot (RFC 2920 pipelining) and does nothing else: no database, no
// queue, no rendering.
const ceilingConns = 8

// messageBytes is the size of a message as Herald sends it for each
// --body (headers included), measured with smtpsink -save.
var messageBytes = map[string]int{"birthday": 8675, "1kb": 2543}

type ceilingResult struct {
	n        int
	span     time.Duration
	sinkCPU  float64 // seconds
	benchCPU float64 // seconds, the client (this process)
}

// runCeiling starts a sink of its own and sends it n messages of size
// bytes as fast as it takes them.
func runCeiling(ctx context.Context, sinkBin string, n, size int) (ceilingResult, error) {
	var res ceilingResult
	sink, err := startSmtpsink(sinkBin)
	if err != nil {
		return res, err
	}
	defer sink.stop()
	msg := ceilingMessage(size)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, ceilingConns)
	sink0, self0 := procCPUSeconds(sink.pid()), procCPUSeconds(os.Getpid())
	t0 := time.Now()
	for range ceilingConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ceilingConn(ctx, sink.addr, msg, &next, int64(n)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	res.span = time.Since(t0)
	res.sinkCPU = procCPUSeconds(sink.pid()) - sink0
	res.benchCPU = procCPUSeconds(os.Getpid()) - self0
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	r := sink.stop()
	if !r.ok || r.total != int64(n) {
		return res, fmt.Errorf("bench send: ceiling: the sink accepted %d of %d messages", r.total, n)
	}
	res.n = n
	return res, nil
}

// ceilingMessage is a MIME message of size bytes: headers like Herald's and
// a quoted-printable HTML body in 76-character lines.
func ceilingMessage(size int) []byte {
	var b strings.Builder
	b.WriteString("From: Herald Bench <news@bench.example>\r\nTo: <someone@bench.example>\r\n" +
		"Subject: Happy birthday, Alex!\r\nMessage-ID: <c1.d1@herald.local>\r\n" +
		"Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	line := strings.Repeat("Herald bench line ", 5)[:75] + "=\r\n"
	for b.Len()+len(line) < size-2 {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("x", max(0, size-2-b.Len())))
	b.WriteString("\r\n")
	return []byte(b.String())
}

// ceilingConn sends messages over one connection until next passes n:
// EHLO once, then for each message its envelope, DATA, the message and
// the final dot, with the next envelope written behind the dot.
func ceilingConn(ctx context.Context, addr string, msg []byte, next *atomic.Int64, n int64) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("bench send: ceiling: %w", err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	w := bufio.NewWriterSize(conn, 64<<10)
	expect := func(code string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("bench send: ceiling: %w", err)
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("bench send: ceiling: want %s, the sink said %q", code, strings.TrimSpace(line))
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	if err := expect("220"); err != nil {
		return err
	}
	w.WriteString("EHLO bench.example\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if err := expect("250"); err != nil {
		return err
	}
	envelope := "MAIL FROM:<news@bench.example>\r\nRCPT TO:<someone@bench.example>\r\nDATA\r\n"
	take := func() bool { return next.Add(1) <= n }
	if !take() {
		return nil
	}
	w.WriteString(envelope)
	for {
		if err := w.Flush(); err != nil {
			return err
		}
		for _, code := range []string{"250", "250", "354"} {
			if err := expect(code); err != nil {
				return err
			}
		}
		w.Write(msg)
		w.WriteString(".\r\n")
		more := take()
		if more {
			w.WriteString(envelope)
		} else {
			w.WriteString("QUIT\r\n")
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := expect("250"); err != nil {
			return err
		}
		if !more {
			return nil // the count is the sink's: QUIT's answer adds nothing
		}
	}
}

func printCeiling(out io.Writer, c ceilingResult, size int) {
	per := func(sec float64) string { return us(sec / float64(c.n) * 1e6) }
	fmt.Fprintf(out, "\nsink ceiling: %.0f messages/s (%d messages of %d bytes from a bare pipelining client over %d connections in %.3gs); CPU per message: sink %s, client %s\n",
		float64(c.n)/c.span.Seconds(), c.n, size, ceilingConns, c.span.Seconds(), per(c.sinkCPU), per(c.benchCPU))
}
