package contacts_test

import (
	"context"
	"strings"
	"testing"

	"herald/contacts"
)

// statusEvents returns the to-status of each contact.status event of the
// contact, oldest first, and the last event's properties.
func statusEvents(t *testing.T, s *contacts.Store, id int64) ([]string, map[string]any) {
	t.Helper()
	evs, err := s.Events(context.Background(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var tos []string
	var last map[string]any
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == contacts.EventStatus {
			tos = append(tos, evs[i].Properties["to"].(string))
			last = evs[i].Properties
		}
	}
	return tos, last
}

func TestAnOptOutOutlivesTheContact(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		out  func(s *contacts.Store, id int64) error
		want contacts.Status
	}{
		{"unsubscribed on the page", func(s *contacts.Store, id int64) error {
			_, err := s.SetStatusBy(ctx, id, contacts.Unsubscribed, "person", "")
			return err
		}, contacts.Unsubscribed},
		{"a complaint event", func(s *contacts.Store, id int64) error {
			_, err := s.RecordEvents(ctx, []contacts.EventInput{{ContactID: id, Type: contacts.EventComplaint}})
			return err
		}, contacts.Complained},
		{"a hard bounce event", func(s *contacts.Store, id int64) error {
			_, err := s.RecordEvents(ctx, []contacts.EventInput{{ContactID: id, Type: contacts.EventBounce, Properties: map[string]any{"hard": true}}})
			return err
		}, contacts.Bounced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, contacts.Options{})
			c := mustUpsert(t, s, contacts.Input{Email: ptr("Gone@Example.com")})
			if err := tc.out(s, c.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			// Imported again from an old list, by one call or in a batch.
			again := mustUpsert(t, s, contacts.Input{Email: ptr("gone@example.com"), FirstName: ptr("Back")})
			if again.Status != tc.want {
				t.Fatalf("re-created as %s, want %s", again.Status, tc.want)
			}
			if tos, props := statusEvents(t, s, again.ID); len(tos) != 1 || tos[0] != string(tc.want) || props["by"] != "suppression list" {
				t.Fatalf("timeline status events %v %v", tos, props)
			}
			if err := s.Delete(ctx, again.ID); err != nil {
				t.Fatal(err)
			}
			res, err := s.UpsertMany(ctx, []contacts.Input{{Email: ptr("gone@example.com")}, {Email: ptr("new@example.com")}})
			if err != nil || res[0].Err != nil || res[1].Err != nil {
				t.Fatalf("%v %+v", err, res)
			}
			if res[0].Contact.Status != tc.want || res[1].Contact.Status != contacts.Subscribed {
				t.Fatalf("batch created %s and %s", res[0].Contact.Status, res[1].Contact.Status)
			}
		})
	}
}

func TestOnlyARecordedDecisionSubscribesAContactThatOptedOut(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("ann@example.com")})
	if _, err := s.SetStatusBy(ctx, c.ID, contacts.Unsubscribed, "person", ""); err != nil {
		t.Fatal(err)
	}
	// The API's PATCH, its upsert and a CSV status column all refuse.
	_, err := s.Update(ctx, c.ID, contacts.Input{Status: ptr("subscribed")})
	wantInvalid(t, err, "status")
	_, _, err = s.Upsert(ctx, contacts.Input{Email: ptr("ann@example.com"), Status: ptr("subscribed")})
	wantInvalid(t, err, "status")
	res, err := s.UpsertMany(ctx, []contacts.Input{{Email: ptr("ann@example.com"), Status: ptr("subscribed")}})
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, res[0].Err, "status")
	_, err = s.SetStatus(ctx, c.ID, contacts.Subscribed)
	wantInvalid(t, err, "status")
	_, err = s.Resubscribe(ctx, c.ID, "api", "  ")
	wantInvalid(t, err, "reason")
	if got, _ := s.Get(ctx, c.ID); got.Status != contacts.Unsubscribed {
		t.Fatalf("status %s after refusals", got.Status)
	}

	got, err := s.Resubscribe(ctx, c.ID, "api", "asked again at the shop counter")
	if err != nil || got.Status != contacts.Subscribed {
		t.Fatalf("resubscribe: %v %s", err, got.Status)
	}
	tos, props := statusEvents(t, s, c.ID)
	if len(tos) != 2 || tos[0] != "unsubscribed" || tos[1] != "subscribed" || props["reason"] != "asked again at the shop counter" || props["by"] != "api" || props["from"] != "unsubscribed" {
		t.Fatalf("timeline %v, last %v", tos, props)
	}
	// Off the suppression list: deleted and imported again, subscribed.
	if sup, err := s.Suppressed(ctx, []string{"ann@example.com"}); err != nil || len(sup) != 0 {
		t.Fatalf("still suppressed: %v %v", sup, err)
	}
}

func TestEveryStatusChangeIsOnTheTimeline(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("bo@example.com")})
	if _, err := s.Update(ctx, c.ID, contacts.Input{Status: ptr("bounced")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, c.ID, contacts.Input{Status: ptr("subscribed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertMany(ctx, []contacts.Input{{Email: ptr("bo@example.com"), Status: ptr("unsubscribed")}}); err != nil {
		t.Fatal(err)
	}
	created := mustUpsert(t, s, contacts.Input{Email: ptr("cy@example.com"), Status: ptr("unsubscribed")})
	if tos, _ := statusEvents(t, s, c.ID); len(tos) != 3 || tos[0] != "bounced" || tos[1] != "subscribed" || tos[2] != "unsubscribed" {
		t.Fatalf("timeline %v", tos)
	}
	if tos, _ := statusEvents(t, s, created.ID); len(tos) != 1 || tos[0] != "unsubscribed" {
		t.Fatalf("a contact created unsubscribed: timeline %v", tos)
	}
}

func TestApplySuppressionsSkipsAddressesOnTheList(t *testing.T) {
	ctx := context.Background()
	s, g := newStore(t, contacts.Options{})
	a := mustUpsert(t, s, contacts.Input{Email: ptr("a@example.com")})
	b := mustUpsert(t, s, contacts.Input{Email: ptr("b@example.com")})
	// A row written around the store (an old restore, a manual fix) still
	// says subscribed; the list decides.
	if err := g.Create(&contacts.Suppression{EmailHash: contacts.EmailHash("a@example.com"), Reason: contacts.SuppressedErased}).Error; err != nil {
		t.Fatal(err)
	}
	byID := map[int64]contacts.Contact{a.ID: a, b.ID: b}
	if err := s.ApplySuppressions(ctx, byID); err != nil {
		t.Fatal(err)
	}
	if byID[a.ID].Status == contacts.Subscribed || byID[b.ID].Status != contacts.Subscribed {
		t.Fatalf("a %s, b %s", byID[a.ID].Status, byID[b.ID].Status)
	}
}

func TestACSVStatusColumnCannotResubscribeAndSaysWhichLine(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("ann@example.com")})
	if _, err := s.SetStatusBy(ctx, c.ID, contacts.Complained, "event", ""); err != nil {
		t.Fatal(err)
	}
	csv := "email,first_name,status\nbob@example.com,Bob,subscribed\nann@example.com,Ann,subscribed\n"
	res, err := s.ImportCSV(ctx, strings.NewReader(csv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].Line != 3 || res.Errors[0].Column != "status" {
		t.Fatalf("import: %+v", res)
	}
	if got, _ := s.Get(ctx, c.ID); got.Status != contacts.Complained {
		t.Fatalf("status %s after the import", got.Status)
	}
}
