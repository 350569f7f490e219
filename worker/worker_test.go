package worker

import (
	"net"
	"testing"
)

func TestRecoveredSendTasksGetIDsOfTheirOwn(t *testing.T) {
	tests := []struct{ orphan, want string }{
		{"send:7:12", "send:7:12:r1"},
		{"send:7:12:r1", "send:7:12:r2"},
		{"send:7:12:r9", "send:7:12:r10"},
		{"send:7:120", "send:7:120:r1"}, // a batch number is not a copy count
		{"3f2a-uuid", "3f2a-uuid:r1"},
	}
	for _, tc := range tests {
		if got := recoveredID(tc.orphan); got != tc.want {
			t.Errorf("recoveredID(%q) = %q, want %q", tc.orphan, got, tc.want)
		}
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
