package contacts

import (
	"fmt"
	"math"
	"net/mail"
	"reflect"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // timezone names are validated the same on every machine
	"unicode/utf8"

	"herald/internal/errs"
)

// Input is what a client may set on a contact. Nil fields are left as they
// are, so the same type serves create, upsert and patch. An empty string
// clears a field; an attribute set to null is removed.
type Input struct {
	Email        *string        `json:"email"`
	FirstName    *string        `json:"first_name"`
	LastName     *string        `json:"last_name"`
	City         *string        `json:"city"`
	Country      *string        `json:"country"`
	Language     *string        `json:"language"`
	Timezone     *string        `json:"timezone"`
	Birthday     *string        `json:"birthday"`
	Anniversary  *string        `json:"anniversary"`
	FamilyStatus *string        `json:"family_status"`
	Source       *string        `json:"source"`
	SignupAt     *string        `json:"signup_at"`
	Status       *string        `json:"status"`
	Attributes   map[string]any `json:"attributes"`
}

// NormalizeEmail lower-cases and trims an address and checks that it is a
// bare address with a dotted domain. The error names no path; callers add it.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", fmt.Errorf("is required")
	}
	if len(s) > 254 {
		return "", fmt.Errorf("is longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q is not a valid email address", s)
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", fmt.Errorf("%q is not a valid email address: the domain needs a dot", s)
	}
	return s, nil
}

