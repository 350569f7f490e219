package web

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/testenv"
	"herald/segments"
	"herald/tracking"
)

// newEventsFixture is newFixture with the unknown-contact setting given.
func newEventsFixture(t *testing.T, createUnknown bool) *fixture {
	t.Helper()
	return newEventsFixtureWith(t, contacts.Options{CreateUnknown: createUnknown})
}

// newEventsFixtureWith is newFixture with the contact store's options given.
func newEventsFixtureWith(t *testing.T, opts contacts.Options) *fixture {
	t.Helper()
	g := testenv.DB(t, migrateAll)
	cs := contacts.NewStore(g, opts)
	ss := segments.NewService(g, cs, nil, nil)
	signer, _ := tracking.NewSigner([]byte("web test secret, long enough"))
	camps := campaigns.NewService(g, cs, ss, nopQueue{}, signer, campaigns.Config{BaseURL: "https://h.example", Log: testenv.Logger()})
	sum := sha256.Sum256([]byte(testKey))
	pw, _ := bcrypt.GenerateFromPassword([]byte("secret pw"), bcrypt.MinCost)
	srv, err := New(Deps{Contacts: cs, Segments: ss, Campaigns: camps, Signer: signer, Hits: &hits{}, Log: testenv.Logger()},
		Config{APIKeySHA256: sum[:], AdminEmail: "admin@example.com", AdminPasswordBcrypt: pw, SessionKey: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "https://h.example"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, h: srv.Handler(), signer: signer, contacts: cs, camps: camps}
}

type eventAnswer struct {
	ID        int64 `json:"id"`
	ContactID int64 `json:"contact_id"`
	Duplicate bool  `json:"duplicate"`
	Index     int   `json:"index"`
	Status    int   `json:"status"`
	Error     struct {
		Message string `json:"message"`
		Path    string `json:"path"`
	} `json:"error"`
}

// postEvents posts body to /api/events and decodes a single answer.
func (f *fixture) postEvents(t *testing.T, body string) (int, eventAnswer) {
	t.Helper()
	w := f.do("POST", "/api/events", body, map[string]string{"Authorization": "Bearer " + testKey})
	var a eventAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer %q: %v", w.Body, err)
	}
	return w.Code, a
}

