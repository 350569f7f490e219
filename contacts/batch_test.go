package contacts_test

import (
	"context"
	"fmt"
	"testing"

	"herald/contacts"
)

func TestUpsertManyReportsBadRowsAndStoresGoodOnes(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	existing := mustUpsert(t, s, contacts.Input{Email: ptr("old@example.com"), FirstName: ptr("Olga"), City: ptr("Delft")})

	ins := []contacts.Input{
		0: {Email: ptr(" New@Example.com "), FirstName: ptr("Nina")},
		1: {Email: ptr("not-an-email"), FirstName: ptr("X")},
		2: {Email: ptr("OLD@example.com"), LastName: ptr("Ols")},
		3: {Email: ptr("bad-country@example.com"), Country: ptr("ZZ")},
		4: {FirstName: ptr("no email")},
		5: {Email: ptr("new@example.com"), LastName: ptr("Noor"), FirstName: ptr("Nina2")},
		6: {Email: ptr("bday@example.com"), Birthday: ptr("--02-30")},
		7: {Email: ptr("attr@example.com"), Attributes: map[string]any{"bad-name": "x"}},
		8: {Email: ptr("fine@example.com"), Birthday: ptr("--02-29"), Country: ptr("be")},
	}
	res, err := s.UpsertMany(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(ins) {
		t.Fatalf("%d results for %d items", len(res), len(ins))
	}
	for i, r := range res {
		if r.Index != i {
			t.Errorf("result %d has index %d", i, r.Index)
		}
	}
	for _, bad := range []struct {
		index int
		path  string
	}{{1, "email"}, {3, "country"}, {4, "email"}, {6, "birthday"}, {7, "attributes.bad-name"}} {
		t.Run(fmt.Sprintf("item %d is refused for %s", bad.index, bad.path), func(t *testing.T) {
			wantInvalid(t, res[bad.index].Err, bad.path)
			if res[bad.index].Contact.ID != 0 {
				t.Errorf("a refused item carries contact %d", res[bad.index].Contact.ID)
			}
		})
	}
	for _, good := range []int{0, 2, 5, 8} {
		if res[good].Err != nil {
			t.Errorf("item %d: %v", good, res[good].Err)
		}
	}

	// Created tells which item made the contact; a repeat updates it.
	for _, tc := range []struct {
		index       int
		wantCreated bool
	}{{0, true}, {2, false}, {5, false}, {8, true}} {
		if res[tc.index].Created != tc.wantCreated {
			t.Errorf("item %d created = %v, want %v", tc.index, res[tc.index].Created, tc.wantCreated)
		}
	}

	// Ids are read back and match what the store holds.
	for _, i := range []int{0, 2, 5, 8} {
		got, err := s.GetByEmail(ctx, *ins[i].Email)
		if err != nil {
			t.Fatalf("item %d was not stored: %v", i, err)
		}
		if res[i].Contact.ID == 0 || res[i].Contact.ID != got.ID {
			t.Errorf("item %d answered id %d, stored id is %d", i, res[i].Contact.ID, got.ID)
		}
	}
	if res[2].Contact.ID != existing.ID {
		t.Errorf("the existing contact was answered as %d, want %d", res[2].Contact.ID, existing.ID)
	}
	if res[0].Contact.ID != res[5].Contact.ID {
		t.Errorf("two items of one email answered ids %d and %d", res[0].Contact.ID, res[5].Contact.ID)
	}

	// The later item of an email applies on top of the earlier one.
	n, _ := s.GetByEmail(ctx, "new@example.com")
	if n.FirstName != "Nina2" || n.LastName != "Noor" {
		t.Errorf("new@example.com = %q %q, want Nina2 Noor", n.FirstName, n.LastName)
	}
	if res[0].Contact.FirstName != "Nina2" {
		t.Errorf("results carry the final row; item 0 has first name %q", res[0].Contact.FirstName)
	}
	o, _ := s.GetByEmail(ctx, "old@example.com")
	if o.FirstName != "Olga" || o.LastName != "Ols" || o.City != "Delft" {
		t.Errorf("old@example.com = %+v: the update is a patch", o)
	}
	f, _ := s.GetByEmail(ctx, "fine@example.com")
	if f.Birthday != "--02-29" || f.BirthdayMD != 229 || f.Country != "BE" || f.Status != contacts.Subscribed || f.SignupAt == nil {
		t.Errorf("fine@example.com = %+v", f)
	}
	if cnt, _ := s.Count(ctx); cnt != 3 {
		t.Errorf("%d contacts stored, want 3", cnt)
	}
}

func TestUpsertManyAppliesDuplicatesInOrder(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	mustUpsert(t, s, contacts.Input{Email: ptr("dup@example.com"), Attributes: map[string]any{"a": float64(1)}})
	res, err := s.UpsertMany(ctx, []contacts.Input{
		{Email: ptr("dup@example.com"), City: ptr("One"), Attributes: map[string]any{"b": "x"}},
		{Email: ptr("DUP@example.com"), City: ptr("Two"), Attributes: map[string]any{"a": nil}},
		{Email: ptr("dup@example.com"), Country: ptr("nowhere")}, // refused: does not undo the others
		{Email: ptr("dup@example.com"), City: ptr("Three"), FirstName: ptr("D")},
		{Email: ptr("dup@example.com"), FirstName: ptr("")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, res[2].Err, "country")
	c, _ := s.GetByEmail(ctx, "dup@example.com")
	if c.City != "Three" || c.FirstName != "" || len(c.Attributes) != 1 || c.Attributes["b"] != "x" {
		t.Errorf("after the batch: city %q first %q attrs %v; want Three, empty, {b:x}", c.City, c.FirstName, c.Attributes)
	}
	for _, i := range []int{0, 1, 3, 4} {
		if res[i].Err != nil || res[i].Created || res[i].Contact.ID != c.ID {
			t.Errorf("item %d: %+v", i, res[i])
		}
	}
}

func TestUpsertManyLeavesRollupsAlone(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("buyer@example.com")})
	if _, err := s.RecordEvents(ctx, []contacts.EventInput{{ContactID: c.ID, Type: contacts.EventPurchase, Amount: 1250, OccurredAt: day}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertMany(ctx, []contacts.Input{{Email: ptr("buyer@example.com"), City: ptr("Ede")}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, c.ID)
	if got.OrdersCount != 1 || got.TotalSpent != 1250 || !sameTimePtr(got.LastPurchaseAt, day) || got.City != "Ede" {
		t.Errorf("after a batch upsert: orders %d spent %d last %s city %q", got.OrdersCount, got.TotalSpent, fmtTime(got.LastPurchaseAt), got.City)
	}
}

func TestUpsertManyLargeBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	const n = 1234 // several chunks of lookups and of inserts
	ins := make([]contacts.Input, n)
	for i := range ins {
		ins[i] = contacts.Input{Email: ptr(fmt.Sprintf("p%04d@example.com", i)), FirstName: ptr(fmt.Sprintf("P%d", i))}
	}
	res, err := s.UpsertMany(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for i, r := range res {
		if r.Err != nil || !r.Created || r.Contact.ID == 0 || r.Contact.Email != *ins[i].Email || r.Contact.FirstName != *ins[i].FirstName {
			t.Fatalf("item %d: %+v", i, r)
		}
		ids[r.Contact.ID] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct ids for %d contacts", len(ids), n)
	}
	if cnt, _ := s.Count(ctx); cnt != n {
		t.Errorf("%d contacts stored, want %d", cnt, n)
	}

	// The same batch again updates every contact and creates none.
	res, err = s.UpsertMany(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Created {
			t.Fatalf("second pass, item %d: %+v", i, r)
		}
	}
	if cnt, _ := s.Count(ctx); cnt != n {
		t.Errorf("%d contacts after the second pass, want %d", cnt, n)
	}
}

func TestUpsertManyRefusesOversizedBatches(t *testing.T) {
	s, _ := newStore(t, contacts.Options{})
	_, err := s.UpsertMany(context.Background(), make([]contacts.Input, contacts.MaxBatch+1))
	wantInvalid(t, err, "")
}
