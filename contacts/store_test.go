package contacts_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"herald/contacts"
	"herald/internal/errs"
)

func TestUpsertNormalisesEmailAndFindsTheContactAgain(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})

	first, created, err := s.Upsert(ctx, contacts.Input{Email: ptr("  Ann.Smith@Example.COM \t")})
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("the first upsert of an address did not report created")
	}
	if first.Email != "ann.smith@example.com" {
		t.Errorf("email stored as %q, want ann.smith@example.com", first.Email)
	}
	if first.Status != contacts.Subscribed {
		t.Errorf("a new contact has status %q, want subscribed", first.Status)
	}
	if first.SignupAt == nil {
		t.Error("a new contact without signup_at got none; want the time of creation")
	}

	for _, spelling := range []string{"ann.smith@example.com", "ANN.SMITH@EXAMPLE.COM", " Ann.Smith@example.com"} {
		again, created, err := s.Upsert(ctx, contacts.Input{Email: ptr(spelling), City: ptr("Utrecht")})
		if err != nil {
			t.Fatalf("Upsert(%q): %v", spelling, err)
		}
		if created {
			t.Errorf("Upsert(%q) created a second contact", spelling)
		}
		if again.ID != first.ID {
			t.Errorf("Upsert(%q) answered contact %d, want %d", spelling, again.ID, first.ID)
		}
	}
	if n, err := s.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v; want 1", n, err)
	}
	got, err := s.GetByEmail(ctx, " ANN.smith@example.com ")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != first.ID || got.City != "Utrecht" {
		t.Errorf("GetByEmail = id %d city %q, want id %d city Utrecht", got.ID, got.City, first.ID)
	}
}

func TestUpsertRejectsInvalidEmails(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for _, tc := range []struct {
		name  string
		email *string
	}{
		{"missing", nil},
		{"empty", ptr("")},
		{"blank", ptr("   ")},
		{"no at sign", ptr("ann.example.com")},
		{"no domain", ptr("ann@")},
		{"no local part", ptr("@example.com")},
		{"domain without a dot", ptr("ann@localhost")},
		{"domain starting with a dot", ptr("ann@.example.com")},
		{"domain ending with a dot", ptr("ann@example.com.")},
		{"domain with two dots in a row", ptr("ann@example..com")},
		{"display name", ptr("Ann <ann@example.com>")},
		{"two addresses", ptr("ann@example.com, bob@example.com")},
		{"space inside", ptr("ann smith@example.com")},
		{"comment", ptr("ann@example.com (Ann)")},
		{"longer than 254 characters", ptr(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.Upsert(ctx, contacts.Input{Email: tc.email, FirstName: ptr("Ann")})
			wantInvalid(t, err, "email")
		})
	}
	if n, _ := s.Count(ctx); n != 0 {
		t.Errorf("rejected upserts stored %d contacts", n)
	}
}

