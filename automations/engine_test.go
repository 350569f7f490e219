package automations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/testenv"
	"herald/segments"
)

func (w *flowWorld) contact(t *testing.T, in contacts.Input) contacts.Contact {
	t.Helper()
	c, _, err := w.contacts.Upsert(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *flowWorld) event(t *testing.T, contactID int64, typ string, at time.Time) {
	t.Helper()
	res, err := w.contacts.RecordEvents(context.Background(), []contacts.EventInput{{ContactID: contactID, Type: typ, OccurredAt: at}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("record %s: %v %v", typ, err, res[0].Err)
	}
}

func (w *flowWorld) runOf(t *testing.T, flowID, contactID int64) automations.Run {
	t.Helper()
	var r automations.Run
	if err := w.db.Where("flow_id = ? AND contact_id = ?", flowID, contactID).Order("id DESC").Take(&r).Error; err != nil {
		t.Fatalf("run of contact %d in flow %d: %v", contactID, flowID, err)
	}
	return r
}

func (w *flowWorld) reload(t *testing.T, id int64) automations.Automation {
	t.Helper()
	f, err := w.autos.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestOneBrokenFlowDoesNotStopTheOthers: a flow whose message is gone,
// whose rules no longer compile or whose trigger cannot be read fails on
// its own: the other flows enrol and send in the same pass, and the
// failure is recorded on the flow and its runs, where the marketer sees it.
func TestOneBrokenFlowDoesNotStopTheOthers(t *testing.T) {
	tests := []struct {
		name string
		// broken is the flow that will fail; breakIt breaks it after
		// the first pass enrolled its contact.
		broken  string
		breakIt func(t *testing.T, w *flowWorld, f automations.Automation)
		// want is in the flow's recorded error.
		want string
		// runFails: the failure is the run's (not the enrolment's).
		runFails bool
	}{
		{
			name:   "message campaign gone",
			broken: `{"name": "Broken", "trigger": {"type": "event", "event": "tea"}, "steps": [{"type": "wait", "duration": "1h"}, ` + sendStep("broken") + `]}`,
			breakIt: func(t *testing.T, w *flowWorld, f automations.Automation) {
				// As an install from before campaign ids were checked
				// could have stored.
				steps := `[{"type": "wait", "duration": "1h"}, {"type": "send", "campaign_id": 999999}]`
				if err := w.db.Model(&automations.Automation{}).Where("id = ?", f.ID).Update("steps", db.JSONRaw(steps)).Error; err != nil {
					t.Fatal(err)
				}
			},
			want: "campaign 999999", runFails: true,
		},
		{
			name:   "exit rule no longer compiles",
			broken: `{"name": "Broken", "trigger": {"type": "event", "event": "tea"}, "exit": {"field": "attr.tier", "op": "eq", "value": "gold"}, "steps": [{"type": "wait", "duration": "1h"}, ` + sendStep("broken") + `]}`,
			breakIt: func(t *testing.T, w *flowWorld, _ automations.Automation) {
				fs, _ := w.contacts.ListFields(context.Background())
				for _, f := range fs {
					if err := w.contacts.DeleteField(context.Background(), f.ID); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: "exit rule no longer compiles: exit.field", runFails: true,
		},
		{
			name:   "exit_if rule no longer compiles",
			broken: `{"name": "Broken", "trigger": {"type": "event", "event": "tea"}, "steps": [{"type": "wait", "duration": "1h"}, {"type": "exit_if", "definition": {"field": "attr.tier", "op": "eq", "value": "gold"}}, ` + sendStep("broken") + `]}`,
			breakIt: func(t *testing.T, w *flowWorld, _ automations.Automation) {
				fs, _ := w.contacts.ListFields(context.Background())
				for _, f := range fs {
					if err := w.contacts.DeleteField(context.Background(), f.ID); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: "step 2's rule no longer compiles: steps[1].definition.field", runFails: true,
		},
		{
			name:   "trigger cannot be read",
			broken: `{"name": "Broken", "trigger": {"type": "event", "event": "tea"}, "steps": [{"type": "wait", "duration": "1h"}, ` + sendStep("broken") + `]}`,
			breakIt: func(t *testing.T, w *flowWorld, f automations.Automation) {
				if err := w.db.Model(&automations.Automation{}).Where("id = ?", f.ID).Update("trigger", db.JSONRaw(`{"type": 5}`)).Error; err != nil {
					t.Fatal(err)
				}
			},
			want: "trigger cannot be read",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFlowWorld(t, worldConfig{RetryAfter: 30 * time.Minute})
			ctx := context.Background()
			if _, err := w.contacts.CreateField(ctx, "tier", contacts.FieldText); err != nil {
				t.Fatal(err)
			}
			// The broken flow comes first, so its runs are met first.
			broken := w.flow(t, tc.broken)
			good := w.flow(t, `{"name": "Good", "trigger": {"type": "event", "event": "tea"}, "steps": [`+sendStep("good")+`]}`)
			t0 := time.Now().UTC().Truncate(time.Second).Add(-24 * time.Hour)
			first := w.contact(t, contacts.Input{Email: ptr("first@example.com")})
			w.event(t, first.ID, "tea", t0)
			if res := w.tick(t, t0); res.Enrolled != 2 || res.Failed != 0 {
				t.Fatalf("first pass: %+v", res)
			}
			tc.breakIt(t, w, broken)
			second := w.contact(t, contacts.Input{Email: ptr("second@example.com")})
			w.event(t, second.ID, "tea", t0)

			t1 := t0.Add(2 * time.Hour)
			res := w.tick(t, t1)
			if res.Failed == 0 {
				t.Fatalf("second pass reports no failure: %+v", res)
			}
			for _, email := range []string{"first@example.com", "second@example.com"} {
				var good []string
				for _, s := range w.mail.sent[email] {
					if s.subject == "good" {
						good = append(good, s.subject)
					}
				}
				if len(good) != 1 {
					t.Errorf("%s got %v from the good flow, want one message", email, w.mail.sent[email])
				}
			}
			for _, s := range w.mail.sent["first@example.com"] {
				if s.subject == "broken" {
					t.Errorf("the broken flow sent")
				}
			}
			f := w.reload(t, broken.ID)
			if !strings.Contains(f.LastError, tc.want) || f.LastErrorAt == nil {
				t.Errorf("broken flow's error = %q at %v, want it to mention %q", f.LastError, f.LastErrorAt, tc.want)
			}
			if g := w.reload(t, good.ID); g.LastError != "" {
				t.Errorf("good flow's error = %q", g.LastError)
			}
			if tc.runFails {
				run := w.runOf(t, broken.ID, first.ID)
				if run.Status != automations.RunActive || run.Hold != automations.HoldFailed || !run.NextAt.Equal(t1.Add(30*time.Minute)) ||
					!strings.Contains(run.Note, tc.want) {
					t.Errorf("failed run: %s hold %q next %s note %q", run.Status, run.Hold, run.NextAt, run.Note)
				}
				st, err := w.autos.Stats(ctx, broken.ID)
				if err != nil || st.Failing == 0 {
					t.Errorf("stats of the broken flow: failing %d (%v)", st.Failing, err)
				}
				// Not tried again before its retry time.
				if res := w.tick(t, t1.Add(time.Minute)); res.Failed != 0 {
					t.Errorf("a held run was tried again before its time: %+v", res)
				}
			}
		})
	}
}

// TestAFixedFlowClearsItsErrorAndSends: once the marketer fixes the flow,
// by editing it or by putting back what it needs, its held runs go on at
// their retry and the error goes away; until then the error stays, even
// in passes where the held run is not tried.
func TestAFixedFlowClearsItsErrorAndSends(t *testing.T) {
	tests := []struct {
		name string
		fix  func(t *testing.T, w *flowWorld, f automations.Automation)
	}{
		{"the rule is edited", func(t *testing.T, w *flowWorld, f automations.Automation) {
			if _, err := w.autos.Update(context.Background(), f.ID, automations.Input{Exit: json.RawMessage(`{"field": "city", "op": "eq", "value": "Nowhere"}`)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"the custom field is back", func(t *testing.T, w *flowWorld, _ automations.Automation) {
			if _, err := w.contacts.CreateField(context.Background(), "tier", contacts.FieldText); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFlowWorld(t, worldConfig{RetryAfter: 10 * time.Minute})
			ctx := context.Background()
			if _, err := w.contacts.CreateField(ctx, "tier", contacts.FieldText); err != nil {
				t.Fatal(err)
			}
			f := w.flow(t, `{"name": "Tiered", "trigger": {"type": "event", "event": "tea"}, "exit": {"field": "attr.tier", "op": "eq", "value": "gold"}, "steps": [`+sendStep("tea")+`]}`)
			fs, _ := w.contacts.ListFields(ctx)
			if err := w.contacts.DeleteField(ctx, fs[0].ID); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now().UTC().Add(-time.Hour)
			c := w.contact(t, contacts.Input{Email: ptr("fix@example.com")})
			w.event(t, c.ID, "tea", t0)
			if res := w.tick(t, t0); res.Failed != 1 || res.Sent != 0 {
				t.Fatalf("broken pass: %+v", res)
			}
			if res := w.tick(t, t0.Add(time.Minute)); res.Failed != 0 || res.Sent != 0 {
				t.Fatalf("pass before the retry: %+v", res)
			}
			if got := w.reload(t, f.ID); got.LastError == "" {
				t.Fatal("the error went away while the failed run waits for its retry")
			}
			tc.fix(t, w, f)
			if res := w.tick(t, t0.Add(10*time.Minute)); res.Sent != 1 || res.Failed != 0 {
				t.Fatalf("pass after the fix: %+v", res)
			}
			if got := w.reload(t, f.ID); got.LastError != "" {
				t.Fatalf("error after the fix: %q", got.LastError)
			}
			run := w.runOf(t, f.ID, c.ID)
			if run.Status != automations.RunDone || run.Hold != "" {
				t.Fatalf("run after the fix: %s hold %q", run.Status, run.Hold)
			}
		})
	}
}

// TestContactsLeaveAFlowAtOnce: a contact who meets the exit rule, buys
// during a win-back, unsubscribes, bounces or is deleted leaves when the
// change is made, not when their 7-day wait ends; the run says why.
func TestContactsLeaveAFlowAtOnce(t *testing.T) {
	t0 := time.Now().UTC().Add(-20 * 24 * time.Hour)
	tests := []struct {
		name    string
		flow    string
		prepare func(t *testing.T, w *flowWorld, c contacts.Contact) // before the first pass
		change  func(t *testing.T, w *flowWorld, c contacts.Contact)
		note    string
	}{
		{
			name: "meets the exit rule",
			flow: `{"name": "Nurture", "trigger": {"type": "event", "event": "guide"}, "exit": {"field": "city", "op": "eq", "value": "Paris"},
				"steps": [` + sendStep("one") + `, {"type": "wait", "duration": "7d"}, ` + sendStep("two") + `]}`,
			prepare: func(t *testing.T, w *flowWorld, c contacts.Contact) { w.event(t, c.ID, "guide", t0) },
			change: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				if _, err := w.contacts.Update(context.Background(), c.ID, contacts.Input{City: ptr("Paris")}); err != nil {
					t.Fatal(err)
				}
			},
			note: "met the exit rule",
		},
		{
			name: "buys after the flow started (exit rule with $flow_start)",
			flow: `{"name": "Abandoned", "trigger": {"type": "event", "event": "cart"}, "exit": {"field": "last_purchase_at", "op": "after", "value": "$flow_start"},
				"steps": [` + sendStep("one") + `, {"type": "wait", "duration": "7d"}, ` + sendStep("two") + `]}`,
			prepare: func(t *testing.T, w *flowWorld, c contacts.Contact) { w.event(t, c.ID, "cart", t0) },
			change: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				w.event(t, c.ID, contacts.EventPurchase, t0.Add(24*time.Hour))
			},
			note: "met the exit rule",
		},
		{
			name: "buys again during a win-back",
			flow: `{"name": "Win-back", "trigger": {"type": "inactivity", "min_days": 30},
				"steps": [` + sendStep("10 off") + `, {"type": "wait", "duration": "7d"}, ` + sendStep("20 off") + `]}`,
			prepare: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				w.event(t, c.ID, contacts.EventPurchase, t0.Add(-40*24*time.Hour))
			},
			change: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				w.event(t, c.ID, contacts.EventPurchase, t0.Add(24*time.Hour))
			},
			note: "bought again",
		},
		{
			name:    "unsubscribes",
			flow:    `{"name": "Nurture", "trigger": {"type": "event", "event": "guide"}, "steps": [` + sendStep("one") + `, {"type": "wait", "duration": "7d"}, ` + sendStep("two") + `]}`,
			prepare: func(t *testing.T, w *flowWorld, c contacts.Contact) { w.event(t, c.ID, "guide", t0) },
			change: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				w.event(t, c.ID, contacts.EventUnsubscribe, t0.Add(time.Hour))
			},
			note: "the contact is unsubscribed",
		},
		{
			name:    "bounces",
			flow:    `{"name": "Nurture", "trigger": {"type": "event", "event": "guide"}, "steps": [` + sendStep("one") + `, {"type": "wait", "duration": "7d"}, ` + sendStep("two") + `]}`,
			prepare: func(t *testing.T, w *flowWorld, c contacts.Contact) { w.event(t, c.ID, "guide", t0) },
			change: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				res, err := w.contacts.RecordEvents(context.Background(), []contacts.EventInput{{ContactID: c.ID, Type: contacts.EventBounce, OccurredAt: t0.Add(time.Hour), Properties: map[string]any{"hard": true}}})
				if err != nil || res[0].Err != nil {
					t.Fatalf("bounce: %v %v", err, res[0].Err)
				}
			},
			note: "the contact is bounced",
		},
		{
			name:    "is deleted",
			flow:    `{"name": "Nurture", "trigger": {"type": "event", "event": "guide"}, "steps": [` + sendStep("one") + `, {"type": "wait", "duration": "7d"}, ` + sendStep("two") + `]}`,
			prepare: func(t *testing.T, w *flowWorld, c contacts.Contact) { w.event(t, c.ID, "guide", t0) },
			change: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				if err := w.contacts.Delete(context.Background(), c.ID); err != nil {
					t.Fatal(err)
				}
			},
			note: "the contact was deleted",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFlowWorld(t, worldConfig{})
			f := w.flow(t, tc.flow)
			c := w.contact(t, contacts.Input{Email: ptr("leaver@example.com")})
			stay := w.contact(t, contacts.Input{Email: ptr("stayer@example.com")})
			tc.prepare(t, w, c)
			tc.prepare(t, w, stay)
			w.tick(t, t0)
			if run := w.runOf(t, f.ID, c.ID); run.Status != automations.RunActive || run.Step != 2 {
				t.Fatalf("after the first message the run is %s at step %d", run.Status, run.Step)
			}
			tc.change(t, w, c)
			run := w.runOf(t, f.ID, c.ID)
			if run.Status != automations.RunExited || run.Note != tc.note || run.FinishedAt == nil {
				t.Fatalf("right after the change the run is %s (%q), want exited (%q)", run.Status, run.Note, tc.note)
			}
			if other := w.runOf(t, f.ID, stay.ID); other.Status != automations.RunActive {
				t.Fatalf("the other contact's run is %s (%q)", other.Status, other.Note)
			}
			w.tick(t, t0.Add(8*24*time.Hour))
			if got := len(w.mail.sent["leaver@example.com"]); got != 1 {
				t.Fatalf("the contact who left got %d messages, want 1", got)
			}
			if got := len(w.mail.sent["stayer@example.com"]); got != 2 {
				t.Fatalf("the contact who stayed got %d messages, want 2", got)
			}
		})
	}
}

// countQueries counts the statements w's database runs from now on.
func (w *flowWorld) countQueries(t *testing.T) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	cb := w.db.Callback()
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register("test:count_query", count),
		cb.Row().Before("gorm:row").Register("test:count_row", count),
		cb.Raw().Before("gorm:raw").Register("test:count_raw", count),
		cb.Create().Before("gorm:create").Register("test:count_create", count),
		cb.Update().Before("gorm:update").Register("test:count_update", count),
		cb.Delete().Before("gorm:delete").Register("test:count_delete", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &n
}

// TestChangesEndRunsOnlyWhereAnExitRuleReadsThem: a change ends a run at
// once when its flow's exit rule reads what changed (a city for a rule on
// the city, a delivered message for an engagement rule); a change no exit
// rule reads, such as a delivered batch for flows without engagement
// rules, leaves the runs as they are without a single query.
func TestChangesEndRunsOnlyWhereAnExitRuleReadsThem(t *testing.T) {
	t0 := time.Now().UTC().Add(-20 * 24 * time.Hour)
	steps := `"steps": [` + sendStep("one") + `, {"type": "wait", "duration": "7d"}, ` + sendStep("two") + `]`
	tests := []struct {
		name string
		exit string
		// matchUnseen makes the contact match the exit rule without
		// telling the flows.
		matchUnseen func(t *testing.T, w *flowWorld, c contacts.Contact)
		// ignored are changes that must leave the run active at no cost;
		// then the exit rule becomes reExit, if given, and ends is the
		// change that ends the run.
		ignored [][]string
		reExit  string
		ends    []string
	}{
		{
			name: "rule on the city",
			exit: `{"field": "city", "op": "eq", "value": "Paris"}`,
			matchUnseen: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				if err := w.db.Model(&contacts.Contact{}).Where("id = ?", c.ID).UpdateColumn("city", "Paris").Error; err != nil {
					t.Fatal(err)
				}
			},
			ignored: [][]string{{"deliveries"}, {"country", "attributes"}, {"event.visit"}},
			ends:    []string{"city"},
		},
		{
			name: "engagement rule",
			// The first message was sent and not opened.
			exit:        `{"field": "opened", "op": "none_of_last", "value": 1}`,
			matchUnseen: func(*testing.T, *flowWorld, contacts.Contact) {},
			ignored:     [][]string{{"city"}, {"event.click"}},
			ends:        []string{"deliveries"},
		},
		{
			name: "rule changed after the flows were looked at",
			exit: `{"field": "city", "op": "eq", "value": "Paris"}`,
			matchUnseen: func(t *testing.T, w *flowWorld, c contacts.Contact) {
				if err := w.db.Model(&contacts.Contact{}).Where("id = ?", c.ID).UpdateColumn("country", "FR").Error; err != nil {
					t.Fatal(err)
				}
			},
			ignored: [][]string{{"country"}},
			reExit:  `{"field": "country", "op": "eq", "value": "FR"}`,
			ends:    []string{"country"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFlowWorld(t, worldConfig{})
			ctx := context.Background()
			f := w.flow(t, `{"name": "Nurture", "trigger": {"type": "event", "event": "guide"}, "exit": `+tc.exit+`, `+steps+`}`)
			c := w.contact(t, contacts.Input{Email: ptr("leaver@example.com")})
			w.event(t, c.ID, "guide", t0)
			w.tick(t, t0)
			if run := w.runOf(t, f.ID, c.ID); run.Status != automations.RunActive || run.Step != 2 {
				t.Fatalf("after the first message the run is %s at step %d (%q)", run.Status, run.Step, run.Note)
			}
			tc.matchUnseen(t, w, c)
			queries := w.countQueries(t)
			for _, fields := range tc.ignored {
				// The first look reads which rules read what.
				if err := w.autos.ContactsChanged(ctx, []int64{c.ID}, fields); err != nil {
					t.Fatal(err)
				}
				queries.Store(0)
				if err := w.autos.ContactsChanged(ctx, []int64{c.ID}, fields); err != nil {
					t.Fatal(err)
				}
				if n := queries.Load(); n != 0 {
					t.Errorf("a change of %v ran %d queries, want none", fields, n)
				}
				if run := w.runOf(t, f.ID, c.ID); run.Status != automations.RunActive {
					t.Fatalf("a change of %v ended the run (%q)", fields, run.Note)
				}
			}
			if tc.reExit != "" {
				if _, err := w.autos.Update(ctx, f.ID, automations.Input{Exit: json.RawMessage(tc.reExit)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.autos.ContactsChanged(ctx, []int64{c.ID}, tc.ends); err != nil {
				t.Fatal(err)
			}
			if run := w.runOf(t, f.ID, c.ID); run.Status != automations.RunExited || run.Note != "met the exit rule" {
				t.Fatalf("after a change of %v the run is %s (%q), want exited (met the exit rule)", tc.ends, run.Status, run.Note)
			}
		})
	}
}

// TestConcurrentPassesSendEachMessageOnce: several workers running a pass
// at the same moment enrol each contact once and write one delivery per
// step and contact.
func TestConcurrentPassesSendEachMessageOnce(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	ctx := context.Background()
	now := time.Date(2027, 5, 17, 12, 0, 0, 0, time.UTC)
	const n = 150
	var ins []contacts.Input
	for i := 0; i < n; i++ {
		ins = append(ins, contacts.Input{Email: ptr(fmt.Sprintf("c%03d@example.com", i)), Birthday: ptr("1990-05-17"), Timezone: ptr("UTC")})
	}
	if _, err := w.contacts.UpsertMany(ctx, ins); err != nil {
		t.Fatal(err)
	}
	f := w.flow(t, `{"name": "Birthday", "trigger": {"type": "date", "field": "birthday", "hour": 9},
		"steps": [`+sendStep("one")+`, {"type": "exit_if", "definition": {"field": "city", "op": "eq", "value": "Nowhere"}}, `+sendStep("two")+`]}`)
	const workers = 3
	results := make([]automations.TickResult, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i], errs[i] = w.autos.Tick(ctx, now)
		}(i)
	}
	close(start)
	wg.Wait()
	var enrolled, sent int
	for i := range results {
		if errs[i] != nil || results[i].Failed != 0 {
			t.Fatalf("pass %d: %+v, %v", i, results[i], errs[i])
		}
		enrolled += results[i].Enrolled
		sent += results[i].Sent
	}
	if enrolled != n || sent != 2*n {
		t.Fatalf("passes enrolled %d and sent %d, want %d and %d", enrolled, sent, n, 2*n)
	}
	w.now = now
	batches, ids := w.q.take()
	for _, b := range batches {
		if err := w.sender.SendBatch(ctx, b[0], ids[b], false); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range ins {
		if got := len(w.mail.sent[*in.Email]); got != 2 {
			t.Fatalf("%s got %d messages, want 2", *in.Email, got)
		}
	}
	var deliveries int64
	steps, _ := automations.StepsOf(f)
	w.db.Model(&campaigns.Delivery{}).Where("campaign_id IN ?", []int64{steps[0].CampaignID, steps[2].CampaignID}).Count(&deliveries)
	if deliveries != 2*n {
		t.Fatalf("%d deliveries, want %d", deliveries, 2*n)
	}
}

// TestTriggerCursorsCatchRowsCommittedOutOfOrder: on PostgreSQL a row
// with a lower id can become visible after a higher one (ids are taken at
// insert, rows are seen at commit); segment-entry and event triggers
// still enrol it, once.
func TestTriggerCursorsCatchRowsCommittedOutOfOrder(t *testing.T) {
	type setup struct {
		w    *flowWorld
		flow automations.Automation
		// add writes a trigger row with the given id (0: the next one)
		// and creation time, for the contact.
		add func(t *testing.T, g *gorm.DB, id, contactID int64, at time.Time)
	}
	kinds := []struct {
		name string
		make func(t *testing.T) setup
	}{
		{"event", func(t *testing.T) setup {
			w := newFlowWorld(t, worldConfig{CursorLag: time.Minute})
			f := w.flow(t, `{"name": "Tea", "trigger": {"type": "event", "event": "tea"}, "steps": [`+sendStep("tea")+`]}`)
			return setup{w, f, func(t *testing.T, g *gorm.DB, id, contactID int64, at time.Time) {
				t.Helper()
				if err := g.Create(&contacts.Event{ID: id, ContactID: contactID, Type: "tea", OccurredAt: at, Properties: db.JSONMap{}, CreatedAt: at}).Error; err != nil {
					t.Fatal(err)
				}
			}}
		}},
		{"segment entry", func(t *testing.T) setup {
			w := newFlowWorld(t, worldConfig{CursorLag: time.Minute})
			seg, err := w.segments.Create(context.Background(), segments.Input{Name: ptr("Parisians"), Definition: json.RawMessage(`{"field": "city", "op": "eq", "value": "Paris"}`)})
			if err != nil {
				t.Fatal(err)
			}
			f := w.flow(t, fmt.Sprintf(`{"name": "Welcome", "trigger": {"type": "segment_entered", "segment_id": %d}, "steps": [%s]}`, seg.ID, sendStep("bienvenue")))
			return setup{w, f, func(t *testing.T, g *gorm.DB, id, contactID int64, at time.Time) {
				t.Helper()
				if err := g.Create(&segments.Change{ID: id, SegmentID: seg.ID, ContactID: contactID, Kind: segments.Entered, ChangedAt: at}).Error; err != nil {
					t.Fatal(err)
				}
			}}
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := k.make(t)
			w := s.w
			now := time.Now().UTC()
			a := w.contact(t, contacts.Input{Email: ptr("a@example.com")})
			b := w.contact(t, contacts.Input{Email: ptr("b@example.com")})
			c := w.contact(t, contacts.Input{Email: ptr("c@example.com")})
			// b's row took id 1000 and committed; a's took 900 earlier
			// but commits only after the pass.
			s.add(t, w.db, 1000, b.ID, now)
			if res := w.tick(t, now); res.Enrolled != 1 {
				t.Fatalf("first pass enrolled %d, want b", res.Enrolled)
			}
			s.add(t, w.db, 900, a.ID, now)
			if res := w.tick(t, now.Add(time.Second)); res.Enrolled != 1 {
				t.Fatalf("after the late commit a pass enrolled %d, want a", res.Enrolled)
			}
			if res := w.tick(t, now.Add(2*time.Second)); res.Enrolled != 0 {
				t.Fatalf("a third pass enrolled %d again", res.Enrolled)
			}
			for _, email := range []string{"a@example.com", "b@example.com"} {
				if len(w.mail.sent[email]) != 1 {
					t.Fatalf("%s got %d messages", email, len(w.mail.sent[email]))
				}
			}
			// The cursor moves past rows once they are older than the lag,
			// and not past newer ones.
			if f := w.reload(t, s.flow.ID); f.Cursor >= 900 {
				t.Fatalf("cursor moved to %d past rows newer than the lag", f.Cursor)
			}
			later := now.Add(2 * time.Minute)
			s.add(t, w.db, 1100, c.ID, later)
			w.tick(t, later)
			if f := w.reload(t, s.flow.ID); f.Cursor != 1000 {
				t.Fatalf("cursor at %d, want 1000 (the newest row older than the lag)", f.Cursor)
			}
			if len(w.mail.sent["c@example.com"]) != 1 {
				t.Fatalf("c got %d messages", len(w.mail.sent["c@example.com"]))
			}
		})
	}
	t.Run("concurrent transactions", func(t *testing.T) {
		// A real out-of-order commit needs two writers at once, which
		// SQLite serialises; there the rows above stand for it.
		w := newFlowWorld(t, worldConfig{})
		w.flow(t, `{"name": "Tea", "trigger": {"type": "event", "event": "tea"}, "steps": [`+sendStep("tea")+`]}`)
		a := w.contact(t, contacts.Input{Email: ptr("a@example.com")})
		b := w.contact(t, contacts.Input{Email: ptr("b@example.com")})
		now := time.Now().UTC()
		if !testenv.Postgres() {
			w.event(t, a.ID, "tea", now)
			w.event(t, b.ID, "tea", now)
			w.tick(t, now)
		} else {
			tx := w.db.Begin()
			if err := tx.Create(&contacts.Event{ContactID: a.ID, Type: "tea", OccurredAt: now, Properties: db.JSONMap{}}).Error; err != nil {
				t.Fatal(err)
			}
			w.event(t, b.ID, "tea", now) // a higher id, committed first
			w.tick(t, now)
			if err := tx.Commit().Error; err != nil {
				t.Fatal(err)
			}
			w.tick(t, now.Add(time.Second))
		}
		if len(w.mail.sent["a@example.com"]) != 1 || len(w.mail.sent["b@example.com"]) != 1 {
			t.Fatalf("sent %v", w.mail.sent)
		}
	})
}

// TestFrequencyCapDeferralIsVisible: a deferred run counts in the flow's
// stats while it waits, is listed with its reason, and keeps the reason
// after its message went out.
func TestFrequencyCapDeferralIsVisible(t *testing.T) {
	w := newFlowWorld(t, worldConfig{CapMessages: 1, CapWindow: 24 * time.Hour})
	ctx := context.Background()
	f := w.flow(t, `{"name": "Tea", "trigger": {"type": "event", "event": "tea"}, "steps": [`+sendStep("tea")+`]}`)
	c := w.contact(t, contacts.Input{Email: ptr("cap@example.com")})
	start := time.Now().UTC().Add(-48 * time.Hour)
	w.event(t, c.ID, "tea", start)
	w.event(t, c.ID, "tea", start)
	w.tick(t, start)
	st, err := w.autos.Stats(ctx, f.ID)
	if err != nil || st.Deferred != 1 || st.Active != 1 || st.Done != 1 {
		t.Fatalf("stats while held: %+v %v", st, err)
	}
	held, _, err := w.autos.Runs(ctx, f.ID, automations.RunsDeferred, 0, 10)
	if err != nil || len(held) != 1 || !strings.Contains(held[0].Note, "frequency cap (1 messages per 24h0m0s)") || held[0].LastDeferral != held[0].Note {
		t.Fatalf("deferred runs: %+v %v", held, err)
	}
	w.tick(t, start.Add(24*time.Hour))
	if got := len(w.mail.sent["cap@example.com"]); got != 2 {
		t.Fatalf("sent %d, want 2 once the window passed", got)
	}
	st, _ = w.autos.Stats(ctx, f.ID)
	if st.Deferred != 0 || st.Done != 2 {
		t.Fatalf("stats after: %+v", st)
	}
	run, _, _ := w.autos.Runs(ctx, f.ID, "", 0, 10)
	if len(run) != 2 || run[0].ID != held[0].ID || run[0].Hold != "" || !strings.Contains(run[0].LastDeferral, "frequency cap") {
		t.Fatalf("runs after the send: %+v", run)
	}
}

// TestCapHoldsCountCampaignsAndFlows: the cap counts every queued or sent
// message of the window, whichever campaign or flow it came from, and
// gives the time the oldest counted one leaves the window.
func TestCapHoldsCountCampaignsAndFlows(t *testing.T) {
	w := newFlowWorld(t, worldConfig{CapMessages: 2, CapWindow: 7 * 24 * time.Hour})
	ctx := context.Background()
	now := time.Date(2027, 3, 10, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	camp, err := w.svc.Create(ctx, campaigns.Input{Name: ptr("News"), Subject: ptr("News"), HTMLBody: ptr("<p>x</p>"), FromEmail: ptr("a@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	type msg struct {
		ago    time.Duration
		status campaigns.DeliveryStatus
	}
	tests := []struct {
		name string
		msgs []msg
		next time.Duration // after now; 0: not held
	}{
		{"none", nil, 0},
		{"one in the window", []msg{{day, campaigns.DeliverySent}}, 0},
		{"two in the window", []msg{{day, campaigns.DeliverySent}, {3 * day, campaigns.DeliveryQueued}}, 4 * day},
		{"three in the window", []msg{{day, campaigns.DeliverySent}, {2 * day, campaigns.DeliverySending}, {6 * day, campaigns.DeliverySent}}, 5 * day},
		{"one out of the window", []msg{{day, campaigns.DeliverySent}, {8 * day, campaigns.DeliverySent}}, 0},
		{"failed and skipped do not count", []msg{{day, campaigns.DeliveryFailed}, {day, campaigns.DeliverySkipped}, {2 * day, campaigns.DeliverySent}}, 0},
	}
	var ids []int64
	want := map[int64]time.Duration{}
	for i, tc := range tests {
		c := w.contact(t, contacts.Input{Email: ptr(fmt.Sprintf("c%d@example.com", i))})
		ids = append(ids, c.ID)
		want[c.ID] = tc.next
		for j, m := range tc.msgs {
			if err := w.db.Create(&campaigns.Delivery{CampaignID: camp.ID, ContactID: c.ID, Occurrence: fmt.Sprint(j), Status: m.status, Batch: 1, CreatedAt: now.Add(-m.ago)}).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	holds, err := w.svc.CapHolds(ctx, ids, now)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		h, held := holds[ids[i]]
		switch {
		case tc.next == 0 && held:
			t.Errorf("%s: held until %s", tc.name, h.Next)
		case tc.next != 0 && (!held || !h.Next.Equal(now.Add(tc.next)) || !strings.Contains(h.Reason, "frequency cap")):
			t.Errorf("%s: hold %+v (held %v), want until %s", tc.name, h, held, now.Add(tc.next))
		}
	}
}

// TestFlowStorageErrorsNameThePackage: database errors of deleting a flow
// and of storing a step's links come back wrapped, with the package
// prefix the edge logs.
func TestFlowStorageErrorsNameThePackage(t *testing.T) {
	tests := []struct {
		name  string
		table any
		act   func(w *flowWorld, f automations.Automation) error
		want  string
	}{
		{"delete flow", &automations.Run{}, func(w *flowWorld, f automations.Automation) error {
			if _, err := w.autos.Disable(context.Background(), f.ID); err != nil {
				return err
			}
			return w.autos.Delete(context.Background(), f.ID)
		}, "automations: delete flow"},
		{"store links", &campaigns.Link{}, func(w *flowWorld, f automations.Automation) error {
			_, err := w.autos.Update(context.Background(), f.ID, automations.Input{Steps: json.RawMessage(`[` + sendStep("new") + `]`)})
			return err
		}, "campaigns: links of flow step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFlowWorld(t, worldConfig{})
			f := w.flow(t, `{"name": "Tea", "trigger": {"type": "event", "event": "tea"}, "steps": [`+sendStep("tea")+`]}`)
			if err := w.db.Migrator().DropTable(tc.table); err != nil {
				t.Fatal(err)
			}
			if err := tc.act(w, f); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
