package web

import (
	"encoding/json"
	"strings"
	"testing"
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
