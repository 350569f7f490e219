package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"herald/contacts"
)

func TestCSVImportAnswersPerLineAndCanStreamProgress(t *testing.T) {
	f := newFixture(t)
	auth := map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "text/csv"}
	csv := "email,first_name,country\nanna@example.com,Anna,NL\nbad-address,B,NL\nbob@example.com,Bob,XX\n"
	w := f.do("POST", "/api/contacts/import", csv, auth)
	var res struct {
		Rows, Created, Failed int
		Errors                []struct {
			Line    int
			Column  string
			Message string
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if res.Rows != 3 || res.Created != 1 || res.Failed != 2 || res.Errors[0].Line != 3 || res.Errors[0].Column != "email" || res.Errors[1].Line != 4 || res.Errors[1].Column != "country" {
		t.Fatalf("result = %+v", res)
	}
	w = f.do("POST", "/api/contacts/import?progress=1", "email\ncarl@example.com\n", auth)
	lines := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
	if w.Code != 200 || len(lines) != 2 || !strings.Contains(lines[0], `"progress"`) || !strings.Contains(lines[1], `"result"`) {
		t.Fatalf("stream: %d\n%s", w.Code, w.Body)
	}
	if w := f.do("POST", "/api/contacts/import", "name\nx\n", auth); w.Code != 400 || !strings.Contains(w.Body.String(), "no email column") {
		t.Fatalf("no email column: %d %s", w.Code, w.Body)
	}
}

// slowBody sends a file in pieces with pauses between them, as a large
// upload on a slow link arrives.
type slowBody struct {
	parts []string
	pause time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.parts) == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.pause)
	n := copy(p, b.parts[0])
	if n < len(b.parts[0]) {
		b.parts[0] = b.parts[0][n:]
	} else {
		b.parts = b.parts[1:]
	}
	return n, nil
}

func TestCSVImportTakesAnUploadSlowerThanTheServersReadTimeout(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewUnstartedServer(f.h)
	// The server's deadline for a whole request, far shorter than the
	// upload below takes.
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("note", "a field before the file")
	fw, _ := mw.CreateFormFile("file", "contacts.csv")
	fmt.Fprint(fw, "email,first_name\n")
	for i := range 40 {
		fmt.Fprintf(fw, "slow%d@example.com,Slow %d\n", i, i)
	}
	mw.Close()
	// Forty pieces 50 ms apart: two seconds in all.
	var parts []string
	for rest, size := form.String(), form.Len()/40+1; rest != ""; {
		k := min(size, len(rest))
		parts = append(parts, rest[:k])
		rest = rest[k:]
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/contacts/import", &slowBody{parts: parts, pause: 50 * time.Millisecond})
	req.ContentLength = int64(form.Len())
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var res contacts.ImportResult
	if err := json.Unmarshal(body, &res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if res.Created != 40 || res.Incomplete != "" {
		t.Fatalf("result = %+v", res)
	}
}

func TestCSVImportReadsPastAStrayQuoteAndTakesAColumnMapping(t *testing.T) {
	f := newFixture(t)
	auth := map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "text/csv"}
	file := "Mail,Nick,Shoe\na@example.com,Ann,38\nb@example.com,Bob \"the builder\",41\nc@example.com,Cat,40\n"
	w := f.do("POST", "/api/contacts/import?columns=email,first_name,&existing=skip", file, auth)
	var res contacts.ImportResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if res.Rows != 3 || res.Created != 3 || res.Failed != 0 {
		t.Fatalf("result = %+v", res)
	}
	if bob := f.contact(t, "b@example.com"); bob.FirstName != `Bob "the builder"` || bob.Attributes["shoe"] != nil {
		t.Fatalf("bob = %+v", bob)
	}
	w = f.do("POST", "/api/contacts/import?columns=email,first_name,&existing=skip", "Mail,Nick,Shoe\na@example.com,Changed,1\n", auth)
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Skipped != 1 || f.contact(t, "a@example.com").FirstName != "Ann" {
		t.Fatalf("skip: %d %s", w.Code, w.Body)
	}
	for _, bad := range []struct{ query, want string }{
		{"columns=email", "has 3 columns"},
		{"columns=first_name,,", "no column is mapped to email"},
		{"existing=merge", "existing"},
	} {
		if w := f.do("POST", "/api/contacts/import?"+bad.query, file, auth); w.Code != 400 || !strings.Contains(w.Body.String(), bad.want) {
			t.Errorf("%s: %d %s", bad.query, w.Code, w.Body)
		}
	}
}

func TestImportPageOffersTheFieldsAndThePreviewMatchesColumns(t *testing.T) {
	f := newFixture(t)
	if _, err := f.contacts.CreateField(t.Context(), "shoe_size", contacts.FieldNumber); err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	w := f.do("GET", "/contacts/import", "", map[string]string{"Cookie": cookie.String()})
	page := w.Body.String()
	if w.Code != 200 || !strings.Contains(page, `src="/static/import.js"`) || !strings.Contains(page, `<option value="attr.shoe_size">shoe_size (number)</option>`) || !strings.Contains(page, `<option value="email">Email</option>`) {
		t.Fatalf("%d %s", w.Code, page)
	}
	if w := f.do("GET", "/contacts", "", map[string]string{"Cookie": cookie.String()}); !strings.Contains(w.Body.String(), `href="/contacts/import"`) {
		t.Fatal("the contact list does not link the import page")
	}

	head := "E-mail;Given name;Shoe size;Favourite colour;Bad!\na@example.com;<b>A</b>;40;green;x\nb@example.com;B;41;red;y\nc@exa"
	session := map[string]string{"Cookie": cookie.String(), "X-CSRF-Token": csrf, "Content-Type": "text/csv"}
	w = f.do("POST", "/api/contacts/import/preview", head, session)
	var p contacts.CSVPreview
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if strings.Join(p.Columns, "|") != "email|first_name|attr.shoe_size|attr.favourite_colour|" || len(p.Sample) != 2 || p.Sample[0][1] != "<b>A</b>" {
		t.Fatalf("preview = %+v", p)
	}
	delete(session, "X-CSRF-Token")
	if w := f.do("POST", "/api/contacts/import/preview", head, session); w.Code != 403 {
		t.Fatalf("preview without the CSRF token: %d", w.Code)
	}
	if w := f.do("POST", "/api/contacts/import/preview", "", map[string]string{"Authorization": "Bearer " + testKey}); w.Code != 400 || !strings.Contains(w.Body.String(), "empty") {
		t.Fatalf("empty preview: %d %s", w.Code, w.Body)
	}
}

func TestCSVImportStreamingProgressReadsTheWholeLargeUpload(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	var file strings.Builder
	file.WriteString("email\n")
	const rows = 12000
	for i := range rows {
		fmt.Fprintf(&file, "large-upload-contact-number-%06d@example.com\n", i)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/contacts/import?progress=1", strings.NewReader(file.String()))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var last struct{ Result contacts.ImportResult }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("%s", body)
	}
	if last.Result.Created != rows || last.Result.Incomplete != "" {
		t.Fatalf("created %d of %d rows (%q), after %d progress lines", last.Result.Created, rows, last.Result.Incomplete, len(lines)-1)
	}
}