func TestUpsertPatchesOnlyTheGivenFields(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	mustUpsert(t, s, contacts.Input{
		Email: ptr("bob@example.com"), FirstName: ptr("Bob"), LastName: ptr("Jansen"), City: ptr("Delft"),
		Country: ptr("NL"), Language: ptr("nl"), Timezone: ptr("Europe/Amsterdam"), Source: ptr("shop"),
		FamilyStatus: ptr("married"), Birthday: ptr("1980-05-17"),
	})

	for _, tc := range []struct {
		name  string
		in    contacts.Input
		check func(c contacts.Contact) string
	}{
		{
			name: "nil fields are left as they are",
			in:   contacts.Input{City: ptr("Leiden")},
			check: func(c contacts.Contact) string {
				if c.City != "Leiden" || c.FirstName != "Bob" || c.LastName != "Jansen" || c.Country != "NL" ||
					c.Language != "nl" || c.Timezone != "Europe/Amsterdam" || c.Source != "shop" ||
					c.FamilyStatus != "married" || c.Birthday != "1980-05-17" || c.BirthdayMD != 517 {
					return "untouched fields changed"
				}
				return ""
			},
		},
		{
			name: "text is trimmed",
			in:   contacts.Input{FirstName: ptr("  Robert \t")},
			check: func(c contacts.Contact) string {
				if c.FirstName != "Robert" {
					return "first name " + c.FirstName
				}
				return ""
			},
		},
		{
			name: "an empty string clears a field",
			in:   contacts.Input{LastName: ptr(""), Country: ptr(""), Timezone: ptr(""), Birthday: ptr(""), Source: ptr("")},
			check: func(c contacts.Contact) string {
				if c.LastName != "" || c.Country != "" || c.Timezone != "" || c.Birthday != "" || c.BirthdayMD != 0 || c.Source != "" {
					return "fields not cleared"
				}
				if c.FirstName != "Robert" || c.City != "Leiden" {
					return "fields that were not sent changed"
				}
				return ""
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Email = ptr("bob@example.com")
			c, created, err := s.Upsert(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if created {
				t.Fatal("an upsert of an existing email created a contact")
			}
			stored, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range []contacts.Contact{c, stored} {
				if msg := tc.check(got); msg != "" {
					t.Errorf("%s: %+v", msg, got)
				}
			}
		})
	}
}

func TestUpsertValidatesFields(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for _, tc := range []struct {
		name     string
		in       contacts.Input
		wantPath string // "" when the input is accepted
		check    func(c contacts.Contact) bool
	}{
		{"country is upper-cased", contacts.Input{Country: ptr(" nl ")}, "", func(c contacts.Contact) bool { return c.Country == "NL" }},
		{"country code that is not assigned", contacts.Input{Country: ptr("XX")}, "country", nil},
		{"country as alpha-3", contacts.Input{Country: ptr("NLD")}, "country", nil},
		{"country as a name", contacts.Input{Country: ptr("Netherlands")}, "country", nil},
		{"country straddling two codes", contacts.Input{Country: ptr("D ")}, "country", nil},
		{"timezone", contacts.Input{Timezone: ptr("America/Sao_Paulo")}, "", func(c contacts.Contact) bool { return c.Timezone == "America/Sao_Paulo" }},
		{"timezone UTC", contacts.Input{Timezone: ptr("UTC")}, "", func(c contacts.Contact) bool { return c.Timezone == "UTC" }},
		{"timezone unknown", contacts.Input{Timezone: ptr("Mars/Olympus_Mons")}, "timezone", nil},
		{"timezone Local", contacts.Input{Timezone: ptr("Local")}, "timezone", nil},
		{"timezone path", contacts.Input{Timezone: ptr("../../etc/passwd")}, "timezone", nil},
		{"language tag", contacts.Input{Language: ptr("pt-BR")}, "", func(c contacts.Contact) bool { return c.Language == "pt-BR" }},
		{"language not a tag", contacts.Input{Language: ptr("english please")}, "language", nil},
		{"status", contacts.Input{Status: ptr("unsubscribed")}, "", func(c contacts.Contact) bool {
			return c.Status == contacts.Unsubscribed && c.StatusChangedAt != nil
		}},
		{"status unknown", contacts.Input{Status: ptr("gone")}, "status", nil},
		{"signup_at RFC 3339", contacts.Input{SignupAt: ptr("2024-01-31T09:00:00+02:00")}, "", func(c contacts.Contact) bool {
			return sameTimePtr(c.SignupAt, time.Date(2024, 1, 31, 7, 0, 0, 0, time.UTC))
		}},
		{"signup_at date", contacts.Input{SignupAt: ptr("2024-01-31")}, "", func(c contacts.Contact) bool {
			return sameTimePtr(c.SignupAt, time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC))
		}},
		{"signup_at garbage", contacts.Input{SignupAt: ptr("last tuesday")}, "signup_at", nil},
		{"first name too long", contacts.Input{FirstName: ptr(strings.Repeat("é", 201))}, "first_name", nil},
		{"first name of 200 characters", contacts.Input{FirstName: ptr(strings.Repeat("é", 200))}, "", func(c contacts.Contact) bool {
			return c.FirstName == strings.Repeat("é", 200)
		}},
		{"city on two lines", contacts.Input{City: ptr("Delft\nLeiden")}, "city", nil},
		{"attribute value on two lines", contacts.Input{Attributes: map[string]any{"nickname": "Bo\r\nBcc: all@example.com"}}, "attributes.nickname", nil},
		{"attribute value with a line feed", contacts.Input{Attributes: map[string]any{"nickname": "Bo\nBo"}}, "attributes.nickname", nil},
		{"last name not UTF-8", contacts.Input{LastName: ptr("Jan\xffsen")}, "last_name", nil},
		{"family status too long", contacts.Input{FamilyStatus: ptr(strings.Repeat("x", 65))}, "family_status", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Email = ptr("val@example.com")
			c, _, err := s.Upsert(ctx, in)
			if tc.wantPath != "" {
				wantInvalid(t, err, tc.wantPath)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) || !tc.check(stored) {
				t.Errorf("returned %+v\nstored %+v", c, stored)
			}
		})
	}
}

