package segments_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/segments"
)

// TestTopPercentWithoutValuesMatchesNobody checks that a top_percent rule
// over a column nobody has a value in matches nobody (and its negation
// everybody), on both engines.
func TestTopPercentWithoutValuesMatchesNobody(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, townPeople)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	for _, tc := range []struct{ def, want string }{
		{`{"field":"total_spent","op":"top_percent","value":20}`, ""},
		{`{"field":"orders_count","op":"top_percent","value":99}`, ""},
		{`{"field":"last_purchase_at","op":"top_percent","value":50}`, ""},
		{`{"not":{"field":"last_click_at","op":"top_percent","value":1}}`, "amy ben cat dov eli"},
	} {
		n, cs, err := svc.Preview(ctx, []byte(tc.def), 10)
		if err != nil {
			t.Fatalf("Preview(%s): %v", tc.def, err)
		}
		if got := contactSet(cs); !got.equal(names(tc.want)) || n != int64(len(names(tc.want))) {
			t.Errorf("Preview(%s) = %d %v, want %v", tc.def, n, got, names(tc.want))
		}
	}
}

// TestTopPercentFollowsNewPurchases checks that the threshold is read at
// each evaluation: a purchase that makes a contact the biggest spender
// brings them in through the incremental path, and a full refresh then
// moves out the contact the new threshold leaves behind.
func TestTopPercentFollowsNewPurchases(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, nil, townPeople)
	var svc *segments.Service
	w.store = contacts.NewStore(w.g, contacts.Options{Now: clk.Now, OnChange: func(ctx context.Context, ids []int64, fields []string) {
		if err := svc.ContactsChanged(ctx, ids, fields); err != nil {
			t.Errorf("ContactsChanged: %v", err)
		}
	}})
	svc = segments.NewService(w.g, w.store, clk.Now, nil)
	buy := func(who string, amount int64) {
		w.record(t, ev{who: who, typ: contacts.EventPurchase, at: clk.Now().Add(-time.Hour), amount: amount})
	}
	buy("amy", 1000)
	buy("ben", 2000)
	buy("cat", 3000)
	buy("dov", 4000)
	// Top 25 % of four spenders is one: dov.
	seg := createSegment(t, svc, "top spenders", `{"field":"total_spent","op":"top_percent","value":25}`)
	checkSegment(t, svc, seg.ID, "dov")

	// eli outspends everyone. Five spenders: the top 25 % are two (dov
	// and eli); the incremental path evaluates eli alone.
	buy("eli", 9000)
	checkSegment(t, svc, seg.ID, "dov eli")

	// amy now outspends dov: amy enters; dov stays until a full refresh.
	buy("amy", 8000)
	checkSegment(t, svc, seg.ID, "amy dov eli")
	res, err := svc.Refresh(context.Background(), seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "Refresh", res, 0, 1, 2)
	checkSegment(t, svc, seg.ID, "amy eli")
}

// TestTopPercentBindsTheThreshold checks that the threshold reaches the SQL
// as an argument, that the resolver is asked once per column and percent
// of a compile, and that compiling top_percent without a resolver fails
// without being taken for bad input.
func TestTopPercentBindsTheThreshold(t *testing.T) {
	n, err := segments.Parse([]byte(`{"all":[{"field":"total_spent","op":"top_percent","value":20},{"field":"last_visit_at","op":"top_percent","value":20},{"not":{"field":"total_spent","op":"top_percent","value":20}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	visited := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, pg := range []bool{false, true} {
		asked := map[string]int{}
		c := &segments.Compiler{Postgres: pg, Now: now, Threshold: func(column string, percent int) (any, bool, error) {
			asked[column]++
			if percent != 20 {
				t.Errorf("asked for %d%%, want 20", percent)
			}
			if column == "total_spent" {
				return int64(987654), true, nil
			}
			return visited, true, nil
		}}
		expr, err := c.Compile(n)
		if err != nil {
			t.Fatalf("postgres=%v: %v", pg, err)
		}
		if strings.Contains(expr.SQL, "987654") {
			t.Errorf("postgres=%v: the threshold is spliced into %s", pg, expr.SQL)
		}
		var gotSpent, gotTime int
		for _, a := range expr.Args {
			switch a {
			case int64(987654):
				gotSpent++
			case visited:
				gotTime++
			}
		}
		if gotSpent != 2 || gotTime != 1 {
			t.Errorf("postgres=%v: args %v bind the thresholds %d and %d times, want 2 and 1", pg, expr.Args, gotSpent, gotTime)
		}
		if got := strings.Join(expr.Reads, " "); got != "last_visit_at total_spent" {
			t.Errorf("postgres=%v: reads %q", pg, got)
		}
		if asked["total_spent"] != 1 || asked["last_visit_at"] != 1 {
			t.Errorf("postgres=%v: thresholds asked %v, want each once", pg, asked)
		}
	}

	c := &segments.Compiler{Now: now}
	if _, err := c.Compile(n); err == nil {
		t.Error("Compile without Threshold succeeded")
	} else if _, bad := errs.AsInvalid(err); bad {
		t.Errorf("Compile without Threshold: %v is reported as bad input", err)
	}
}
