package contacts_test

import (
	"context"
	"errors"
	"io"
	"runtime"
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

func TestImportCSVReadsStrayQuotesAsSpreadsheetsDo(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	ctx := context.Background()
	csvText := "email,first_name\n" +
		"a@example.com,Ann\n" +
		"b@example.com,Bob \"the builder\"\n" +
		"c@example.com,\"Cat \"the\" cook\"\n" +
		"d@example.com,Dan\n"
	res, err := s.ImportCSV(ctx, strings.NewReader(csvText), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 4 || res.Created != 4 || res.Failed != 0 || res.Incomplete != "" {
		t.Fatalf("result = %+v", res)
	}
	for email, want := range map[string]string{"b@example.com": `Bob "the builder"`, "c@example.com": `Cat "the" cook"`, "d@example.com": "Dan"} {
		c, err := s.GetByEmail(ctx, email)
		if err != nil || c.FirstName != want {
			t.Fatalf("%s: first name %q, want %q (%v)", email, c.FirstName, want, err)
		}
	}
}

func TestImportCSVSaysWhenAQuoteNeverClosesAndTheFileEndsInside(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	res, err := s.ImportCSV(context.Background(), strings.NewReader("email,first_name\na@example.com,A\nb@example.com,\"B\nc@example.com,C\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || res.Failed != 1 || res.Errors[0].Line != 3 || !strings.Contains(res.Errors[0].Message, "never closed") {
		t.Fatalf("result = %+v", res)
	}
	if !strings.Contains(res.Incomplete, "line 3") {
		t.Fatalf("incomplete = %q, want it to name line 3", res.Incomplete)
	}
}

// endlessField is a CSV file whose second row holds one cell of n bytes,
// generated as it is read so that the test itself holds none of it.
type endlessField struct {
	head, tail string
	fill       string
	n, pos     int
}

func (f *endlessField) Read(p []byte) (int, error) {
	total := len(f.head) + f.n + len(f.tail)
	if f.pos >= total {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && f.pos < total {
		switch {
		case f.pos < len(f.head):
			p[k] = f.head[f.pos]
		case f.pos < len(f.head)+f.n:
			p[k] = f.fill[(f.pos-len(f.head))%len(f.fill)]
		default:
			p[k] = f.tail[f.pos-len(f.head)-f.n]
		}
		k++
		f.pos++
	}
	return k, nil
}

func TestImportCSVRefusesAHugeCellWithoutHoldingIt(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	tests := []struct {
		name, head, tail string
		fill             string
		want             string
	}{
		{"unquoted cell", "email,notes\na@example.com,", "\nb@example.com,ok\n", "x", "cell in column 2 is longer than 64 KB"},
		{"quoted cell", "email,notes\na@example.com,\"", "\"\nb@example.com,ok\n", "x", "cell in column 2 is longer than 64 KB"},
		{"row of many cells", "email,notes\na@example.com", "\nb@example.com,ok\n", ",", "more than 4096 cells"},
		{"long row", "email,notes\na@example.com,", "\nb@example.com,ok\n", strings.Repeat("x", 999) + ",", "row is longer than 1 MB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &endlessField{head: tc.head, tail: tc.tail, fill: tc.fill, n: 100 << 20}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := s.ImportCSV(context.Background(), f, nil)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != 2 || res.Failed != 1 || res.Created+res.Updated != 1 || res.Errors[0].Line != 2 || !strings.Contains(res.Errors[0].Message, tc.want) {
				t.Fatalf("result = %+v", res)
			}
			if _, err := s.GetByEmail(context.Background(), "b@example.com"); err != nil {
				t.Fatalf("the row after the huge one was not stored: %v", err)
			}
			// Reading 100 MB must not allocate anything like it.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
				t.Fatalf("the import allocated %d MB for a 100 MB cell", grew>>20)
			}
		})
	}
}

// cutReader yields a file and then fails, as a cut upload does.
type cutReader struct {
	r   io.Reader
	err error
}

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, c.err
	}
	return n, err
}

func TestImportCSVKeepsTheRowsBeforeACutAndSaysWhereItStopped(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	r := &cutReader{r: strings.NewReader("email\na@example.com\nb@example.com\n"), err: errors.New("the connection was closed")}
	res, err := s.ImportCSV(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 2 || !strings.Contains(res.Incomplete, "after line 3") || !strings.Contains(res.Incomplete, "connection was closed") {
		t.Fatalf("result = %+v", res)
	}
}

func TestImportWithChosenColumnsAndSkippingExistingContacts(t *testing.T) {
	g := testenv.DB(t, contacts.Migrate)
	s := contacts.NewStore(g, contacts.Options{})
	ctx := context.Background()
	email, name := "old@example.com", "Old"
	if _, _, err := s.Upsert(ctx, contacts.Input{Email: &email, FirstName: &name}); err != nil {
		t.Fatal(err)
	}
	csvText := "Address,Nick,Internal,Size\nold@example.com,Changed,x,40\nnew@example.com,New,y,41\nnew@example.com,Newer,z,42\n"
	res, err := s.Import(ctx, strings.NewReader(csvText), contacts.ImportOptions{
		Columns:  []string{"email", "first_name", "", "attr.shoe_size"},
		Existing: contacts.ExistingSkip,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 || res.Created != 1 || res.Updated != 1 || res.Skipped != 1 || res.Failed != 0 {
		t.Fatalf("result = %+v", res)
	}
	old, _ := s.GetByEmail(ctx, "old@example.com")
	if old.FirstName != "Old" || old.Attributes["shoe_size"] != nil {
		t.Fatalf("a skipped contact changed: %+v", old)
	}
	nw, _ := s.GetByEmail(ctx, "new@example.com")
	if nw.FirstName != "Newer" || nw.Attributes["shoe_size"] != "42" || nw.Attributes["internal"] != nil {
		t.Fatalf("new = %+v", nw)
	}

	bad := []struct {
		name string
		opts contacts.ImportOptions
		want string
	}{
		{"too few", contacts.ImportOptions{Columns: []string{"email"}}, "has 4 columns"},
		{"no email", contacts.ImportOptions{Columns: []string{"", "first_name", "", ""}}, "no column is mapped to email"},
		{"twice", contacts.ImportOptions{Columns: []string{"email", "first_name", "first_name", ""}}, "two columns"},
		{"unknown field", contacts.ImportOptions{Columns: []string{"email", "nick", "", ""}}, "column 2"},
		{"unknown policy", contacts.ImportOptions{Existing: "merge"}, "existing"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Import(ctx, strings.NewReader(csvText), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPreviewCSVSuggestsAFieldPerColumn(t *testing.T) {
	s := contacts.NewStore(testenv.DB(t, contacts.Migrate), contacts.Options{})
	p, err := s.PreviewCSV(strings.NewReader("E-mail;First name;Shoe size;;E-mail;Bad!\na@example.com;A;40;;x;y\nb@example.com;\"B"), 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"email", "first_name", "attr.shoe_size", "", "", ""}
	if strings.Join(p.Columns, "|") != strings.Join(want, "|") || len(p.Sample) != 1 || p.Sample[0][1] != "A" {
		t.Fatalf("preview = %+v", p)
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
		if res.Created+res.Updated+res.Skipped+res.Failed != res.Rows {
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