func TestUpsertYearlyDates(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for _, tc := range []struct {
		in       string
		wantText string
		wantMD   int
		invalid  bool
	}{
		{in: "1990-02-28", wantText: "1990-02-28", wantMD: 228},
		{in: " 1984-12-31 ", wantText: "1984-12-31", wantMD: 1231},
		{in: "2000-02-29", wantText: "2000-02-29", wantMD: 229},
		{in: "--02-29", wantText: "--02-29", wantMD: 229},
		{in: "--01-01", wantText: "--01-01", wantMD: 101},
		{in: "--12-31", wantText: "--12-31", wantMD: 1231},
		{in: "", wantText: "", wantMD: 0},
		{in: "1999-02-29", invalid: true},
		{in: "1990-13-01", invalid: true},
		{in: "1990-04-31", invalid: true},
		{in: "--02-30", invalid: true},
		{in: "--13-01", invalid: true},
		{in: "--00-10", invalid: true},
		{in: "--2-29", invalid: true},
		{in: "--02-29x", invalid: true},
		{in: "02-29", invalid: true},
		{in: "1850-06-01", invalid: true},
		{in: "3000-01-01", invalid: true},
		{in: "17/05/1980", invalid: true},
		{in: "1980-05-17T00:00:00Z", invalid: true},
	} {
		for _, field := range []string{"birthday", "anniversary"} {
			t.Run(field+" "+tc.in, func(t *testing.T) {
				in := contacts.Input{Email: ptr("dates@example.com")}
				if field == "birthday" {
					in.Birthday = ptr(tc.in)
				} else {
					in.Anniversary = ptr(tc.in)
				}
				// Start from a known value so that clearing is visible.
				mustUpsert(t, s, contacts.Input{Email: ptr("dates@example.com"), Birthday: ptr("1970-07-07"), Anniversary: ptr("1970-07-07")})
				c, _, err := s.Upsert(ctx, in)
				if tc.invalid {
					wantInvalid(t, err, field)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				c, err = s.Get(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				text, md := c.Birthday, c.BirthdayMD
				if field == "anniversary" {
					text, md = c.Anniversary, c.AnniversaryMD
				}
				if text != tc.wantText || md != tc.wantMD {
					t.Errorf("%s = %q (md %d), want %q (md %d)", field, text, md, tc.wantText, tc.wantMD)
				}
			})
		}
	}
}

func TestUpsertMergesAttributes(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("attr@example.com"), Attributes: map[string]any{
		"plan": "gold", "seats": float64(3), "trial": true, "color": "blue",
	}})
	steps := []struct {
		name     string
		attrs    map[string]any
		want     map[string]any
		wantPath string
	}{
		{
			name:  "new keys are added and others kept",
			attrs: map[string]any{"seats": float64(5), "team": "ops"},
			want:  map[string]any{"plan": "gold", "seats": float64(5), "trial": true, "color": "blue", "team": "ops"},
		},
		{
			name:  "null removes a key",
			attrs: map[string]any{"color": nil, "missing": nil},
			want:  map[string]any{"plan": "gold", "seats": float64(5), "trial": true, "team": "ops"},
		},
		{
			name:  "an empty object changes nothing",
			attrs: map[string]any{},
			want:  map[string]any{"plan": "gold", "seats": float64(5), "trial": true, "team": "ops"},
		},
		{name: "names start with a letter", attrs: map[string]any{"1st": "x"}, wantPath: "attributes.1st"},
		{name: "names have no dashes", attrs: map[string]any{"favourite-colour": "x"}, wantPath: "attributes.favourite-colour"},
		{name: "objects are not values", attrs: map[string]any{"address": map[string]any{"city": "Delft"}}, wantPath: "attributes.address"},
		{name: "arrays are not values", attrs: map[string]any{"tags": []any{"a"}}, wantPath: "attributes.tags"},
		{name: "long texts are refused", attrs: map[string]any{"bio": strings.Repeat("x", 2001)}, wantPath: "attributes.bio"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, _, err := s.Upsert(ctx, contacts.Input{Email: ptr("attr@example.com"), Attributes: st.attrs})
			if st.wantPath != "" {
				wantInvalid(t, err, st.wantPath)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(map[string]any(got.Attributes), st.want) || !reflect.DeepEqual(map[string]any(stored.Attributes), st.want) {
				t.Errorf("attributes returned %v, stored %v; want %v", got.Attributes, stored.Attributes, st.want)
			}
		})
	}
}

