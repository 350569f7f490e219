package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCeilingMessageHasTheSizeOfHeraldsMessage(t *testing.T) {
	for body, size := range messageBytes {
		if got := len(ceilingMessage(size)); got != size {
			t.Errorf("--body %s: a ceiling message of %d bytes, want %d", body, got, size)
		}
	}
}

func TestCeilingClientDeliversEveryMessageOnceOverPipelinedConnections(t *testing.T) {
	cases := []struct {
		name         string
		conns, count int
	}{
		{"one connection, one message", 1, 1},
		{"more connections than messages", 8, 3},
		{"many messages per connection", 4, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink, err := startMemSink()
			if err != nil {
				t.Fatal(err)
			}
			defer sink.stop()
			msg := ceilingMessage(messageBytes["1kb"])
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, tc.conns)
			for range tc.conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- ceilingConn(context.Background(), sink.ln.Addr().String(), msg, &next, int64(tc.count))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := sink.stop().total; got != int64(tc.count) {
				t.Fatalf("the sink accepted %d messages, want %d", got, tc.count)
			}
		})
	}
}
