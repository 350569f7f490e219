package contacts_test

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/contacts"
)

func countEvents(t *testing.T, g *gorm.DB, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := g.Model(&contacts.Event{})
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecordEventsByContactIDAndByEmail(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	a := mustUpsert(t, s, contacts.Input{Email: ptr("a@example.com")})
	campaign := int64(7)
	res, err := s.RecordEvents(ctx, []contacts.EventInput{
		{ContactID: a.ID, Type: contacts.EventVisit, OccurredAt: day, Properties: map[string]any{"page": "/shop"}},
		{Email: "  A@Example.COM ", Type: contacts.EventOpen, OccurredAt: day.Add(time.Hour), CampaignID: &campaign},
		{Email: "a@example.com", Type: "trial.started", OccurredAt: day.Add(2 * time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.ContactID != a.ID || r.EventID == 0 || r.Duplicate {
			t.Errorf("item %d: %+v", i, r)
		}
	}
	evs, err := s.Events(ctx, a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if want := []string{"trial.started", contacts.EventOpen, contacts.EventVisit}; !reflect.DeepEqual(types, want) {
		t.Fatalf("events newest first = %v, want %v", types, want)
	}
	if evs[0].ID != res[2].EventID || evs[1].ID != res[1].EventID || evs[2].ID != res[0].EventID {
		t.Errorf("answered event ids %d %d %d do not match the stored ones", res[0].EventID, res[1].EventID, res[2].EventID)
	}
	if evs[1].CampaignID == nil || *evs[1].CampaignID != campaign || !evs[1].OccurredAt.Equal(day.Add(time.Hour)) {
		t.Errorf("open stored as %+v", evs[1])
	}
	if evs[2].Properties["page"] != "/shop" {
		t.Errorf("visit properties = %v", evs[2].Properties)
	}
}

func TestRecordEventsForUnknownEmails(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		createUnknown bool
	}{{"rejected by default", false}, {"created with CreateUnknown", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, g := newStore(t, contacts.Options{CreateUnknown: tc.createUnknown})
			res, err := s.RecordEvents(ctx, []contacts.EventInput{
				{Email: "Stranger@Example.com", Type: contacts.EventVisit, OccurredAt: day},
				{Email: "stranger@example.com", Type: contacts.EventVisit, OccurredAt: day.Add(time.Minute)},
				{Email: "not an email", Type: contacts.EventVisit},
			})
			if err != nil {
				t.Fatal(err)
			}
			wantInvalid(t, res[2].Err, "email")
			c, getErr := s.GetByEmail(ctx, "stranger@example.com")
			if !tc.createUnknown {
				wantInvalid(t, res[0].Err, "email")
				wantInvalid(t, res[1].Err, "email")
				if getErr == nil {
					t.Error("an event created a contact without CreateUnknown")
				}
				if n := countEvents(t, g, ""); n != 0 {
					t.Errorf("%d events stored", n)
				}
				return
			}
			if getErr != nil {
				t.Fatalf("the contact was not created: %v", getErr)
			}
			for _, i := range []int{0, 1} {
				if res[i].Err != nil || res[i].ContactID != c.ID {
					t.Errorf("item %d: %+v, want contact %d", i, res[i], c.ID)
				}
			}
			if n, _ := s.Count(ctx); n != 1 {
				t.Errorf("%d contacts, want 1", n)
			}
			if n := countEvents(t, g, "contact_id = ?", c.ID); n != 2 {
				t.Errorf("%d events stored, want 2", n)
			}
			if !sameTimePtr(c.LastVisitAt, day.Add(time.Minute)) {
				t.Errorf("last_visit_at = %s", fmtTime(c.LastVisitAt))
			}
		})
	}
}

func TestRecordEventsReportsInvalidItemsAndStoresValidOnes(t *testing.T) {
	ctx := context.Background()
	s, g := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("ev@example.com")})
	future := time.Now().Add(48 * time.Hour)
	ins := []contacts.EventInput{
		{ContactID: c.ID, Type: contacts.EventVisit, OccurredAt: day},
		{Type: contacts.EventVisit},
		{ContactID: c.ID, Type: "Purchase!"},
		{ContactID: c.ID, Type: ""},
		{ContactID: c.ID, Type: strings.Repeat("a", 65)},
		{ContactID: c.ID, Type: contacts.EventPurchase, Amount: -1},
		{ContactID: c.ID, Type: contacts.EventPurchase, Amount: 100, Currency: "euro"},
		{ContactID: c.ID, Type: contacts.EventVisit, OccurredAt: future},
		{ContactID: c.ID + 1000, Type: contacts.EventVisit},
		{ContactID: c.ID, Type: contacts.EventVisit, Properties: map[string]any{"bad key": 1}},
		{Email: "nobody@example.com", Type: contacts.EventVisit},
		{ContactID: c.ID, Type: contacts.EventPurchase, Amount: 999, Currency: "eur", OccurredAt: day, OrderID: " A-1 "},
	}
	res, err := s.RecordEvents(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		index int
		path  string
	}{
		{1, "contact_id"}, {2, "type"}, {3, "type"}, {4, "type"}, {5, "amount"}, {6, "currency"},
		{7, "occurred_at"}, {8, "contact_id"}, {9, "properties.bad key"}, {10, "email"},
	} {
		if res[tc.index].Index != tc.index {
			t.Errorf("result %d has index %d", tc.index, res[tc.index].Index)
		}
		if res[tc.index].EventID != 0 {
			t.Errorf("refused item %d has event id %d", tc.index, res[tc.index].EventID)
		}
		wantInvalid(t, res[tc.index].Err, tc.path)
	}
	for _, i := range []int{0, 11} {
		if res[i].Err != nil || res[i].EventID == 0 {
			t.Errorf("item %d: %+v", i, res[i])
		}
	}
	if n := countEvents(t, g, ""); n != 2 {
		t.Errorf("%d events stored, want the 2 valid ones", n)
	}
	var p contacts.Event
	if err := g.Where("type = ?", contacts.EventPurchase).Take(&p).Error; err != nil {
		t.Fatal(err)
	}
	if p.Currency != "EUR" || p.OrderID != "A-1" || p.Amount != 999 {
		t.Errorf("purchase stored as %+v", p)
	}
}

func TestRecordEventsStoresAnOrderOnce(t *testing.T) {
	ctx := context.Background()
	s, g := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("buyer@example.com")})
	purchase := func(order string, amount int64) contacts.EventInput {
		return contacts.EventInput{ContactID: c.ID, Type: contacts.EventPurchase, OrderID: order, Amount: amount, OccurredAt: day}
	}

	res, err := s.RecordEvents(ctx, []contacts.EventInput{purchase("o-1", 1000), purchase("o-1", 1000), purchase("o-2", 500)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Duplicate || !res[1].Duplicate || res[2].Duplicate {
		t.Errorf("duplicates in one batch = %v %v %v, want false true false", res[0].Duplicate, res[1].Duplicate, res[2].Duplicate)
	}
	if res[1].Err != nil || res[1].ContactID != c.ID {
		t.Errorf("a duplicate is not an error: %+v", res[1])
	}

	res, err = s.RecordEvents(ctx, []contacts.EventInput{purchase("o-2", 500), purchase(" o-1 ", 1000), purchase("o-3", 250)})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || !res[1].Duplicate || res[2].Duplicate {
		t.Errorf("duplicates across calls = %v %v %v, want true true false", res[0].Duplicate, res[1].Duplicate, res[2].Duplicate)
	}
	if res[2].EventID == 0 {
		t.Error("the new order has no event id")
	}
	if n := countEvents(t, g, "type = ?", contacts.EventPurchase); n != 3 {
		t.Errorf("%d purchases stored, want 3", n)
	}
	got, _ := s.Get(ctx, c.ID)
	if got.OrdersCount != 3 || got.TotalSpent != 1750 {
		t.Errorf("orders %d total %d, want 3 and 1750", got.OrdersCount, got.TotalSpent)
	}

	// Purchases without an order id are not deduplicated; other events
	// use their own dedupe key.
	res, err = s.RecordEvents(ctx, []contacts.EventInput{
		purchase("", 100), purchase("", 100),
		{ContactID: c.ID, Type: contacts.EventVisit, DedupeKey: "visit-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := s.RecordEvents(ctx, []contacts.EventInput{{ContactID: c.ID, Type: contacts.EventVisit, DedupeKey: "visit-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Duplicate || res[1].Duplicate || res[2].Duplicate || !res2[0].Duplicate {
		t.Errorf("dedupe: %+v then %+v", res, res2)
	}
	if n := countEvents(t, g, "type = ?", contacts.EventVisit); n != 1 {
		t.Errorf("%d visits stored, want 1", n)
	}
}

func TestRecordEventsPurchaseRollups(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for _, tc := range []struct {
		name      string
		purchases []contacts.EventInput // for the contact, in calls of one
		wantCount int64
		wantSpent int64
		wantFirst time.Time
		wantLast  time.Time
		wantAvg   *float64
	}{
		{
			name:      "one purchase has no average",
			purchases: []contacts.EventInput{{Amount: 1999, OccurredAt: day}},
			wantCount: 1, wantSpent: 1999, wantFirst: day, wantLast: day,
		},
		{
			name: "three purchases out of order",
			purchases: []contacts.EventInput{
				{Amount: 2550, OccurredAt: day.AddDate(0, 0, 10), OrderID: "b"},
				{Amount: 1000, OccurredAt: day, OrderID: "a"},
				{Amount: 450, OccurredAt: day.AddDate(0, 0, 30), OrderID: "c"},
				{Amount: 450, OccurredAt: day.AddDate(0, 0, 30), OrderID: "c"},
			},
			wantCount: 3, wantSpent: 4000, wantFirst: day, wantLast: day.AddDate(0, 0, 30), wantAvg: ptr(15.0),
		},
		{
			name: "half days",
			purchases: []contacts.EventInput{
				{Amount: 1, OccurredAt: day},
				{Amount: 1, OccurredAt: day.Add(36 * time.Hour)},
			},
			wantCount: 2, wantSpent: 2, wantFirst: day, wantLast: day.Add(36 * time.Hour), wantAvg: ptr(1.5),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustUpsert(t, s, contacts.Input{Email: ptr(strings.ReplaceAll(tc.name, " ", ".") + "@example.com")})
			for _, p := range tc.purchases {
				p.ContactID = c.ID
				p.Type = contacts.EventPurchase
				if p.OrderID != "" {
					p.OrderID = c.Email + p.OrderID
				}
				if _, err := s.RecordEvents(ctx, []contacts.EventInput{p}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OrdersCount != tc.wantCount || got.TotalSpent != tc.wantSpent {
				t.Errorf("orders_count %d total_spent %d, want %d and %d", got.OrdersCount, got.TotalSpent, tc.wantCount, tc.wantSpent)
			}
			if !sameTimePtr(got.FirstPurchaseAt, tc.wantFirst) || !sameTimePtr(got.LastPurchaseAt, tc.wantLast) {
				t.Errorf("first %s last %s, want %s and %s", fmtTime(got.FirstPurchaseAt), fmtTime(got.LastPurchaseAt), tc.wantFirst, tc.wantLast)
			}
			switch {
			case tc.wantAvg == nil && got.AvgDaysBetweenPurchases != nil:
				t.Errorf("avg_days_between_purchases = %v, want none", *got.AvgDaysBetweenPurchases)
			case tc.wantAvg != nil && (got.AvgDaysBetweenPurchases == nil || *got.AvgDaysBetweenPurchases != *tc.wantAvg):
				t.Errorf("avg_days_between_purchases = %v, want %v", got.AvgDaysBetweenPurchases, *tc.wantAvg)
			}
		})
	}
}

func TestRecordEventsLastSeenTimesMoveForwardForPeopleOnly(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("seen@example.com")})
	t1, t2, t3 := day, day.Add(time.Hour), day.Add(2*time.Hour)
	type want struct{ open, click, visit *time.Time }
	for _, step := range []struct {
		name string
		evs  []contacts.EventInput
		want want
	}{
		{"a machine open sets nothing", []contacts.EventInput{{Type: contacts.EventOpen, OccurredAt: t2, Machine: true}, {Type: contacts.EventClick, OccurredAt: t2, Machine: true}}, want{}},
		{"people's opens and clicks set them", []contacts.EventInput{{Type: contacts.EventOpen, OccurredAt: t2}, {Type: contacts.EventClick, OccurredAt: t2}, {Type: contacts.EventVisit, OccurredAt: t2}}, want{&t2, &t2, &t2}},
		{"older events do not move them back", []contacts.EventInput{{Type: contacts.EventOpen, OccurredAt: t1}, {Type: contacts.EventClick, OccurredAt: t1}, {Type: contacts.EventVisit, OccurredAt: t1}}, want{&t2, &t2, &t2}},
		{"later machine events do not move them", []contacts.EventInput{{Type: contacts.EventOpen, OccurredAt: t3, Machine: true}, {Type: contacts.EventClick, OccurredAt: t3, Machine: true}}, want{&t2, &t2, &t2}},
		{"the latest of a batch wins", []contacts.EventInput{{Type: contacts.EventOpen, OccurredAt: t3}, {Type: contacts.EventOpen, OccurredAt: t1}, {Type: contacts.EventVisit, OccurredAt: t3}}, want{&t3, &t2, &t3}},
	} {
		t.Run(step.name, func(t *testing.T) {
			for i := range step.evs {
				step.evs[i].ContactID = c.ID
			}
			res, err := s.RecordEvents(ctx, step.evs)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			got, _ := s.Get(ctx, c.ID)
			for _, f := range []struct {
				name      string
				got, want *time.Time
			}{{"last_open_at", got.LastOpenAt, step.want.open}, {"last_click_at", got.LastClickAt, step.want.click}, {"last_visit_at", got.LastVisitAt, step.want.visit}} {
				if (f.want == nil) != (f.got == nil) || (f.want != nil && !f.got.Equal(*f.want)) {
					t.Errorf("%s = %s, want %s", f.name, fmtTime(f.got), fmtTime(f.want))
				}
			}
		})
	}
}

func TestRecordEventsChangeStatus(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for _, tc := range []struct {
		name  string
		from  contacts.Status
		event contacts.EventInput
		want  contacts.Status
	}{
		{"unsubscribe", contacts.Subscribed, contacts.EventInput{Type: contacts.EventUnsubscribe}, contacts.Unsubscribed},
		{"complaint", contacts.Subscribed, contacts.EventInput{Type: contacts.EventComplaint}, contacts.Complained},
		{"hard bounce", contacts.Subscribed, contacts.EventInput{Type: contacts.EventBounce, Properties: map[string]any{"hard": true}}, contacts.Bounced},
		{"soft bounce", contacts.Subscribed, contacts.EventInput{Type: contacts.EventBounce, Properties: map[string]any{"hard": false}}, contacts.Subscribed},
		{"bounce without properties", contacts.Subscribed, contacts.EventInput{Type: contacts.EventBounce}, contacts.Subscribed},
		{"open", contacts.Subscribed, contacts.EventInput{Type: contacts.EventOpen}, contacts.Subscribed},
		{"complaint of an unsubscribed contact", contacts.Unsubscribed, contacts.EventInput{Type: contacts.EventComplaint}, contacts.Unsubscribed},
		{"unsubscribe of a bounced contact", contacts.Bounced, contacts.EventInput{Type: contacts.EventUnsubscribe}, contacts.Bounced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustUpsert(t, s, contacts.Input{Email: ptr(strings.ReplaceAll(tc.name, " ", "-") + "@example.com"), Status: ptr(string(tc.from))})
			ev := tc.event
			ev.ContactID = c.ID
			if _, err := s.RecordEvents(ctx, []contacts.EventInput{ev}); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Get(ctx, c.ID)
			if got.Status != tc.want {
				t.Errorf("status %s, want %s", got.Status, tc.want)
			}
			if tc.want != tc.from && got.StatusChangedAt == nil {
				t.Error("status_changed_at not set")
			}
		})
	}
}

func TestRecordEventsTellsWhatChanged(t *testing.T) {
	ctx := context.Background()
	type call struct {
		ids    []int64
		fields []string
	}
	var calls []call
	s, _ := newStore(t, contacts.Options{OnChange: func(_ context.Context, ids []int64, fields []string) {
		calls = append(calls, call{append([]int64(nil), ids...), append([]string(nil), fields...)})
	}})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("watched@example.com")})
	for _, tc := range []struct {
		name       string
		ev         contacts.EventInput
		wantFields []string // each must be among the reported fields
	}{
		{"purchase", contacts.EventInput{Type: contacts.EventPurchase, Amount: 10, OccurredAt: day},
			[]string{"event.purchase", "orders_count", "total_spent", "first_purchase_at", "last_purchase_at", "avg_days_between_purchases"}},
		{"open", contacts.EventInput{Type: contacts.EventOpen, OccurredAt: day}, []string{"event.email.open", "last_open_at"}},
		{"click", contacts.EventInput{Type: contacts.EventClick, OccurredAt: day}, []string{"event.email.click", "last_click_at"}},
		{"visit", contacts.EventInput{Type: contacts.EventVisit, OccurredAt: day}, []string{"event.visit", "last_visit_at"}},
		{"unsubscribe", contacts.EventInput{Type: contacts.EventUnsubscribe, OccurredAt: day}, []string{"event.email.unsubscribe", "status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = nil
			ev := tc.ev
			ev.ContactID = c.ID
			if _, err := s.RecordEvents(ctx, []contacts.EventInput{ev}); err != nil {
				t.Fatal(err)
			}
			if len(calls) != 1 || !reflect.DeepEqual(calls[0].ids, []int64{c.ID}) {
				t.Fatalf("OnChange calls = %+v, want one for contact %d", calls, c.ID)
			}
			got := append([]string(nil), calls[0].fields...)
			sort.Strings(got)
			for _, f := range tc.wantFields {
				if i := sort.SearchStrings(got, f); i == len(got) || got[i] != f {
					t.Errorf("fields %v lack %s", got, f)
				}
			}
		})
	}

	// A duplicate changes nothing and reports nothing.
	calls = nil
	dup := contacts.EventInput{ContactID: c.ID, Type: contacts.EventVisit, DedupeKey: "k"}
	s.RecordEvents(ctx, []contacts.EventInput{dup})
	calls = nil
	s.RecordEvents(ctx, []contacts.EventInput{dup})
	if len(calls) != 0 {
		t.Errorf("a duplicate reported changes: %+v", calls)
	}
}