func TestUpsertTypesAttributesByCustomField(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for name, typ := range map[string]contacts.FieldType{
		"points": contacts.FieldNumber, "vip": contacts.FieldBool, "renewal": contacts.FieldDate, "tier": contacts.FieldText,
	} {
		if _, err := s.CreateField(ctx, name, typ); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		key      string
		value    any
		want     any
		wantPath string
	}{
		{"number takes a number", "points", float64(12.5), float64(12.5), ""},
		{"number refuses text", "points", "12", nil, "attributes.points"},
		{"number refuses true", "points", true, nil, "attributes.points"},
		{"bool takes true", "vip", true, true, ""},
		{"bool refuses text", "vip", "yes", nil, "attributes.vip"},
		{"bool refuses a number", "vip", float64(1), nil, "attributes.vip"},
		{"date takes a date", "renewal", "2028-02-29", "2028-02-29", ""},
		{"date refuses an impossible day", "renewal", "2027-02-29", nil, "attributes.renewal"},
		{"date refuses another layout", "renewal", "29/02/2028", nil, "attributes.renewal"},
		{"date refuses a number", "renewal", float64(20280229), nil, "attributes.renewal"},
		{"text takes text", "tier", "gold", "gold", ""},
		{"text refuses a number", "tier", float64(1), nil, "attributes.tier"},
		{"undefined attributes take any scalar", "free", float64(7), float64(7), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := s.Upsert(ctx, contacts.Input{Email: ptr("typed@example.com"), Attributes: map[string]any{tc.key: tc.value}})
			if tc.wantPath != "" {
				wantInvalid(t, err, tc.wantPath)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := stored.Attributes[tc.key]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("stored %s = %#v, want %#v", tc.key, got, tc.want)
			}
		})
	}
}

