// Package embedredis runs an in-process Redis-compatible server (miniredis)
// for the zero-setup default and for tests, with a clock that moves: miniredis
// keys do not expire on their own, so asynq's leases, retries and unique locks
// would never time out without it.
package embedredis

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running embedded Redis.
type Server struct {
	mr   *miniredis.Miniredis
	stop chan struct{}
	done sync.WaitGroup
}

// Start listens on addr ("127.0.0.1:0" picks a free port).
func Start(addr string) (*Server, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("embedredis: listen on %s: %w", addr, err)
	}
	s := &Server{mr: mr, stop: make(chan struct{})}
	s.done.Add(1)
	go s.tick()
	return s, nil
}

// tick advances miniredis's TTL clock by the real elapsed time. ClockTTL
// would do the same per command but costs about 30x in throughput.
func (s *Server) tick() {
	defer s.done.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.mr.Addr() }

// URL is a redis:// URL for the server.
func (s *Server) URL() string { return "redis://" + s.mr.Addr() + "/0" }

// Close stops the server; its data is gone.
func (s *Server) Close() {
	close(s.stop)
	s.done.Wait()
	s.mr.Close()
}