func TestRecordEventsDoesNotChangeTheCallersInput(t *testing.T) {
	s, _ := newStore(t, contacts.Options{})
	mustUpsert(t, s, contacts.Input{Email: ptr("mine@example.com")})
	ins := []contacts.EventInput{{Email: " MINE@example.com", Type: contacts.EventVisit}}
	if _, err := s.RecordEvents(context.Background(), ins); err != nil {
		t.Fatal(err)
	}
	if ins[0].Email != " MINE@example.com" {
		t.Errorf("the caller's email became %q", ins[0].Email)
	}
}

func TestRecordEventsRefusesOversizedBatches(t *testing.T) {
	s, _ := newStore(t, contacts.Options{})
	_, err := s.RecordEvents(context.Background(), make([]contacts.EventInput, contacts.MaxBatch+1))
	wantInvalid(t, err, "")
}

func TestRecordEventsRefusesWhatTheDatabaseCannotHoldItemByItem(t *testing.T) {
	ctx := context.Background()
	s, g := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("limits@example.com")})
	nest := func(levels int) map[string]any {
		var v any = "deep"
		for range levels - 1 {
			v = map[string]any{"x": v}
		}
		return map[string]any{"a": v}
	}
	purchase := func(order string) contacts.EventInput {
		return contacts.EventInput{ContactID: c.ID, Type: contacts.EventPurchase, Amount: 100, OrderID: order, OccurredAt: day}
	}
	visit := func(props map[string]any) contacts.EventInput {
		return contacts.EventInput{ContactID: c.ID, Type: contacts.EventVisit, Properties: props, OccurredAt: day}
	}
	longest := strings.Repeat("é", contacts.MaxOrderIDLen) // characters, not bytes
	tests := []struct {
		name string
		in   contacts.EventInput
		path string // "" when the item is stored
	}{
		{"an order id of the longest length", purchase(longest), ""},
		{"an order id one character too long", purchase(longest + "x"), "order_id"},
		{"an order id with a NUL", purchase("A-\x00-1"), "order_id"},
		{"an order id that is not UTF-8", purchase("A-\xff"), "order_id"},
		{"a property with a NUL", visit(map[string]any{"page": "/a\x00b"}), "properties.page"},
		{"a nested property with a NUL", visit(map[string]any{"items": []any{"ok", map[string]any{"sku": "\x00"}}}), "properties.items[1].sku"},
		{"a nested key with a NUL", visit(map[string]any{"m": map[string]any{"k\x00": 1}}), "properties.m"},
		{"properties nested to the limit", visit(nest(contacts.MaxPropertyDepth)), ""},
		{"properties nested too deep", visit(nest(contacts.MaxPropertyDepth + 1)), "properties.a.x.x.x.x.x"},
		{"properties too large", visit(map[string]any{"blob": strings.Repeat("b", contacts.MaxPropertiesBytes)}), "properties"},
		{"a dedupe key too long", contacts.EventInput{ContactID: c.ID, Type: contacts.EventVisit, DedupeKey: strings.Repeat("k", 201)}, "dedupe_key"},
		{"a plain visit", visit(map[string]any{"page": "/shop"}), ""},
	}
	ins := make([]contacts.EventInput, len(tests))
	for i, tc := range tests {
		ins[i] = tc.in
	}
	res, err := s.RecordEvents(ctx, ins)
	if err != nil {
		t.Fatalf("one bad item failed the whole batch: %v", err)
	}
	stored := 0
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path == "" {
				if res[i].Err != nil || res[i].EventID == 0 {
					t.Fatalf("not stored: %+v", res[i])
				}
				return
			}
			wantInvalid(t, res[i].Err, tc.path)
		})
		if tc.path == "" {
			stored++
		}
	}
	if n := countEvents(t, g, ""); n != int64(stored) {
		t.Errorf("%d events stored, want %d", n, stored)
	}
	if n := countEvents(t, g, "order_id = ?", longest); n != 1 {
		t.Errorf("the longest order id was stored %d times, want once", n)
	}
}

