package contacts_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"herald/contacts"
	"herald/internal/testenv"
)

// BenchmarkRecordClicks writes batches of tracked clicks as the event
// consumer does: one click per contact, each with its own dedupe key. On
// PostgreSQL it also reports the server's CPU per event (its backend runs
// on this machine), which is most of what a click costs to store there.
func BenchmarkRecordClicks(b *testing.B) {
	ctx := context.Background()
	g := testenv.DB(b, contacts.Migrate)
	sqlDB, err := g.DB()
	if err != nil {
		b.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1) // one backend, whose CPU is read below
	s := contacts.NewStore(g, contacts.Options{})
	const batch = 500
	const nContacts = 5000
	ids := make([]int64, 0, nContacts)
	for start := 0; start < nContacts; start += 1000 {
		var ins []contacts.Input
		for i := start; i < start+1000; i++ {
			ins = append(ins, contacts.Input{Email: ptr(fmt.Sprintf("b%05d@example.com", i))})
		}
		res, err := s.UpsertMany(ctx, ins)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			ids = append(ids, r.Contact.ID)
		}
	}
	backendCPU := func() time.Duration { return 0 }
	if testenv.Postgres() {
		var pid int
		if err := g.Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
			b.Fatal(err)
		}
		backendCPU = func() time.Duration { return procCPU(b, pid) }
	}
	campaign := int64(7)
	link := int64(1)
	at := time.Now().Add(-time.Hour)
	b.ResetTimer()
	cpu0, self0 := backendCPU(), selfCPU(b)
	for n := 0; n < b.N; n++ {
		ins := make([]contacts.EventInput, batch)
		for k := range ins {
			ins[k] = contacts.EventInput{
				ContactID: ids[(n*batch+k)%len(ids)], Type: contacts.EventClick, OccurredAt: at.Add(time.Duration(n*batch+k) * time.Millisecond),
				CampaignID: &campaign, LinkID: &link, DedupeKey: fmt.Sprintf("hit:%d-0/%d", n, k),
			}
		}
		res, err := s.RecordEvents(ctx, ins)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil || r.Duplicate {
				b.Fatalf("event %d: %+v", r.Index, r)
			}
		}
	}
	b.StopTimer()
	events := float64(b.N * batch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64((selfCPU(b)-self0).Nanoseconds())/events, "cpu-ns/event")
	if testenv.Postgres() {
		b.ReportMetric(float64((backendCPU()-cpu0).Nanoseconds())/events, "server-ns/event")
	}
}

// selfCPU is the CPU time this process has used: the machine is shared,
// and CPU time says more than the time a batch took.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time a process has used, from /proc.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
}