func (f *fixture) contact(t *testing.T, email string) contacts.Contact {
	t.Helper()
	c, _, err := f.contacts.Upsert(context.Background(), contacts.Input{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) eventsOf(t *testing.T, id int64) []contacts.Event {
	t.Helper()
	evs, err := f.contacts.Events(context.Background(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestEventsAPIStoresEachKindOfEvent(t *testing.T) {
	f := newEventsFixture(t, false)
	ann := f.contact(t, "ann@example.com")
	for _, tc := range []struct {
		name     string
		body     string
		typ      string
		amount   int64 // minor units
		currency string
		orderID  string
		props    map[string]any
	}{
		{"a purchase in euros, by email", `{"email": "Ann@Example.com", "type": "purchase", "amount": 19.99, "currency": "eur", "order_id": "A-1"}`, "purchase", 1999, "EUR", "A-1", map[string]any{}},
		{"a purchase in the store currency, by id", fmt.Sprintf(`{"contact_id": %d, "type": "purchase", "amount": 7.5, "order_id": "A-2"}`, ann.ID), "purchase", 750, "EUR", "A-2", map[string]any{}},
		{"a purchase with its products", `{"email": "ann@example.com", "type": "purchase", "amount": 42.5, "currency": "EUR", "order_id": "A-3", "properties": {"category": "watercolor", "items": 2}}`, "purchase", 4250, "EUR", "A-3", map[string]any{"category": "watercolor", "items": float64(2)}},
		{"a visit", `{"email": "ann@example.com", "type": "visit", "properties": {"page": "/brushes"}}`, "visit", 0, "", "", map[string]any{"page": "/brushes"}},
		{"a signup", `{"email": "ann@example.com", "type": "signup", "properties": {"form": "footer"}}`, "signup", 0, "", "", map[string]any{"form": "footer"}},
		{"a custom event", `{"email": "ann@example.com", "type": "trial.started", "properties": {"plan": "pro", "seats": 3}}`, "trial.started", 0, "", "", map[string]any{"plan": "pro", "seats": float64(3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, a := f.postEvents(t, tc.body)
			if code != 201 || a.ID == 0 || a.ContactID != ann.ID || a.Duplicate {
				t.Fatalf("%d %+v", code, a)
			}
			var got *contacts.Event
			for _, ev := range f.eventsOf(t, ann.ID) {
				if ev.ID == a.ID {
					got = &ev
				}
			}
			if got == nil {
				t.Fatalf("event %d not stored", a.ID)
			}
			if got.Type != tc.typ || got.Amount != tc.amount || got.Currency != tc.currency || got.OrderID != tc.orderID {
				t.Errorf("stored %s %d %s %q, want %s %d %s %q", got.Type, got.Amount, got.Currency, got.OrderID, tc.typ, tc.amount, tc.currency, tc.orderID)
			}
			if fmt.Sprint(map[string]any(got.Properties)) != fmt.Sprint(tc.props) {
				t.Errorf("properties %v, want %v", got.Properties, tc.props)
			}
		})
	}
	got, err := f.contacts.Get(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.OrdersCount != 3 || got.LastVisitAt == nil {
		t.Errorf("roll-ups: %d orders, last visit %v; want 3 orders and a visit", got.OrdersCount, got.LastVisitAt)
	}
}

func TestEventsAPICountsARepeatedOrderOnce(t *testing.T) {
	f := newEventsFixture(t, false)
	ann := f.contact(t, "ann@example.com")
	body := `{"email": "ann@example.com", "type": "purchase", "amount": 10, "currency": "EUR", "order_id": "O-7"}`
	code, first := f.postEvents(t, body)
	if code != 201 || first.Duplicate {
		t.Fatalf("first: %d %+v", code, first)
	}
	code, again := f.postEvents(t, body)
	if code != 200 || !again.Duplicate {
		t.Fatalf("repeat: %d %+v; want 200 and duplicate", code, again)
	}
	// Within one batch too.
	w := f.do("POST", "/api/events", `[
		{"email": "ann@example.com", "type": "purchase", "amount": 5, "currency": "EUR", "order_id": "O-8"},
		{"email": "ann@example.com", "type": "purchase", "amount": 5, "currency": "EUR", "order_id": "O-8"}
	]`, map[string]string{"Authorization": "Bearer " + testKey})
	var batch struct {
		Data   []eventAnswer
		Stored int
	}
	if err := json.Unmarshal(w.Body.Bytes(), &batch); err != nil || w.Code != 200 {
		t.Fatalf("batch: %d %s", w.Code, w.Body)
	}
	if len(batch.Data) != 2 || batch.Data[0].Status != 201 || batch.Data[1].Status != 200 || !batch.Data[1].Duplicate {
		t.Fatalf("batch answer %+v", batch.Data)
	}
	got, err := f.contacts.Get(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.OrdersCount != 2 || got.TotalSpent != 1500 {
		t.Errorf("orders %d, total %d; want 2 orders of 15.00 in all", got.OrdersCount, got.TotalSpent)
	}
}

func TestEventsAPIUnknownContactsFollowTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create bool
		code   int
	}{
		{"rejected by default", false, 400},
		{"created when the setting is on", true, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newEventsFixture(t, tc.create)
			code, a := f.postEvents(t, `{"email": "New.Person@Example.com", "type": "signup"}`)
			if code != tc.code {
				t.Fatalf("%d %+v, want %d", code, a, tc.code)
			}
			list, _, err := f.contacts.List(context.Background(), contacts.ListQuery{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.create {
				if a.Error.Path != "email" || len(list) != 0 {
					t.Fatalf("error %+v, %d contacts; want a path of email and no contact", a.Error, len(list))
				}
				return
			}
			if len(list) != 1 || list[0].Email != "new.person@example.com" || a.ContactID != list[0].ID {
				t.Fatalf("contacts %+v, answer %+v", list, a)
			}
			if evs := f.eventsOf(t, a.ContactID); len(evs) != 1 || evs[0].Type != "signup" {
				t.Fatalf("events of the new contact: %+v", evs)
			}
		})
	}
}

func TestEventsAPIReportsInvalidBatchItemsByIndex(t *testing.T) {
	f := newEventsFixture(t, false)
	ann := f.contact(t, "ann@example.com")
	w := f.do("POST", "/api/events", `[
		{"email": "ann@example.com", "type": "visit"},
		{"email": "ann@example.com", "type": "Not A Type"},
		{"email": "ann@example.com", "type": "purchase", "amount": -5, "currency": "EUR", "order_id": "X"},
		{"email": "nobody@example.com", "type": "visit"},
		{"email": "ann@example.com", "type": "purchase", "amount": 5, "currency": "EURO", "order_id": "Y"},
		{"email": "ann@example.com", "type": "visit", "occurred_at": "yesterday-ish"},
		{"type": "visit"},
		{"contact_id": 999999, "type": "visit"},
		{"email": "ann@example.com", "type": "custom.thing", "properties": {"bad key": 1}},
		{"email": "ann@example.com", "type": "signup"}
	]`, map[string]string{"Authorization": "Bearer " + testKey})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var batch struct {
		Data           []eventAnswer
		Stored, Failed int
	}
	if err := json.Unmarshal(w.Body.Bytes(), &batch); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status int
		path   string
	}{
		{201, ""},
		{400, "[1].type"},
		{400, "[2].amount"},
		{400, "[3].email"},
		{400, "[4].currency"},
		{400, "[5].occurred_at"},
		{400, "[6].contact_id"},
		{400, "[7].contact_id"},
		{400, "[8].properties.bad key"},
		{201, ""},
	}
	if len(batch.Data) != len(want) {
		t.Fatalf("%d answers for %d items: %s", len(batch.Data), len(want), w.Body)
	}
	for i, wnt := range want {
		got := batch.Data[i]
		if got.Index != i || got.Status != wnt.status || got.Error.Path != wnt.path {
			t.Errorf("item %d: index %d, status %d, path %q (%s); want status %d, path %q", i, got.Index, got.Status, got.Error.Path, got.Error.Message, wnt.status, wnt.path)
		}
		if wnt.status == 400 && got.Error.Message == "" {
			t.Errorf("item %d: no message", i)
		}
	}
	if batch.Stored != 2 || batch.Failed != 8 {
		t.Errorf("stored %d, failed %d; want 2 and 8", batch.Stored, batch.Failed)
	}
	evs := f.eventsOf(t, ann.ID)
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if len(evs) != 2 || !strings.Contains(strings.Join(types, ","), "visit") || !strings.Contains(strings.Join(types, ","), "signup") {
		t.Errorf("stored %v, want the visit and the signup only", types)
	}
}

func TestEventsAPIRefusesAnOversizedBatch(t *testing.T) {
	f := newEventsFixture(t, false)
	items := make([]string, contacts.MaxBatch+1)
	for i := range items {
		items[i] = `{"email": "ann@example.com", "type": "visit"}`
	}
	code, a := f.postEvents(t, "["+strings.Join(items, ",")+"]")
	if code != 400 || !strings.Contains(a.Error.Message, "at most") {
		t.Fatalf("%d %+v; want 400 naming the limit", code, a)
	}
}

type batchAnswer struct {
	Data                    []eventAnswer
	Stored, Failed, Created int
}

func (f *fixture) postBatch(t *testing.T, path, body string) batchAnswer {
	t.Helper()
	w := f.do("POST", path, body, map[string]string{"Authorization": "Bearer " + testKey})
	if w.Code != 200 {
		t.Fatalf("%s: %d %s; want 200 with an answer per item", path, w.Code, w.Body)
	}
	var b batchAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkItems compares a batch answer with the statuses and paths wanted.
func checkItems(t *testing.T, got []eventAnswer, want []struct {
	status int
	path   string
}) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d answers for %d items: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Index != i || g.Status != w.status || g.Error.Path != w.path {
			t.Errorf("item %d: index %d, status %d, path %q (%s); want status %d, path %q", i, g.Index, g.Status, g.Error.Path, g.Error.Message, w.status, w.path)
		}
		if w.status == 400 && g.Error.Message == "" {
			t.Errorf("item %d: no message", i)
		}
	}
}

func TestEventsAPIDecodesEachBatchItemOnItsOwn(t *testing.T) {
	f := newEventsFixture(t, false)
	ann := f.contact(t, "ann@example.com")
	b := f.postBatch(t, "/api/events", `[
		{"email": "ann@example.com", "type": "visit"},
		{"email": "ann@example.com", "type": "purchase", "amount": "19.99", "order_id": "S-1"},
		{"email": "ann@example.com", "type": "visit", "propertees": {"page": "/"}},
		42,
		null,
		{"email": "ann@example.com", "type": "visit", "properties": "page=/"},
		{"email": "ann@example.com", "type": "purchase", "amount": 19.99, "order_id": "S-2"}
	]`)
	checkItems(t, b.Data, []struct {
		status int
		path   string
	}{{201, ""}, {400, "[1].amount"}, {400, "[2].propertees"}, {400, "[3]"}, {400, "[4]"}, {400, "[5].properties"}, {201, ""}})
	if b.Stored != 2 || b.Failed != 5 {
		t.Errorf("stored %d, failed %d; want 2 and 5", b.Stored, b.Failed)
	}
	if evs := f.eventsOf(t, ann.ID); len(evs) != 2 {
		t.Errorf("%d events stored, want the visit and the purchase", len(evs))
	}
	// A single object with a wrong type is still the request's error.
	code, a := f.postEvents(t, `{"email": "ann@example.com", "type": "purchase", "amount": "19.99"}`)
	if code != 400 || a.Error.Path != "amount" {
		t.Errorf("single object: %d %+v; want 400 about amount", code, a)
	}
	// Malformed JSON is refused whole: there are no items to tell apart.
	if w := f.do("POST", "/api/events", `[{"email": "ann@example.com", "type": "visit"},`, map[string]string{"Authorization": "Bearer " + testKey}); w.Code != 400 {
		t.Errorf("truncated array: %d, want 400", w.Code)
	}
}

func TestContactsAPIDecodesEachBatchItemOnItsOwn(t *testing.T) {
	f := newEventsFixture(t, false)
	b := f.postBatch(t, "/api/contacts", `[
		{"email": "one@example.com", "first_name": "One"},
		{"email": 5},
		{"emial": "typo@example.com"},
		"two@example.com",
		{"email": "three@example.com", "attributes": "vip"},
		{"email": "four@example.com"}
	]`)
	checkItems(t, b.Data, []struct {
		status int
		path   string
	}{{201, ""}, {400, "[1].email"}, {400, "[2].emial"}, {400, "[3]"}, {400, "[4].attributes"}, {201, ""}})
	if b.Created != 2 || b.Failed != 4 {
		t.Errorf("created %d, failed %d; want 2 and 4", b.Created, b.Failed)
	}
	list, _, err := f.contacts.List(context.Background(), contacts.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Errorf("%d contacts stored, want one@ and four@", len(list))
	}
}

func TestEventsAPIKeepsMoneyInTheStoreCurrency(t *testing.T) {
	f := newEventsFixtureWith(t, contacts.Options{Currency: "JPY"})
	ann := f.contact(t, "ann@example.com")
	code, a := f.postEvents(t, `{"email": "ann@example.com", "type": "purchase", "amount": 1500, "order_id": "J-1"}`)
	if code != 201 {
		t.Fatalf("a purchase in the store currency: %d %+v", code, a)
	}
	code, a = f.postEvents(t, `{"email": "ann@example.com", "type": "purchase", "amount": 800, "currency": "jpy", "order_id": "J-2"}`)
	if code != 201 {
		t.Fatalf("a purchase naming the store currency: %d %+v", code, a)
	}
	code, a = f.postEvents(t, `{"email": "ann@example.com", "type": "purchase", "amount": 19.99, "currency": "EUR", "order_id": "E-1"}`)
	if code != 400 || a.Error.Path != "currency" || !strings.Contains(a.Error.Message, "JPY") {
		t.Fatalf("a purchase in euros: %d %+v; want 400 about currency naming JPY", code, a)
	}
	for _, ev := range f.eventsOf(t, ann.ID) {
		if ev.Currency != "JPY" || (ev.Amount != 1500 && ev.Amount != 800) {
			t.Errorf("stored %d %s, want whole yen", ev.Amount, ev.Currency)
		}
	}
	_, c := f.api(t, "GET", fmt.Sprintf("/api/contacts/%d", ann.ID), "")
	if c["total_spent"] != float64(2300) {
		t.Errorf("total_spent %v, want 2300 (yen have no minor unit)", c["total_spent"])
	}
	_, evs := f.api(t, "GET", fmt.Sprintf("/api/contacts/%d/events", ann.ID), "")
	for _, e := range evs["data"].([]any) {
		if amt := e.(map[string]any)["amount"]; amt != float64(1500) && amt != float64(800) {
			t.Errorf("event amount %v, want 1500 or 800", amt)
		}
	}
}
