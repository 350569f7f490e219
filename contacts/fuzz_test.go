package contacts

import (
	"strings"
	"testing"
	"unicode/utf8"

	"herald/internal/errs"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"ann@example.com", " Ann@Example.COM ", "a@b", "a@b.c", "@example.com", "ann@", "a@.b.c", "a@b..c",
		"Ann <ann@example.com>", `"ann smith"@example.com`, "ann@[127.0.0.1]", "ann@example.com (x)",
		"ÄNN@BÜCHER.DE", "a@b.c\x00", "\xffa@b.c", "a@b.c.", strings.Repeat("a", 250) + "@b.co",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeEmail(in)
		if err != nil {
			if got != "" {
				t.Fatalf("NormalizeEmail(%q) = %q with error %v", in, got, err)
			}
			return
		}
		if got == "" || len(got) > 254 {
			t.Fatalf("NormalizeEmail(%q) = %q", in, got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("NormalizeEmail(%q) = %q is not UTF-8", in, got)
		}
		if got != strings.TrimSpace(got) || got != strings.ToLower(got) {
			t.Fatalf("NormalizeEmail(%q) = %q is not trimmed and lower case", in, got)
		}
		at := strings.LastIndexByte(got, '@')
		if at <= 0 {
			t.Fatalf("NormalizeEmail(%q) = %q has no local part", in, got)
		}
		if d := got[at+1:]; !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
			t.Fatalf("NormalizeEmail(%q) = %q has no dotted domain", in, got)
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeEmail is not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}

func FuzzParseYearlyDate(f *testing.F) {
	for _, s := range []string{
		"1990-02-28", "2000-02-29", "1999-02-29", "--02-29", "--02-30", "--12-31", "--1-01", "--", "-", "",
		"  --03-04  ", "--0a-01", "1899-12-31", "9999-12-31", "2000-2-29", "--02-29x", "---02-29", "+2000-01-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		text, md, err := ParseYearlyDate(in)
		if err != nil {
			if text != "" || md != 0 {
				t.Fatalf("ParseYearlyDate(%q) = %q, %d with error %v", in, text, md, err)
			}
			return
		}
		if text == "" {
			if md != 0 || strings.TrimSpace(in) != "" {
				t.Fatalf("ParseYearlyDate(%q) = %q, %d", in, text, md)
			}
			return
		}
		month, dom := md/100, md%100
		if month < 1 || month > 12 || dom < 1 || dom > 31 || (month == 2 && dom > 29) ||
			(dom == 31 && (month == 4 || month == 6 || month == 9 || month == 11)) {
			t.Fatalf("ParseYearlyDate(%q) gives the impossible day %d", in, md)
		}
		if !(len(text) == 10 && text[4] == '-' && text[7] == '-') && !(len(text) == 7 && strings.HasPrefix(text, "--")) {
			t.Fatalf("ParseYearlyDate(%q) = %q is neither YYYY-MM-DD nor --MM-DD", in, text)
		}
		if text[len(text)-5:] != monthDay(md) {
			t.Fatalf("ParseYearlyDate(%q) = %q does not end in its month and day %d", in, text, md)
		}
		again, md2, err := ParseYearlyDate(text)
		if err != nil || again != text || md2 != md {
			t.Fatalf("ParseYearlyDate is not idempotent: %q -> %q, %d -> %q, %d, %v", in, text, md, again, md2, err)
		}
	})
}

func monthDay(md int) string {
	const digits = "0123456789"
	m, d := md/100, md%100
	return string([]byte{digits[m/10], digits[m%10], '-', digits[d/10], digits[d%10]})
}

// FuzzInputApply drives the validation of every contact field without a
// database: apply must never panic, must refuse with an InvalidError that
// names a field, and what it accepts must be stored in normal form, so that
// applying the same input again changes nothing.
func FuzzInputApply(f *testing.F) {
	f.Add("ann@example.com", "Ann", "nl", "Europe/Amsterdam", "--02-29", "1990-01-01", "pt-BR", "2024-01-31", "subscribed", "points", "12")
	f.Add(" X@Y.Z ", " ", "", "", "", "", "", "", "", "vip", "true")
	f.Add("bad", "a\nb", "XX", "Local", "--02-30", "1999-02-29", "english", "tomorrow", "gone", "1x", "")
	f.Add("a@b.co", "\xff", "d ", "UTC", " 2000-02-29 ", "--12-31", "en", "2024-01-31T09:00:00+02:00", "bounced", "renewal", "2028-02-29")
	f.Fuzz(func(t *testing.T, email, name, country, tz, birthday, anniversary, lang, signup, status, attrKey, attrVal string) {
		fields := map[string]CustomField{
			"points":  {Name: "points", Type: FieldNumber},
			"vip":     {Name: "vip", Type: FieldBool},
			"renewal": {Name: "renewal", Type: FieldDate},
			"tier":    {Name: "tier", Type: FieldText},
		}
		var attr any = attrVal
		switch attrVal {
		case "true":
			attr = true
		case "":
			attr = nil
		case "12":
			attr = float64(12)
		}
		in := Input{
			Email: &email, FirstName: &name, LastName: &name, City: &name, Country: &country, Timezone: &tz,
			Birthday: &birthday, Anniversary: &anniversary, Language: &lang, SignupAt: &signup,
			FamilyStatus: &name, Source: &name, Attributes: map[string]any{attrKey: attr},
		}
		if status != "" {
			in.Status = &status
		}
		var c Contact
		_, err := in.apply(&c, fields)
		if err != nil {
			ie, ok := errs.AsInvalid(err)
			if !ok || ie.Path == "" {
				t.Fatalf("apply refused with %T %v, want an InvalidError naming a field", err, err)
			}
			return
		}
		if c.Country != "" && !ValidCountry(c.Country) {
			t.Fatalf("country %q accepted", c.Country)
		}
		if (c.Birthday == "") != (c.BirthdayMD == 0) || (c.Anniversary == "") != (c.AnniversaryMD == 0) {
			t.Fatalf("yearly dates %q/%d and %q/%d disagree", c.Birthday, c.BirthdayMD, c.Anniversary, c.AnniversaryMD)
		}
		for _, s := range []string{c.Email, c.FirstName, c.Country, c.Timezone, c.Language, c.Birthday, c.Anniversary} {
			if !utf8.ValidString(s) || s != strings.TrimSpace(s) {
				t.Fatalf("stored %q is not trimmed UTF-8", s)
			}
		}
		before := c
		before.Attributes = copyMap(c.Attributes)
		changed, err := in.apply(&c, fields)
		if err != nil {
			t.Fatalf("the second apply of an accepted input failed: %v", err)
		}
		if len(changed) != 0 {
			t.Fatalf("the second apply of the same input changed %v", changed)
		}
		if c.Email != before.Email || c.Birthday != before.Birthday || c.Country != before.Country {
			t.Fatalf("the second apply changed the contact")
		}
		// The normal form, given back as input, is accepted unchanged.
		norm := Input{Email: &c.Email, Country: &c.Country, Timezone: &c.Timezone, Birthday: &c.Birthday,
			Anniversary: &c.Anniversary, Language: &c.Language, FirstName: &c.FirstName}
		if changed, err := norm.apply(&c, fields); err != nil || len(changed) != 0 {
			t.Fatalf("the stored values as input: changed %v, err %v", changed, err)
		}
	})
}
