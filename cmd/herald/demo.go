package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"herald/internal/app"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"herald/contacts"
	"herald/internal/db"
	"herald/internal/demodata"
	"herald/segments"
)

func runDemo(ctx context.Context, args []string, out io.Writer) error {
	var n int
	cfg, err := parseConfig("demo", args, func(fs *flag.FlagSet) {
		fs.IntVar(&n, "contacts", 1000, "number of sample contacts")
	})
	if err != nil {
		return err
	}
	if n < 1 || n > 1000000 {
		return errors.New("--contacts must be from 1 to 1000000")
	}
	log := newLogger(cfg.LogLevel, os.Stderr)
	g, err := db.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer func() {
		if sqlDB, err := g.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	if err := app.Migrate(g); err != nil {
		return err
	}
	cs := contacts.NewStore(g, contacts.Options{})
	ss := segments.NewService(g, cs, nil, nil)
	if count, err := cs.Count(ctx); err != nil {
		return err
	} else if count > 0 {
		return fmt.Errorf("the database already has %d contacts; demo fills only an empty one", count)
	}
	start := time.Now()
	made, events, err := fillDemo(ctx, cs, n, time.Now().UTC(), rand.New(rand.NewPCG(42, 2026)))
	if err != nil {
		return err
	}
	segs, err := demoSegments(ctx, ss)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Added %d contacts and %d events in %s, and these segments:\n", made, events, time.Since(start).Round(time.Millisecond))
	for _, s := range segs {
		fmt.Fprintf(out, "  #%d %-40s %d members\n", s.ID, s.Name, s.MemberCount)
	}
	return nil
}

// fillDemo writes n contacts with a purchase and visit history each. It
// goes through the same store calls as the API, so roll-ups are real.
func fillDemo(ctx context.Context, cs *contacts.Store, n int, now time.Time, r *rand.Rand) (int, int, error) {
	if _, err := cs.CreateField(ctx, "favorite_category", contacts.FieldText); err != nil {
		return 0, 0, err
	}
	if _, err := cs.CreateField(ctx, "loyalty_points", contacts.FieldNumber); err != nil {
		return 0, 0, err
	}
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	made, events := 0, 0
	for start := 0; start < n; start += 500 {
		size := min(500, n-start)
		ins := make([]contacts.Input, size)
		for i := range ins {
			p := demodata.People[r.IntN(len(demodata.People))]
			first, last := pick(p.First), pick(p.Last)
			email := fmt.Sprintf("demo%06d@%s.example", start+i+1, strings.ToLower(p.Country))
			bday := now.AddDate(-18-r.IntN(60), 0, -r.IntN(365)).Format("2006-01-02")
			if r.IntN(8) == 0 {
				bday = ""
			}
			signup := now.AddDate(0, 0, -r.IntN(900)).Format(time.RFC3339)
			in := contacts.Input{
				Email: &email, FirstName: &first, LastName: &last, City: ptr(pick(p.Cities)), Country: &p.Country,
				Language: &p.Lang, Timezone: &p.TZ, Birthday: &bday, FamilyStatus: ptr(pick(demodata.Family)),
				Source: ptr(pick(demodata.Sources)), SignupAt: &signup,
				Attributes: map[string]any{"favorite_category": pick(demodata.Categories), "loyalty_points": float64(r.IntN(5000))},
			}
			if r.IntN(5) == 0 {
				in.FirstName = ptr("") // some contacts never gave a name
			}
			if r.IntN(4) == 0 {
				a := now.AddDate(-1-r.IntN(30), 0, -r.IntN(365)).Format("2006-01-02")
				in.Anniversary = &a
			}
			ins[i] = in
		}
		res, err := cs.UpsertMany(ctx, ins)
		if err != nil {
			return made, events, err
		}
		var evs []contacts.EventInput
		for _, rr := range res {
			if rr.Err != nil {
				return made, events, rr.Err
			}
			made++
			evs = append(evs, demoHistory(rr.Contact.ID, now, r)...)
		}
		for s := 0; s < len(evs); s += 5000 {
			res, err := cs.RecordEvents(ctx, evs[s:min(s+5000, len(evs))])
			if err != nil {
				return made, events, err
			}
			for _, er := range res {
				if er.Err != nil {
					return made, events, er.Err
				}
			}
			events += len(res)
		}
	}
	return made, events, nil
}

// demoHistory invents a believable shopper: some never buy, some buy once,
// loyal ones every few weeks; some have gone quiet for months.
func demoHistory(id int64, now time.Time, r *rand.Rand) []contacts.EventInput {
	var evs []contacts.EventInput
	kind := r.IntN(10)
	orders := 0
	switch {
	case kind < 3:
		orders = 0
	case kind < 6:
		orders = 1
	case kind < 9:
		orders = 2 + r.IntN(5)
	default:
		orders = 8 + r.IntN(15)
	}
	quietDays := 0
	if r.IntN(3) == 0 {
		quietDays = 60 + r.IntN(300) // churning: nothing recent
	}
	for i := 0; i < orders; i++ {
		at := now.Add(-time.Duration(quietDays+r.IntN(700)) * 24 * time.Hour).Add(-time.Duration(r.IntN(86400)) * time.Second)
		amount := int64(1500 + r.IntN(25000))
		evs = append(evs, contacts.EventInput{
			ContactID: id, Type: contacts.EventPurchase, OccurredAt: at, Amount: amount, Currency: "EUR",
			OrderID:    fmt.Sprintf("demo-%d-%d", id, i),
			Properties: map[string]any{"category": demodata.Categories[r.IntN(len(demodata.Categories))]},
		})
	}
	for i := 0; i < r.IntN(12); i++ {
		at := now.Add(-time.Duration(quietDays+r.IntN(400)) * 24 * time.Hour)
		evs = append(evs, contacts.EventInput{ContactID: id, Type: contacts.EventVisit, OccurredAt: at,
			Properties: map[string]any{"page": "/shop/" + demodata.Categories[r.IntN(len(demodata.Categories))]}})
	}
	return evs
}

func demoSegments(ctx context.Context, ss *segments.Service) ([]segments.Segment, error) {
	defs := []struct {
		name, desc string
		def        any
	}{
		{"Everyone", "All contacts", map[string]any{"all": []any{}}},
		{"Netherlands", "Country is NL", map[string]any{"field": "country", "op": "eq", "value": "NL"}},
		{"Birthdays this month", "Birthday in the current month", map[string]any{"field": "birthday", "op": "month_is", "value": "current"}},
		{"High value", "Spent over 800", map[string]any{"field": "total_spent", "op": "gt", "value": 800}},
		{"Churn risk", "Bought before, no purchase or visit in 90 days", map[string]any{"all": []any{
			map[string]any{"field": "orders_count", "op": "gte", "value": 1},
			map[string]any{"field": "last_purchase_at", "op": "not_within_last", "value": "90d"},
			map[string]any{"field": "last_visit_at", "op": "not_within_last", "value": "90d"},
		}}},
		{"Watercolour buyers this year", "Bought watercolours in the last 365 days", map[string]any{
			"field": "event.purchase", "op": "count_gte", "value": map[string]any{"n": 1, "within": "365d", "where": map[string]any{"category": "watercolor"}}}},
		{"New subscribers", "Signed up in the last 30 days", map[string]any{"field": "signup_at", "op": "within_last", "value": "30d"}},
	}
	var out []segments.Segment
	for _, d := range defs {
		raw, err := json.Marshal(d.def)
		if err != nil {
			return nil, err
		}
		name, desc := d.name, d.desc
		s, err := ss.Create(ctx, segments.Input{Name: &name, Description: &desc, Definition: raw})
		if err != nil {
			return nil, fmt.Errorf("demo segment %q: %w", d.name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