func TestRecordEventsKeepAmountsInTheStoreCurrency(t *testing.T) {
	ctx := context.Background()
	s, g := newStore(t, contacts.Options{Currency: " jpy "})
	if s.Currency() != "JPY" {
		t.Fatalf("store currency %q, want JPY", s.Currency())
	}
	if d, _ := newStore(t, contacts.Options{}); d.Currency() != contacts.DefaultCurrency {
		t.Fatalf("default store currency %q, want %s", d.Currency(), contacts.DefaultCurrency)
	}
	c := mustUpsert(t, s, contacts.Input{Email: ptr("yen@example.com")})
	// A purchase recorded in another currency before the setting changed:
	// an order, but no rate converts it into total_spent.
	legacy := contacts.Event{ContactID: c.ID, Type: contacts.EventPurchase, Amount: 999, Currency: "USD", OccurredAt: day.Add(-time.Hour), Properties: map[string]any{}}
	if err := g.Create(&legacy).Error; err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		in           contacts.EventInput
		wantErr      bool
		wantCurrency string
	}{
		{"a purchase without a currency is in the store's", contacts.EventInput{Amount: 1500, OrderID: "y-1"}, false, "JPY"},
		{"a purchase in the store currency, any case", contacts.EventInput{Amount: 2500, Currency: "jpy", OrderID: "y-2"}, false, "JPY"},
		{"a purchase in euros is refused", contacts.EventInput{Amount: 1999, Currency: "EUR", OrderID: "e-1"}, true, ""},
		{"a purchase in dollars is refused", contacts.EventInput{Amount: 1999, Currency: "usd", OrderID: "u-1"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.ContactID, in.Type, in.OccurredAt = c.ID, contacts.EventPurchase, day
			res, err := s.RecordEvents(ctx, []contacts.EventInput{in})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr {
				wantInvalid(t, res[0].Err, "currency")
				if !strings.Contains(res[0].Err.Error(), "JPY") {
					t.Errorf("the error does not name the store currency: %v", res[0].Err)
				}
				return
			}
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			var ev contacts.Event
			if err := g.Take(&ev, res[0].EventID).Error; err != nil {
				t.Fatal(err)
			}
			if ev.Currency != tc.wantCurrency || ev.Amount != in.Amount {
				t.Errorf("stored %d %s, want %d %s", ev.Amount, ev.Currency, in.Amount, tc.wantCurrency)
			}
		})
	}
	got, err := s.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalSpent != 4000 || got.OrdersCount != 3 {
		t.Errorf("total_spent %d over %d orders, want 4000 yen over 3 (the dollar order adds nothing)", got.TotalSpent, got.OrdersCount)
	}
}