var (
	attrNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,63}$`)
	langRe     = regexp.MustCompile(`^[a-zA-Z]{2,8}(-[a-zA-Z0-9]{1,8})*$`)
)

// ValidAttrName reports whether name can be a custom attribute's name.
func ValidAttrName(name string) bool { return attrNameRe.MatchString(name) }

// ParseYearlyDate accepts YYYY-MM-DD or --MM-DD (no year) and returns the
// normalised text and month*100+day. 29 February is valid without a year.
func ParseYearlyDate(s string) (string, int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0, nil
	}
	if strings.HasPrefix(s, "--") {
		t, err := time.Parse("2006-01-02", "2000"+s[1:]) // 2000 is a leap year
		if err != nil || len(s) != 7 {
			return "", 0, fmt.Errorf("%q is not a date: use YYYY-MM-DD or --MM-DD", s)
		}
		return t.Format("--01-02"), int(t.Month())*100 + t.Day(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not a date: use YYYY-MM-DD or --MM-DD", s)
	}
	if t.Year() < 1900 || t.After(time.Now().AddDate(1, 0, 0)) {
		return "", 0, fmt.Errorf("%q is out of range", s)
	}
	return t.Format("2006-01-02"), int(t.Month())*100 + t.Day(), nil
}

// ParseTime accepts RFC 3339 or a date (midnight UTC).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-01-31T09:00:00Z) or a date (2026-01-31)", s)
}

// apply validates in and writes it onto c, returning the names of the
// fields whose value changed. fields holds the custom-field definitions that
// type attribute values.
func (in *Input) apply(c *Contact, fields map[string]CustomField) ([]string, error) {
	var changed []string
	setText := func(name string, dst *string, v *string, max int) error {
		if v == nil {
			return nil
		}
		s := strings.TrimSpace(*v)
		if !utf8.ValidString(s) {
			return errs.Invalid(name, "is not valid UTF-8")
		}
		if utf8.RuneCountInString(s) > max {
			return errs.Invalid(name, "is longer than %d characters", max)
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			return errs.Invalid(name, "must be a single line")
		}
		if *dst != s {
			*dst = s
			changed = append(changed, name)
		}
		return nil
	}

	if in.Email != nil {
		e, err := NormalizeEmail(*in.Email)
		if err != nil {
			return nil, errs.Invalid("email", "%v", err)
		}
		if c.Email != e {
			c.Email = e
			changed = append(changed, "email")
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
		v    *string
		max  int
	}{
		{"first_name", &c.FirstName, in.FirstName, 200},
		{"last_name", &c.LastName, in.LastName, 200},
		{"city", &c.City, in.City, 200},
		{"family_status", &c.FamilyStatus, in.FamilyStatus, 64},
		{"source", &c.Source, in.Source, 200},
	} {
		if err := setText(f.name, f.dst, f.v, f.max); err != nil {
			return nil, err
		}
	}
	if in.Country != nil {
		cc := strings.ToUpper(strings.TrimSpace(*in.Country))
		if cc != "" && !ValidCountry(cc) {
			return nil, errs.Invalid("country", "%q is not an ISO 3166-1 alpha-2 country code", *in.Country)
		}
		if c.Country != cc {
			c.Country = cc
			changed = append(changed, "country")
		}
	}
	if in.Language != nil {
		l := strings.TrimSpace(*in.Language)
		if l != "" && (!langRe.MatchString(l) || len(l) > 35) {
			return nil, errs.Invalid("language", "%q is not a language tag such as en or pt-BR", l)
		}
		if c.Language != l {
			c.Language = l
			changed = append(changed, "language")
		}
	}
	if in.Timezone != nil {
		tz := strings.TrimSpace(*in.Timezone)
		if tz != "" {
			if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
				return nil, errs.Invalid("timezone", "%q is not an IANA time zone such as Europe/Amsterdam", tz)
			}
		}
		if c.Timezone != tz {
			c.Timezone = tz
			changed = append(changed, "timezone")
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
		md   *int
		v    *string
	}{
		{"birthday", &c.Birthday, &c.BirthdayMD, in.Birthday},
		{"anniversary", &c.Anniversary, &c.AnniversaryMD, in.Anniversary},
	} {
		if f.v == nil {
			continue
		}
		s, md, err := ParseYearlyDate(*f.v)
		if err != nil {
			return nil, errs.Invalid(f.name, "%v", err)
		}
		if *f.dst != s {
			*f.dst, *f.md = s, md
			changed = append(changed, f.name)
		}
	}
	if in.SignupAt != nil {
		var t *time.Time
		if strings.TrimSpace(*in.SignupAt) != "" {
			v, err := ParseTime(*in.SignupAt)
			if err != nil {
				return nil, errs.Invalid("signup_at", "%v", err)
			}
			t = &v
		}
		if !sameTime(c.SignupAt, t) {
			c.SignupAt = t
			changed = append(changed, "signup_at")
		}
	}
	if in.Status != nil {
		st := Status(strings.TrimSpace(*in.Status))
		if !st.Valid() {
			return nil, errs.Invalid("status", "%q is not one of subscribed, unsubscribed, bounced, complained", *in.Status)
		}
		if st == Subscribed && optedOut(c.Status) {
			return nil, refuseResubscribe(*c)
		}
		if c.Status != st {
			c.Status = st
			now := time.Now().UTC()
			c.StatusChangedAt = &now
			changed = append(changed, "status")
		}
	}
	if in.Attributes != nil {
		attrs, err := mergeAttributes(c.Attributes, in.Attributes, fields)
		if err != nil {
			return nil, err
		}
		if !sameAttributes(c.Attributes, attrs) {
			c.Attributes = attrs
			changed = append(changed, "attributes")
		}
	}
	return changed, nil
}

func mergeAttributes(cur map[string]any, in map[string]any, fields map[string]CustomField) (map[string]any, error) {
	out := make(map[string]any, len(cur)+len(in))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range in {
		path := "attributes." + k
		if !ValidAttrName(k) {
			return nil, errs.Invalid(path, "attribute names are letters, digits and _ starting with a letter, up to 64 characters")
		}
		if v == nil {
			delete(out, k)
			continue
		}
		nv, err := checkAttrValue(v, fields[k])
		if err != nil {
			return nil, errs.Invalid(path, "%v", err)
		}
		out[k] = nv
	}
	if len(out) > 200 {
		return nil, errs.Invalid("attributes", "a contact has at most 200 attributes")
	}
	return out, nil
}

// checkAttrValue accepts scalars only and, when a custom field defines the
// attribute, a value of its type.
func checkAttrValue(v any, f CustomField) (any, error) {
	switch x := v.(type) {
	case string:
		if utf8.RuneCountInString(x) > 2000 {
			return nil, fmt.Errorf("is longer than 2000 characters")
		}
		// Any attribute can be written into a subject, which is a header:
		// a line break there would end it and start one of the sender's
		// choosing.
		if strings.ContainsAny(x, "\r\n\x00") {
			return nil, fmt.Errorf("must be a single line: attributes can be used in a subject, which is an email header")
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("is not a finite number")
		}
	case bool:
	default:
		return nil, fmt.Errorf("must be a text, number or true/false, not %T", v)
	}
	if f.Name == "" {
		return v, nil
	}
	switch f.Type {
	case FieldNumber:
		if _, ok := v.(float64); !ok {
			return nil, fmt.Errorf("custom field %s is a number", f.Name)
		}
	case FieldBool:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("custom field %s is true or false", f.Name)
		}
	case FieldDate:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("custom field %s is a date (YYYY-MM-DD)", f.Name)
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, fmt.Errorf("custom field %s is a date (YYYY-MM-DD), got %q", f.Name, s)
		}
		return t.Format("2006-01-02"), nil
	case FieldText:
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("custom field %s is a text", f.Name)
		}
	}
	return v, nil
}

// sameAttributes compares two attribute maps. Stored values may be of any
// JSON type (they could have been written before a check existed), so
// they are compared deeply rather than with ==, which panics on maps.
func sameAttributes(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !reflect.DeepEqual(v, w) {
			return false
		}
	}
	return true
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}
