package privacy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/outbox"
	"herald/privacy"
	"herald/segments"
)

type world struct {
	g        *gorm.DB
	contacts *contacts.Store
	svc      *privacy.Service
	camp     campaigns.Campaign
}

func newWorld(t *testing.T) *world {
	t.Helper()
	g := testenv.DB(t, func(g *gorm.DB) error {
		for _, m := range []func(*gorm.DB) error{contacts.Migrate, segments.Migrate, campaigns.Migrate, automations.Migrate, outbox.Migrate} {
			if err := m(g); err != nil {
				return err
			}
		}
		return nil
	})
	w := &world{g: g, contacts: contacts.NewStore(g, contacts.Options{}), svc: privacy.NewService(g)}
	w.camp = campaigns.Campaign{Kind: campaigns.KindCampaign, Name: "Spring", Subject: "Hi", FromEmail: "news@shop.example.com", SegmentIDs: db.IDs{}, ExcludeSegmentIDs: db.IDs{}, Status: campaigns.CampaignSent}
	w.must(t, g.Create(&w.camp).Error)
	return w
}

func (w *world) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// person gives a contact a trace in every package: an event, a delivery
// whose error quotes the address, a coupon, a segment, an automation run
// and a captured message.
func (w *world) person(t *testing.T, email string) contacts.Contact {
	t.Helper()
	ctx := context.Background()
	name := "Ann"
	ct, _, err := w.contacts.Upsert(ctx, contacts.Input{Email: &email, FirstName: &name, Attributes: map[string]any{"shoe_size": 38.0}})
	w.must(t, err)
	_, err = w.contacts.RecordEvents(ctx, []contacts.EventInput{{ContactID: ct.ID, Type: contacts.EventVisit}})
	w.must(t, err)
	now := time.Now().UTC()
	w.must(t, w.g.Create(&campaigns.Delivery{CampaignID: w.camp.ID, ContactID: ct.ID, Status: campaigns.DeliveryBounced, Batch: 1, SentAt: &now, Error: "550 5.1.1 <" + email + ">: no such user"}).Error)
	w.must(t, w.g.Create(&campaigns.Coupon{Pool: "WELCOME", Code: "CODE-" + email, ContactID: &ct.ID, CampaignID: &w.camp.ID, AssignedAt: &now}).Error)
	w.must(t, w.g.Create(&segments.Member{SegmentID: 7, ContactID: ct.ID, EnteredAt: now}).Error)
	w.must(t, w.g.Create(&segments.Change{SegmentID: 7, ContactID: ct.ID, Kind: segments.Entered, ChangedAt: now}).Error)
	w.must(t, w.g.Create(&automations.Run{AutomationID: 3, ContactID: ct.ID, Occurrence: "2026", NextAt: now, StartedAt: now}).Error)
	w.must(t, w.g.Create(&outbox.Message{MailFrom: "news@shop.example.com", RcptTo: email, Subject: "Hi Ann", Raw: "Subject: Hi Ann\r\n\r\nHello", ReceivedAt: now}).Error)
	return ct
}

func count(t *testing.T, g *gorm.DB, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := g.Model(model).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExportHoldsEverythingHeraldKeepsOnThePerson(t *testing.T) {
	w := newWorld(t)
	ann := w.person(t, "ann@example.com")
	w.person(t, "bob@example.com")
	ex, err := w.svc.Export(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Contact.Email != "ann@example.com" || ex.Contact.Attributes["shoe_size"] != 38.0 {
		t.Errorf("contact %+v", ex.Contact)
	}
	if len(ex.Events) != 1 || len(ex.Deliveries) != 1 || ex.Deliveries[0].CampaignName != "Spring" || len(ex.Coupons) != 1 ||
		len(ex.Segments) != 1 || len(ex.SegmentLog) != 1 || len(ex.Automations) != 1 || len(ex.Messages) != 1 || ex.Messages[0].Subject != "Hi Ann" {
		t.Errorf("export: %d events, %+v deliveries, %d coupons, %d segments, %d changes, %d runs, %d messages",
			len(ex.Events), ex.Deliveries, len(ex.Coupons), len(ex.Segments), len(ex.SegmentLog), len(ex.Automations), len(ex.Messages))
	}
	if _, err := w.svc.Export(context.Background(), ann.ID+100); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("export of nobody: %v", err)
	}
}

func TestEraseKeepsOnlyTheSuppressionHashAndTheCounts(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ann := w.person(t, "ann@example.com")
	bob := w.person(t, "bob@example.com")
	if err := w.svc.Erase(ctx, ann.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what  string
		model any
		where string
		args  []any
		want  int64
	}{
		{"contact", &contacts.Contact{}, "id = ?", []any{ann.ID}, 0},
		{"events", &contacts.Event{}, "contact_id = ?", []any{ann.ID}, 0},
		{"memberships", &segments.Member{}, "contact_id = ?", []any{ann.ID}, 0},
		{"segment history", &segments.Change{}, "contact_id = ?", []any{ann.ID}, 0},
		{"automation runs", &automations.Run{}, "contact_id = ?", []any{ann.ID}, 0},
		{"message copies", &outbox.Message{}, "rcpt_to = ?", []any{"ann@example.com"}, 0},
		{"the delivery, counted, without the server's answer", &campaigns.Delivery{}, "contact_id = ? AND error = ''", []any{ann.ID}, 1},
		{"the coupon, given to nobody", &campaigns.Coupon{}, "code = ? AND contact_id IS NULL", []any{"CODE-ann@example.com"}, 1},
		{"the other person's contact", &contacts.Contact{}, "id = ?", []any{bob.ID}, 1},
		{"the other person's message", &outbox.Message{}, "rcpt_to = ?", []any{"bob@example.com"}, 1},
		{"the other person's events", &contacts.Event{}, "contact_id = ?", []any{bob.ID}, 1},
	} {
		if n := count(t, w.g, tc.model, tc.where, tc.args...); n != tc.want {
			t.Errorf("%s: %d rows, want %d", tc.what, n, tc.want)
		}
	}
	// The address is gone but its hash stays: imported again, Ann is not
	// subscribed.
	again, _, err := w.contacts.Upsert(ctx, contacts.Input{Email: ptr("Ann@Example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status == contacts.Subscribed {
		t.Fatalf("an erased person imported again is %s", again.Status)
	}
	if err := w.svc.Erase(ctx, ann.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("erasing again: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