func TestRecordEventsCreatesContactsOnlyForValidItems(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{CreateUnknown: true})
	res, err := s.RecordEvents(ctx, []contacts.EventInput{
		{Email: "bad-type@example.com", Type: "Not A Type"},
		{Email: "bad-currency@example.com", Type: contacts.EventPurchase, Amount: 100, Currency: "XYZ"},
		{Email: "future@example.com", Type: contacts.EventVisit, OccurredAt: time.Now().Add(72 * time.Hour)},
		{Email: "nul@example.com", Type: contacts.EventVisit, Properties: map[string]any{"p": "\x00"}},
		{Email: "good@example.com", Type: contacts.EventVisit, OccurredAt: day},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, path := range []string{"type", "currency", "occurred_at", "properties.p"} {
		wantInvalid(t, res[i].Err, path)
	}
	if res[4].Err != nil || res[4].ContactID == 0 {
		t.Fatalf("the valid item: %+v", res[4])
	}
	list, _, err := s.List(ctx, contacts.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Email != "good@example.com" {
		var emails []string
		for _, c := range list {
			emails = append(emails, c.Email)
		}
		t.Errorf("contacts %v, want only good@example.com", emails)
	}
}

// Every field of an event is stored as given, whatever characters its text
// holds, and each answer carries the id of its own event.
func TestRecordEventsStoresEveryFieldAsGiven(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	a := mustUpsert(t, s, contacts.Input{Email: ptr("a@example.com")})
	b := mustUpsert(t, s, contacts.Input{Email: ptr("b@example.com")})
	campaign, link := int64(42), int64(3)
	odd := "quote \" backslash \\ tab \t line\nbreak é 雪 <&> \u2028 end"
	ins := []contacts.EventInput{
		{ContactID: b.ID, Type: contacts.EventPurchase, OccurredAt: day.Add(123456 * time.Microsecond), Amount: 1999, OrderID: odd,
			Properties: map[string]any{"note": odd, "n": 2.5, "tags": []any{"a", odd}, "nested": map[string]any{"ok": true}}},
		{ContactID: a.ID, Type: contacts.EventClick, OccurredAt: day.Add(time.Minute), CampaignID: &campaign, LinkID: &link, Machine: true, DedupeKey: "hit:" + odd},
		{ContactID: a.ID, Type: "trial.started", OccurredAt: day.Add(2 * time.Minute)},
	}
	res, err := s.RecordEvents(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]contacts.Event{}
	for _, id := range []int64{a.ID, b.ID} {
		evs, err := s.Events(ctx, id, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			stored[ev.ID] = ev
		}
	}
	if len(stored) != len(ins) {
		t.Fatalf("stored %d events, want %d", len(stored), len(ins))
	}
	for i, in := range ins {
		r := res[i]
		ev, ok := stored[r.EventID]
		if r.Err != nil || !ok {
			t.Fatalf("item %d: answer %+v, no stored event with its id", i, r)
		}
		if ev.ContactID != in.ContactID || ev.Type != in.Type || !ev.OccurredAt.Equal(in.OccurredAt) || ev.Machine != in.Machine ||
			ev.Amount != in.Amount || ev.OrderID != in.OrderID || !reflect.DeepEqual(ev.CampaignID, in.CampaignID) || !reflect.DeepEqual(ev.LinkID, in.LinkID) {
			t.Errorf("item %d stored as %+v, given %+v", i, ev, in)
		}
		wantKey := in.DedupeKey
		if in.Type == contacts.EventPurchase {
			wantKey = "order:" + odd
		}
		if (ev.DedupeKey == nil) != (wantKey == "") || ev.DedupeKey != nil && *ev.DedupeKey != wantKey {
			t.Errorf("item %d: dedupe key %v, want %q", i, ev.DedupeKey, wantKey)
		}
		if want := map[string]any(in.Properties); want == nil && len(ev.Properties) != 0 || want != nil && !reflect.DeepEqual(map[string]any(ev.Properties), want) {
			t.Errorf("item %d: properties %#v, want %#v", i, ev.Properties, want)
		}
		if ev.CreatedAt.IsZero() {
			t.Errorf("item %d has no creation time", i)
		}
	}
	if got := stored[res[0].EventID].Currency; got != s.Currency() {
		t.Errorf("purchase currency %q, want the store's %q", got, s.Currency())
	}
}
