package automations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/reports"
	"herald/segments"
	"herald/tracking"
)

// simQueue collects the batches a pass enqueues so the test can send them.
type simQueue struct {
	mu      sync.Mutex
	batches [][2]int64 // campaign, batch
	ids     map[[2]int64][]int64
}

func (q *simQueue) EnqueueLaunch(context.Context, int64, time.Time) error { return nil }

func (q *simQueue) EnqueueSend(_ context.Context, id int64, batch int, ids []int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ids == nil {
		q.ids = map[[2]int64][]int64{}
	}
	k := [2]int64{id, int64(batch)}
	q.batches = append(q.batches, k)
	q.ids[k] = ids
	return nil
}

func (q *simQueue) take() ([][2]int64, map[[2]int64][]int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, ids := q.batches, q.ids
	q.batches, q.ids = nil, nil
	return b, ids
}

// clockMailer records when (in simulated time) each recipient got what.
type clockMailer struct {
	now  *time.Time
	mu   sync.Mutex
	sent map[string][]sentAt
}

type sentAt struct {
	at      time.Time
	subject string
}

func (m *clockMailer) Send(_ context.Context, msg *campaigns.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent == nil {
		m.sent = map[string][]sentAt{}
	}
	m.sent[msg.To] = append(m.sent[msg.To], sentAt{*m.now, msg.Subject})
	return nil
}

type flowWorld struct {
	db       *gorm.DB
	contacts *contacts.Store
	segments *segments.Service
	svc      *campaigns.Service
	autos    *automations.Service
	q        *simQueue
	mail     *clockMailer
	sender   *campaigns.Sender
	now      time.Time
}

// worldConfig tunes a flowWorld: the automations' settings and the
// frequency cap of the campaigns service their messages go through.
type worldConfig struct {
	CapMessages int
	CapWindow   time.Duration
	Timezone    string
	CursorLag   time.Duration
	RetryAfter  time.Duration
}

func newFlowWorld(t *testing.T, cfg worldConfig) *flowWorld {
	t.Helper()
	g := testenv.DB(t, func(g *gorm.DB) error {
		for _, m := range []func(*gorm.DB) error{contacts.Migrate, segments.Migrate, campaigns.Migrate, automations.Migrate} {
			if err := m(g); err != nil {
				return err
			}
		}
		return nil
	})
	w := &flowWorld{db: g, q: &simQueue{}}
	w.mail = &clockMailer{now: &w.now}
	// Contact changes reach the flows at once, as the worker's
	// segments:evaluate task does a moment later.
	w.contacts = contacts.NewStore(g, contacts.Options{OnChange: func(ctx context.Context, ids []int64, fields []string) {
		if err := w.autos.ContactsChanged(ctx, ids, fields); err != nil {
			t.Errorf("flows told of changed contacts %v: %v", fields, err)
		}
	}})
	w.segments = segments.NewService(g, w.contacts, nil, nil)
	signer, _ := tracking.NewSigner([]byte("flow test secret, long enough!"))
	w.svc = campaigns.NewService(g, w.contacts, w.segments, w.q, signer, campaigns.Config{
		BaseURL: "https://h.example", Log: testenv.Logger(), ClaimSize: 50,
		Cap: campaigns.CapConfig{Messages: cfg.CapMessages, Window: cfg.CapWindow},
	})
	w.autos = automations.NewService(g, w.contacts, w.segments, w.svc, reports.New(g, w.svc, w.contacts, reports.Config{}), automations.Config{
		Timezone: cfg.Timezone, CursorLag: cfg.CursorLag, RetryAfter: cfg.RetryAfter, Log: testenv.Logger(),
	})
	w.sender = campaigns.NewSender(w.svc, w.mail, nil)
	return w
}

// tick runs one pass of the engine at the simulated time and sends what
// it enqueued, as workers would.
func (w *flowWorld) tick(t *testing.T, now time.Time) automations.TickResult {
	t.Helper()
	w.now = now
	res, err := w.autos.Tick(context.Background(), now)
	if err != nil {
		t.Fatalf("tick at %s: %v", now, err)
	}
	batches, ids := w.q.take()
	for _, b := range batches {
		if err := w.sender.SendBatch(context.Background(), b[0], ids[b], false); err != nil {
			t.Fatalf("send at %s: %v", now, err)
		}
	}
	return res
}

