package segments_test

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/segments"
)

// now is the fixed clock of the membership suite: Monday 28 December 2026,
// so that birthday windows cross the year end and 2027 is not a leap year.
var now = time.Date(2026, 12, 28, 10, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time {
	return now.Add(-time.Duration(d * float64(24*time.Hour)))
}

func migrate(g *gorm.DB) error {
	for _, m := range []func(*gorm.DB) error{contacts.Migrate, segments.Migrate, campaigns.Migrate} {
		if err := m(g); err != nil {
			return err
		}
	}
	return nil
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func str(s string) *string { return &s }

// person is one contact of a seeded world. Empty texts are left unset.
type person struct {
	email, first, city, country, source, family, status string
	birthday, anniversary, signup                       string
	attrs                                               map[string]any
}

func (p person) input() contacts.Input {
	in := contacts.Input{Email: str(p.email), Attributes: p.attrs}
	set := func(dst **string, v string) {
		if v != "" {
			*dst = str(v)
		}
	}
	set(&in.FirstName, p.first)
	set(&in.City, p.city)
	set(&in.Country, p.country)
	set(&in.Source, p.source)
	set(&in.FamilyStatus, p.family)
	set(&in.Status, p.status)
	set(&in.Birthday, p.birthday)
	set(&in.Anniversary, p.anniversary)
	set(&in.SignupAt, p.signup)
	return in
}

// world is a seeded database with names for its contacts and campaigns.
type world struct {
	g         *gorm.DB
	store     *contacts.Store
	ids       map[string]int64 // contact id by name (the local part of the email)
	names     map[int64]string
	campaigns map[string]int64 // campaign id by "$C1", "$C2", ...
}

func nameOf(email string) string { return strings.SplitN(email, "@", 2)[0] }

// newWorld opens a fresh database (SQLite, or PostgreSQL when
// HERALD_TEST_DATABASE_URL is set), defines custom fields and adds people.
func newWorld(t *testing.T, clockNow func() time.Time, fields map[string]contacts.FieldType, people []person) *world {
	t.Helper()
	ctx := context.Background()
	g := testenv.DB(t, migrate)
	w := &world{
		g:         g,
		store:     contacts.NewStore(g, contacts.Options{Now: clockNow}),
		ids:       map[string]int64{},
		names:     map[int64]string{},
		campaigns: map[string]int64{},
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := w.store.CreateField(ctx, n, fields[n]); err != nil {
			t.Fatalf("create field %s: %v", n, err)
		}
	}
	ins := make([]contacts.Input, len(people))
	for i, p := range people {
		ins[i] = p.input()
	}
	res, err := w.store.UpsertMany(ctx, ins)
	if err != nil {
		t.Fatalf("upsert contacts: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("contact %s: %v", people[i].email, r.Err)
		}
		w.ids[nameOf(r.Contact.Email)] = r.Contact.ID
		w.names[r.Contact.ID] = nameOf(r.Contact.Email)
	}
	return w
}

func (w *world) id(t *testing.T, name string) int64 {
	t.Helper()
	id, ok := w.ids[name]
	if !ok {
		t.Fatalf("no contact named %s", name)
	}
	return id
}

// ev is an event of a named contact.
type ev struct {
	who      string
	typ      string
	at       time.Time
	campaign string // "$C1"...; empty for none
	amount   int64
	props    map[string]any
	machine  bool
}

func (w *world) record(t *testing.T, evs ...ev) {
	t.Helper()
	ins := make([]contacts.EventInput, len(evs))
	for i, e := range evs {
		in := contacts.EventInput{
			ContactID:  w.id(t, e.who),
			Type:       e.typ,
			OccurredAt: e.at,
			Amount:     e.amount,
			Properties: e.props,
			Machine:    e.machine,
		}
		if e.campaign != "" {
			id, ok := w.campaigns[e.campaign]
			if !ok {
				t.Fatalf("no campaign %s", e.campaign)
			}
			in.CampaignID = &id
		}
		ins[i] = in
	}
	res, err := w.store.RecordEvents(context.Background(), ins)
	if err != nil {
		t.Fatalf("record events: %v", err)
	}
	for i, r := range res {
		if r.Err != nil || r.Duplicate {
			t.Fatalf("event %d (%+v): err %v, duplicate %v", i, evs[i], r.Err, r.Duplicate)
		}
	}
}

// campaign stores a sent campaign under a placeholder name such as "$C1".
func (w *world) campaign(t *testing.T, key string) int64 {
	t.Helper()
	c := campaigns.Campaign{Name: key, Subject: "News " + key, FromEmail: "news@example.com", Status: campaigns.CampaignSent}
	if err := w.g.Create(&c).Error; err != nil {
		t.Fatalf("create campaign %s: %v", key, err)
	}
	w.campaigns[key] = c.ID
	return c.ID
}

// deliver adds a delivery row; sentAt is only set for sent deliveries.
func (w *world) deliver(t *testing.T, key, who string, status campaigns.DeliveryStatus, sentAt time.Time) {
	t.Helper()
	d := campaigns.Delivery{CampaignID: w.campaigns[key], ContactID: w.id(t, who), Status: status, Batch: 1}
	if status == campaigns.DeliverySent {
		at := sentAt.UTC()
		d.SentAt = &at
	}
	if err := w.g.Create(&d).Error; err != nil {
		t.Fatalf("create delivery: %v", err)
	}
}

// expand replaces campaign placeholders ($C1) in a definition with ids.
func (w *world) expand(def string) string {
	keys := make([]string, 0, len(w.campaigns))
	for k := range w.campaigns {
		keys = append(keys, k)
	}
	// Longest first so that $C10 is not read as $C1 followed by 0.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		def = strings.ReplaceAll(def, k, strconv.FormatInt(w.campaigns[k], 10))
	}
	return def
}

// set is a set of contact names, written and printed as "ann bob cleo".
type set map[string]bool

func names(s string) set {
	out := set{}
	for _, n := range strings.Fields(s) {
		out[n] = true
	}
	return out
}

func (s set) String() string {
	l := make([]string, 0, len(s))
	for n := range s {
		l = append(l, n)
	}
	sort.Strings(l)
	if len(l) == 0 {
		return "(nobody)"
	}
	return strings.Join(l, " ")
}

func (s set) equal(o set) bool {
	if len(s) != len(o) {
		return false
	}
	for n := range s {
		if !o[n] {
			return false
		}
	}
	return true
}

func (s set) minus(o set) set {
	out := set{}
	for n := range s {
		if !o[n] {
			out[n] = true
		}
	}
	return out
}

func contactSet(cs []contacts.Contact) set {
	out := set{}
	for _, c := range cs {
		out[nameOf(c.Email)] = true
	}
	return out
}

// members lists a segment's members through the paginated API, two at a
// time so that pagination is exercised too.
func members(t *testing.T, svc *segments.Service, id int64) set {
	t.Helper()
	out := set{}
	var after int64
	for page := 0; ; page++ {
		cs, next, err := svc.Members(context.Background(), id, after, 2)
		if err != nil {
			t.Fatalf("members of %d: %v", id, err)
		}
		for _, c := range cs {
			n := nameOf(c.Email)
			if out[n] {
				t.Fatalf("members of %d: %s listed twice", id, n)
			}
			out[n] = true
		}
		if next == 0 {
			return out
		}
		if page > 100 {
			t.Fatalf("members of %d: pagination does not end", id)
		}
		after = next
	}
}

// invalidPath asserts err is an *errs.InvalidError and returns its path.
func invalidPath(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want an *errs.InvalidError")
	}
	var ie *errs.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *errs.InvalidError", err, err)
	}
	return ie.Path
}