func TestCreateField(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	if _, err := s.CreateField(ctx, "points", contacts.FieldNumber); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		field     string
		typ       contacts.FieldType
		wantPath  string
		wantError error
	}{
		{"name with a dash", "favourite-colour", contacts.FieldText, "name", nil},
		{"name starting with a digit", "1st", contacts.FieldText, "name", nil},
		{"empty name", "", contacts.FieldText, "name", nil},
		{"name of 65 characters", "a" + strings.Repeat("b", 64), contacts.FieldText, "name", nil},
		{"unknown type", "colour", contacts.FieldType("color"), "type", nil},
		{"a name already defined", "points", contacts.FieldText, "", errs.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateField(ctx, tc.field, tc.typ)
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("got %v, want %v", err, tc.wantError)
				}
				return
			}
			wantInvalid(t, err, tc.wantPath)
		})
	}
	fs, err := s.ListFields(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Name != "points" || fs[0].Type != contacts.FieldNumber {
		t.Errorf("fields = %+v, want only points (number)", fs)
	}
	if err := s.DeleteField(ctx, fs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteField(ctx, fs[0].ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("deleting a deleted field: %v, want not found", err)
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	a := mustUpsert(t, s, contacts.Input{Email: ptr("a@example.com"), FirstName: ptr("Ann")})
	mustUpsert(t, s, contacts.Input{Email: ptr("b@example.com")})

	c, err := s.Update(ctx, a.ID, contacts.Input{Email: ptr(" A.New@Example.com "), City: ptr("Gouda")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Email != "a.new@example.com" || c.City != "Gouda" || c.FirstName != "Ann" {
		t.Errorf("after update: %+v", c)
	}
	_, err = s.Update(ctx, a.ID, contacts.Input{Email: ptr("B@example.com")})
	wantInvalid(t, err, "email")
	_, err = s.Update(ctx, a.ID, contacts.Input{Email: ptr("not an email")})
	wantInvalid(t, err, "email")
	if _, err := s.Update(ctx, a.ID+1000, contacts.Input{City: ptr("x")}); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("update of a missing contact: %v, want not found", err)
	}
	if got, err := s.Get(ctx, a.ID); err != nil || got.Email != "a.new@example.com" {
		t.Errorf("after refused updates: %+v, %v", got, err)
	}
}

func TestDeleteRemovesTheContactAndItsEvents(t *testing.T) {
	ctx := context.Background()
	s, g := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("gone@example.com")})
	keep := mustUpsert(t, s, contacts.Input{Email: ptr("kept@example.com")})
	if _, err := s.RecordEvents(ctx, []contacts.EventInput{
		{ContactID: c.ID, Type: contacts.EventVisit}, {ContactID: keep.ID, Type: contacts.EventVisit},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want not found", err)
	}
	var n int64
	g.Model(&contacts.Event{}).Where("contact_id = ?", c.ID).Count(&n)
	if n != 0 {
		t.Errorf("%d events of the deleted contact remain", n)
	}
	g.Model(&contacts.Event{}).Where("contact_id = ?", keep.ID).Count(&n)
	if n != 1 {
		t.Errorf("the other contact has %d events, want 1", n)
	}
	if err := s.Delete(ctx, c.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("second Delete: %v, want not found", err)
	}
}

func TestSetStatusReportsWhetherItChanged(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("st@example.com")})
	for _, tc := range []struct {
		to          contacts.Status
		wantChanged bool
	}{
		{contacts.Unsubscribed, true},
		{contacts.Unsubscribed, false},
		{contacts.Bounced, true},
		{contacts.Subscribed, true},
	} {
		changed, err := s.SetStatus(ctx, c.ID, tc.to)
		if err != nil || changed != tc.wantChanged {
			t.Errorf("SetStatus(%s) = %v, %v; want %v", tc.to, changed, err, tc.wantChanged)
		}
		if got, _ := s.Get(ctx, c.ID); got.Status != tc.to {
			t.Errorf("status %s, want %s", got.Status, tc.to)
		}
	}
	_, err := s.SetStatus(ctx, c.ID, "paused")
	wantInvalid(t, err, "status")
	if _, err := s.SetStatus(ctx, c.ID+1000, contacts.Unsubscribed); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("SetStatus of a missing contact: %v, want not found", err)
	}
}

func TestListPagesAndSearches(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for _, in := range []contacts.Input{
		{Email: ptr("anna@example.com"), FirstName: ptr("Anna")},
		{Email: ptr("bert@example.com"), LastName: ptr("Annink")},
		{Email: ptr("carl@example.com"), FirstName: ptr("Carl"), Status: ptr("unsubscribed")},
		{Email: ptr("dora_x@example.com")},
		{Email: ptr("doraxx@example.com")},
	} {
		mustUpsert(t, s, in)
	}
	emails := func(cs []contacts.Contact) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Email)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    contacts.ListQuery
		want []string
	}{
		{"search matches first or last name, case-insensitively", contacts.ListQuery{Search: "ANN"}, []string{"anna@example.com", "bert@example.com"}},
		{"search by email prefix", contacts.ListQuery{Search: "carl@"}, []string{"carl@example.com"}},
		{"underscore is literal", contacts.ListQuery{Search: "dora_"}, []string{"dora_x@example.com"}},
		{"status filter with search", contacts.ListQuery{Search: "c", Status: contacts.Unsubscribed}, []string{"carl@example.com"}},
		{"status filter excludes", contacts.ListQuery{Search: "anna", Status: contacts.Unsubscribed}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, _, err := s.List(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := emails(cs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	var all []string
	var after int64
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		cs, next, err := s.List(ctx, contacts.ListQuery{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, emails(cs)...)
		if next == 0 {
			break
		}
		after = next
	}
	if len(all) != 5 {
		t.Errorf("pages held %v, want all 5 contacts once", all)
	}
}
