package contacts_test

import (
	"context"
	"strings"
	"testing"

	"herald/contacts"
	"herald/internal/testenv"
)

func TestImportCSVStoresGoodRowsAndReportsBadOnesByLine(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	ctx := context.Background()
	if _, err := s.CreateField(ctx, "shoe_size", contacts.FieldNumber); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateField(ctx, "vip", contacts.FieldBool); err != nil {
		t.Fatal(err)
	}
	existing := "old@example.com"
	name := "Old"
	if _, _, err := s.Upsert(ctx, contacts.Input{Email: &existing, FirstName: &name}); err != nil {
		t.Fatal(err)
	}
	csvText := "\ufeffE-mail;First name;Country;Birthday;shoe_size;vip;favourite colour\n" +
		"anna@example.com;Anna;nl;1990-04-02;38,5;ja;green\n" +
		"not-an-email;Bob;NL;;;;\n" +
		"\n" +
		"old@example.com;;DE;;;;\n" +
		"carla@example.com;Carla;Narnia;;;;\n" +
		"dora@example.com;\"Dora \"\"D\"\" Smith\";ES;--02-29;41;no;\n" +
		"eve@example.com;Eve;FR;;big;;\n" +
		"מרים@example.com;מרים;IL;;;;\n"
	var progress []int
	res, err := s.ImportCSV(ctx, strings.NewReader(csvText), func(r contacts.ImportResult) { progress = append(progress, r.Created+r.Updated+r.Failed) })
	if err != nil {
		t.Fatal(err)
	}
	// מרים@example.com is a valid internationalised address (RFC 6531).
	if res.Rows != 7 || res.Created != 3 || res.Updated != 1 || res.Failed != 3 {
		t.Fatalf("result = %+v", res)
	}
	wantErrs := map[int]string{3: "email", 6: "country", 8: "attr.shoe_size"}
	for _, e := range res.Errors {
		if col, ok := wantErrs[e.Line]; ok && col == e.Column {
			delete(wantErrs, e.Line)
		}
	}
	if len(wantErrs) != 0 || len(res.Errors) != 3 || res.Errors[0].Line != 3 {
		t.Fatalf("errors = %+v, missing %v", res.Errors, wantErrs)
	}
	anna, err := s.GetByEmail(ctx, "anna@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if anna.FirstName != "Anna" || anna.Country != "NL" || anna.BirthdayMD != 402 || anna.Attributes["shoe_size"] != 38.5 || anna.Attributes["vip"] != true || anna.Attributes["favourite_colour"] != "green" {
		t.Fatalf("anna = %+v", anna)
	}
	old, _ := s.GetByEmail(ctx, "old@example.com")
	if old.FirstName != "Old" || old.Country != "DE" {
		t.Fatalf("an empty cell changed a field: %+v", old)
	}
	dora, _ := s.GetByEmail(ctx, "dora@example.com")
	if dora.FirstName != `Dora "D" Smith` || dora.Birthday != "--02-29" || dora.Attributes["vip"] != false {
		t.Fatalf("dora = %+v", dora)
	}
	if len(progress) == 0 || progress[len(progress)-1] != 7 {
		t.Fatalf("progress = %v", progress)
	}
}

func TestImportCSVRefusesFilesItCannotRead(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	tests := []struct {
		name, csv, want string
	}{
		{"empty file", "", "is empty"},
		{"no email column", "name,city\nA,B\n", "no email column"},
		{"bad column name", "email,\"shoe size!\"\na@example.com,1\n", "column 2"},
		{"column twice", "email,Email\na@example.com,b@example.com\n", "appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ImportCSV(context.Background(), strings.NewReader(tc.csv), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestImportCSVStopsAtABrokenQuoteAndSaysWhere(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	res, err := s.ImportCSV(context.Background(), strings.NewReader("email,first_name\na@example.com,A\nb@example.com,\"B\nc@example.com,C\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || res.Failed != 1 || res.Errors[0].Line != 3 || !strings.Contains(res.Errors[0].Message, "quote") {
		t.Fatalf("result = %+v", res)
	}
}

// FuzzImportCSV feeds arbitrary files to the importer: it never panics,
// every row is counted once, and every error names a line of the file.
func FuzzImportCSV(f *testing.F) {
	for _, seed := range []string{
		"email\na@example.com\n", "email;first_name\na@example.com;\"A;B\"\n", "email,x\n\"a@example.com,1\n",
		"\ufeffemail\tcity\nb@example.com\tAmsterdam\n", "email,a,b\n,,\n", "email\r\na@example.com\r\n",
	} {
		f.Add(seed)
	}
	g := testenv.DB(f, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	f.Fuzz(func(t *testing.T, data string) {
		res, err := s.ImportCSV(context.Background(), strings.NewReader(data), nil)
		if err != nil {
			return // a file-level error (no header, no email column)
		}
		if res.Created+res.Updated+res.Failed != res.Rows {
			t.Fatalf("rows %d != created %d + updated %d + failed %d", res.Rows, res.Created, res.Updated, res.Failed)
		}
		lines := strings.Count(data, "\n") + 1
		for _, e := range res.Errors {
			if e.Line < 2 || e.Line > lines {
				t.Fatalf("error on line %d of a %d-line file: %+v", e.Line, lines, e)
			}
		}
	})
}