func (w *flowWorld) flow(t *testing.T, def string) automations.Automation {
	t.Helper()
	var in automations.Input
	if err := json.Unmarshal([]byte(def), &in); err != nil {
		t.Fatal(err)
	}
	f, err := w.autos.Create(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if f, err = w.autos.Enable(context.Background(), f.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

func sendStep(subject string) string {
	return fmt.Sprintf(`{"type": "send", "message": {"subject": %q, "html_body": "<p>Hi {{.FirstName | default \"there\"}}</p>", "from_email": "shop@example.com"}}`, subject)
}

// TestBirthdayFlowSendsOnceAYearOnTheLocalDayAndHour simulates a year, hour
// by hour, for 10,000 contacts with birthdays on every day of the year
// (29 February included) in time zones from UTC-11 to UTC+14, with
// half- and quarter-hour offsets, summer time in both hemispheres and
// unknown zones: each gets exactly one message, on their birthday in their
// own time zone (28 February in 2027 for 29 February), at 9 o'clock local.
func TestBirthdayFlowSendsOnceAYearOnTheLocalDayAndHour(t *testing.T) {
	w := newFlowWorld(t, worldConfig{Timezone: "Europe/Amsterdam"})
	ctx := context.Background()
	zones := []string{"", "UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "Asia/Kathmandu",
		"America/St_Johns", "Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Asia/Tokyo",
		"America/Los_Angeles", "Asia/Tehran", "Asia/Jerusalem", "Pacific/Chatham"}
	const n = 10000
	type want struct {
		zone       string
		month, day int
	}
	expect := map[string]want{}
	var ins []contacts.Input
	for i := 0; i < n; i++ {
		// Walk a leap year's days so 29 February gets its share.
		d := time.Date(1992, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (i*7)%366)
		zone := zones[i%len(zones)]
		email := fmt.Sprintf("p%05d@example.com", i)
		bday := fmt.Sprintf("%04d-%02d-%02d", 1960+i%40, d.Month(), d.Day())
		if i%40 == 0 && (d.Month() != 2 || d.Day() != 29) {
			bday = "--" + bday[5:] // some without a year
		}
		if d.Month() == 2 && d.Day() == 29 {
			bday = fmt.Sprintf("%04d-02-29", 1960+(i%10)*4) // a leap year
		}
		ins = append(ins, contacts.Input{Email: &email, Birthday: &bday, Timezone: &zone})
		m, dd := int(d.Month()), d.Day()
		if m == 2 && dd == 29 {
			dd = 28 // 2027 has no 29 February
		}
		if zone == "" {
			zone = "Europe/Amsterdam"
		}
		expect[email] = want{zone, m, dd}
	}
	for start := 0; start < n; start += 2000 {
		res, err := w.contacts.UpsertMany(ctx, ins[start:start+2000])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	w.flow(t, `{"name": "Birthday", "trigger": {"type": "date", "field": "birthday", "hour": 9},
		"steps": [`+sendStep("Happy birthday!")+`]}`)

	start := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	end := time.Date(2028, 1, 1, 14, 0, 0, 0, time.UTC)
	for now := start; now.Before(end); now = now.Add(time.Hour) {
		w.tick(t, now)
	}
	bad := 0
	for email, wnt := range expect {
		var in2027 []time.Time
		for _, s := range w.mail.sent[email] {
			local := s.at.In(mustZone(t, wnt.zone))
			if local.Year() == 2027 {
				in2027 = append(in2027, local)
			}
		}
		if len(in2027) != 1 {
			bad++
			if bad <= 5 {
				t.Errorf("%s (%s, %02d-%02d) got %d birthday messages in 2027: %v", email, wnt.zone, wnt.month, wnt.day, len(in2027), in2027)
			}
			continue
		}
		got := in2027[0]
		if int(got.Month()) != wnt.month || got.Day() != wnt.day || got.Hour() != 9 {
			bad++
			if bad <= 5 {
				t.Errorf("%s (%s) got its message at %s local, want %02d-%02d 09:xx", email, wnt.zone, got.Format("2006-01-02 15:04"), wnt.month, wnt.day)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d contacts did not get exactly one message on the right local day and hour", bad, n)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestWinBackTiersFireOnTheContactsOwnRhythmAndStopAfterAPurchase follows
// purchase histories day by day through a two-step win-back (a $10
// coupon, then $20 if no purchase in 7 days) and a lapsed tier.
func TestWinBackTiersFireOnTheContactsOwnRhythmAndStopAfterAPurchase(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	ctx := context.Background()
	day0 := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(d int) time.Time { return day0.AddDate(0, 0, d) }
	buy := func(email string, days ...int) {
		t.Helper()
		var evs []contacts.EventInput
		for _, d := range days {
			evs = append(evs, contacts.EventInput{Email: email, Type: contacts.EventPurchase, OccurredAt: at(d), Amount: 2500,
				OrderID: fmt.Sprintf("%s-%d", email, d)})
		}
		res, err := w.contacts.RecordEvents(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	for _, e := range []string{"monthly@example.com", "once@example.com", "comeback@example.com", "gone@example.com"} {
		email := e
		if _, _, err := w.contacts.Upsert(ctx, contacts.Input{Email: &email}); err != nil {
			t.Fatal(err)
		}
	}
	// Bought every 30 days until day 0: lapses at 1.5 x 30 = day 45.
	buy("monthly@example.com", -120, -90, -60, -30, 0)
	// One purchase on day 0: a one-time buyer lapses on day 60.
	buy("once@example.com", 0)
	// Every 20 days until day 0: lapses on day 30, buys again on day 33.
	buy("comeback@example.com", -40, -20, 0)
	// Bought every 10 days, long ago: lapses at day 15, later the lapsed tier.
	buy("gone@example.com", -20, -10, 0)

	w.flow(t, `{"name": "Win-back", "trigger": {"type": "inactivity", "factor": 1.5, "one_time_days": 60, "max_days": 180},
		"steps": [`+sendStep("10 off")+`, {"type": "wait", "duration": "7d"},
		{"type": "exit_if", "definition": {"field": "last_purchase_at", "op": "after", "value": "$flow_start"}},
		`+sendStep("20 off")+`]}`)
	w.flow(t, `{"name": "Lapsed", "trigger": {"type": "inactivity", "min_days": 180}, "steps": [`+sendStep("We miss you")+`]}`)

	for d := 1; d <= 200; d++ {
		if d == 33 {
			buy("comeback@example.com", 33)
		}
		w.tick(t, at(d))
	}
	day := func(s sentAt) int { return int(s.at.Sub(day0).Hours() / 24) }
	tests := []struct {
		email string
		want  []string // "day subject"
	}{
		{"monthly@example.com", []string{"45 10 off", "52 20 off", "180 We miss you"}},
		{"once@example.com", []string{"60 10 off", "67 20 off", "180 We miss you"}},
		// Lapsed on day 30 and came back on day 33: no second coupon. Its
		// rhythm is now (33 - -40) / 3 = 24.3 days, so the next lapse is
		// 1.5 x 24.3 = 36.5 days after day 33: a new win-back on day 70.
		{"comeback@example.com", []string{"30 10 off", "70 10 off", "77 20 off"}},
		{"gone@example.com", []string{"15 10 off", "22 20 off", "180 We miss you"}},
	}
	for _, tc := range tests {
		var got []string
		for _, s := range w.mail.sent[tc.email] {
			got = append(got, fmt.Sprintf("%d %s", day(s), s.subject))
		}
		if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
			t.Errorf("%s got %q, want %q", tc.email, got, tc.want)
		}
	}
}

// TestFrequencyCapDefersAndRecordsWhy: a capped message waits for the next
// allowed time, it is not dropped, and the run says why it waits.
func TestFrequencyCapDefersAndRecordsWhy(t *testing.T) {
	w := newFlowWorld(t, worldConfig{CapMessages: 2, CapWindow: 7 * 24 * time.Hour})
	ctx := context.Background()
	email, when := "cap@example.com", "2020-01-01"
	ct, _, err := w.contacts.Upsert(ctx, contacts.Input{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	f := w.flow(t, `{"name": "Tea", "trigger": {"type": "event", "event": "tea"}, "steps": [`+sendStep("tea")+`]}`)
	_ = when
	start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if _, err := w.contacts.RecordEvents(ctx, []contacts.EventInput{{ContactID: ct.ID, Type: "tea", OccurredAt: start}}); err != nil {
			t.Fatal(err)
		}
	}
	w.tick(t, start)
	if got := len(w.mail.sent[email]); got != 2 {
		t.Fatalf("sent %d at once, want 2 (the cap)", got)
	}
	var waiting automations.Run
	if err := w.db.Where("flow_id = ? AND status = ?", f.ID, automations.RunActive).Take(&waiting).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(waiting.Note, "frequency cap") || !waiting.NextAt.Equal(start.Add(7*24*time.Hour)) {
		t.Fatalf("waiting run: next at %s, note %q", waiting.NextAt, waiting.Note)
	}
	w.tick(t, start.Add(6*24*time.Hour))
	if got := len(w.mail.sent[email]); got != 2 {
		t.Fatalf("sent %d before the window passed", got)
	}
	w.tick(t, start.Add(7*24*time.Hour))
	if got := len(w.mail.sent[email]); got != 3 {
		t.Fatalf("sent %d after the window, want 3", got)
	}
}

// TestSegmentEntryStartsAFlowOncePerEntryAndUnsubscribingLeavesAtOnce.
func TestSegmentEntryStartsAFlowOncePerEntryAndUnsubscribingLeavesAtOnce(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	ctx := context.Background()
	name, def := "Guide", json.RawMessage(`{"field": "event.guide_download", "op": "count_gte", "value": {"n": 1, "within": "3650d"}}`)
	seg, err := w.segments.Create(ctx, segments.Input{Name: &name, Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	f := w.flow(t, fmt.Sprintf(`{"name": "Nurture", "trigger": {"type": "segment_entered", "segment_id": %d},
		"steps": [%s, {"type": "wait", "duration": "2d"}, %s]}`, seg.ID, sendStep("guide 1"), sendStep("guide 2")))
	var ids []int64
	for _, e := range []string{"a@example.com", "b@example.com"} {
		email := e
		ct, _, err := w.contacts.Upsert(ctx, contacts.Input{Email: &email})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ct.ID)
		if _, err := w.contacts.RecordEvents(ctx, []contacts.EventInput{{ContactID: ct.ID, Type: "guide_download"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.segments.ContactsChanged(ctx, ids, []string{"event.guide_download"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC()
	w.tick(t, t0)
	w.tick(t, t0) // a second worker's pass changes nothing
	if len(w.mail.sent["a@example.com"]) != 1 || len(w.mail.sent["b@example.com"]) != 1 {
		t.Fatalf("first step: %v", w.mail.sent)
	}
	// b unsubscribes while waiting: the run ends at once, not at step 3.
	if _, err := w.contacts.SetStatus(ctx, ids[1], contacts.Unsubscribed); err != nil {
		t.Fatal(err)
	}
	if err := w.autos.ContactsChanged(ctx, []int64{ids[1]}, []string{"status"}); err != nil {
		t.Fatal(err)
	}
	var ended automations.Run
	w.db.Where("flow_id = ? AND contact_id = ?", f.ID, ids[1]).Take(&ended)
	if ended.Status != automations.RunExited {
		t.Fatalf("b's run is %s", ended.Status)
	}
	w.tick(t, t0.Add(49*time.Hour))
	if len(w.mail.sent["a@example.com"]) != 2 || len(w.mail.sent["b@example.com"]) != 1 {
		t.Fatalf("second step: %v", w.mail.sent)
	}
	st, err := w.autos.Stats(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != 1 || st.Exited != 1 || st.Sent != 3 || len(st.Steps) != 3 || st.Steps[0].Stats.Sent != 2 || st.Steps[2].Stats.Sent != 1 {
		t.Fatalf("flow stats = %+v", st)
	}
}

func TestFlowsRefuseBadDefinitionsWithAPath(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	tests := []struct {
		name, def, path string
	}{
		{"no trigger", `{"name": "x", "steps": [` + sendStep("x") + `]}`, "trigger"},
		{"unknown trigger", `{"name": "x", "trigger": {"type": "moon"}, "steps": [` + sendStep("x") + `]}`, "trigger.type"},
		{"date of a text field", `{"name": "x", "trigger": {"type": "date", "field": "city"}, "steps": [` + sendStep("x") + `]}`, "trigger.field"},
		{"hour 24", `{"name": "x", "trigger": {"type": "date", "field": "birthday", "hour": 24}, "steps": [` + sendStep("x") + `]}`, "trigger.hour"},
		{"unknown segment", `{"name": "x", "trigger": {"type": "segment_entered", "segment_id": 99}, "steps": [` + sendStep("x") + `]}`, "trigger.segment_id"},
		{"no send", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [{"type": "wait", "duration": "1d"}]}`, "steps"},
		{"bad wait", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [` + sendStep("x") + `, {"type": "wait", "duration": "-1d"}]}`, "steps[1].duration"},
		{"template error in a message", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [{"type": "send", "message": {"subject": "{{.Nope}}", "html_body": "x", "from_email": "a@example.com"}}]}`, "steps[0].message.subject"},
		{"bad exit rule", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [` + sendStep("x") + `], "exit": {"field": "total_spent", "op": "gt", "value": "lots"}}`, "exit.value"},
		{"unknown step key", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [{"type": "send", "mesage": {}}]}`, "steps[0].mesage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in automations.Input
			if err := json.Unmarshal([]byte(tc.def), &in); err != nil {
				t.Fatal(err)
			}
			_, err := w.autos.Create(context.Background(), in)
			var ie *errs.InvalidError
			if !errors.As(err, &ie) || ie.Path != tc.path {
				t.Fatalf("got %v, want an error at %q", err, tc.path)
			}
		})
	}
}
