package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// importFile writes a CSV of n contacts; bad names the lines (counting the
// header as line 1) that hold a row Herald must refuse, and why.
func importFile(t *testing.T, n int) (path string, bad map[int]string) {
	t.Helper()
	bad = map[int]string{5: "email", 100: "country", 500: "attr.shoe_size"}
	var b strings.Builder
	b.WriteString("E-mail,First name,Country,Shoe size,Notes\n")
	for i := 1; i <= n; i++ {
		line := i + 1
		email, name, country, size := fmt.Sprintf("c%04d@example.com", i), fmt.Sprintf("Person %d", i), "NL", fmt.Sprint(36+i%10)
		switch line {
		case 5:
			email = "not-an-address"
		case 100:
			country = "Narnia"
		case 500:
			size = "big"
		case 777:
			name = `Bob "the builder"` // a stray quote, read as a spreadsheet would
		case 900:
			name = "נועה"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,note %d\n", email, name, country, size, i)
	}
	path = filepath.Join(t.TempDir(), "shop-customers.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, bad
}

func TestBrowserMarketerImportsACSVAndDownloadsTheFailedRows(t *testing.T) {
	a := startApp(t)
	if code := a.call("POST", "/api/custom-fields", `{"name": "shoe_size", "type": "number"}`, nil); code != 201 {
		t.Fatalf("custom field: %d", code)
	}
	if code := a.call("POST", "/api/contacts", `{"email": "c0002@example.com", "first_name": "Already here"}`, nil); code != 201 {
		t.Fatalf("contact: %d", code)
	}
	file, bad := importFile(t, 1000)
	b := newBrowser(t, a)
	b.login()

	b.open("/contacts")
	b.click(`a[href="/contacts/import"]`)
	b.waitVisible("#import-file")
	b.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file}))
	b.waitVisible("#mapping-rows select")
	mapped := eval[[]string](b, `[...document.querySelectorAll("#mapping-rows select")].map(s => s.value)`)
	if strings.Join(mapped, "|") != "email|first_name|country|attr.shoe_size|attr.notes" {
		t.Fatalf("columns matched by header: %q", mapped)
	}
	// Notes are not wanted: ignored.
	choose(b, 4, "")
	// A field chosen twice is refused before anything is sent.
	choose(b, 1, "email")
	if msg := b.waitText("#map-error", "Two columns"); !eval[bool](b, `document.getElementById("start-import").disabled`) {
		t.Fatalf("start stays enabled with %q", msg)
	}
	choose(b, 1, "first_name")
	if got := eval[string](b, `document.querySelector('#mapping-rows select[data-column="4"]').selectedOptions[0].text`); got != "Ignore this column" {
		t.Fatalf("notes column shows %q", got)
	}
	b.screenshot("mapping")

	// Record every value the bar takes.
	b.js(`window.barValues = []; new MutationObserver(() => window.barValues.push(Number(document.getElementById("import-progress").getAttribute("aria-valuenow")))).observe(document.getElementById("import-progress"), {attributes: true})`)
	b.click("#start-import")
	b.waitText("#run-title", "finished")
	if v := eval[string](b, `document.getElementById("import-progress").getAttribute("aria-valuenow")`); v != "100" {
		t.Fatalf("bar ends at %q", v)
	}
	t.Logf("bar values: %v", eval[[]float64](b, "window.barValues"))
	counts := eval[[]string](b, `["n-created", "n-updated", "n-failed"].map(id => document.getElementById(id).textContent)`)
	if strings.Join(counts, "|") != "996|1|3" {
		t.Fatalf("created|updated|failed = %q", counts)
	}
	failed := eval[[][]string](b, `[...document.querySelectorAll("#failed-body tr")].map(tr => [...tr.cells].map(td => td.textContent))`)
	if len(failed) != len(bad) {
		t.Fatalf("failed rows listed: %q", failed)
	}
	for _, row := range failed {
		var line int
		fmt.Sscan(row[0], &line)
		if bad[line] == "" || row[1] != bad[line] || row[2] == "" {
			t.Fatalf("failed row %q: want lines and columns %v", row, bad)
		}
	}
	b.screenshot("result")
	if o := b.overflows(); len(o) > 0 {
		t.Errorf("elements wider than the page: %v", o)
	}

	// The failed rows download as CSV, with their lines and the file's
	// own columns.
	dir := t.TempDir()
	if _, err := chromedp.Call(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	b.click("#download-failed")
	var got [][]string
	eventually(t, "the failed rows are downloaded", func() bool {
		data, err := os.ReadFile(filepath.Join(dir, "shop-customers-failed-rows.csv"))
		if err != nil {
			return false
		}
		got, err = csv.NewReader(strings.NewReader(strings.TrimPrefix(string(data), "\ufeff"))).ReadAll()
		return err == nil
	})
	if len(got) != 4 || strings.Join(got[0], ",") != "line,reason,E-mail,First name,Country,Shoe size,Notes" || got[1][0] != "5" || got[1][2] != "not-an-address" || got[3][0] != "500" || got[3][5] != "big" {
		t.Fatalf("downloaded:\n%q", got)
	}

	// What the page showed is what Herald stored.
	var bob struct {
		Data []struct {
			FirstName  string `json:"first_name"`
			Attributes map[string]any
		}
	}
	if code := a.call("GET", "/api/contacts?q=c0776@", nil, &bob); code != 200 || len(bob.Data) != 1 || bob.Data[0].FirstName != `Bob "the builder"` || bob.Data[0].Attributes["notes"] != nil || bob.Data[0].Attributes["shoe_size"] != 42.0 {
		t.Fatalf("c0776: %d %+v", code, bob)
	}
}

// choose picks the field a column imports into, as a person does in its
// select.
func choose(b *browser, column int, value string) {
	b.t.Helper()
	b.js(fmt.Sprintf(`(() => { const s = document.querySelector('#mapping-rows select[data-column="%d"]'); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); })()`, column, value))
}

// TestBrowserImportsALargeFileWithAMovingBar imports a large file through
// the import page, as a marketer would, on the server's own timeouts:
// 20,000 rows, or the 100,000 the import must take when
// HERALD_LARGE_IMPORT is set (slower; it logs how long the import took).
func TestBrowserImportsALargeFileWithAMovingBar(t *testing.T) {
	rows := 20000
	if os.Getenv("HERALD_LARGE_IMPORT") != "" {
		rows = 100000
	}
	a := startApp(t)
	if code := a.call("POST", "/api/custom-fields", `{"name": "shoe_size", "type": "number"}`, nil); code != 201 {
		t.Fatalf("custom field: %d", code)
	}
	file, bad := importFile(t, rows)
	b := newBrowser(t, a)
	b.login()
	b.open("/contacts/import")
	b.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file}))
	b.waitVisible("#mapping-rows select")
	b.js(`window.barValues = []; new MutationObserver(() => window.barValues.push(Number(document.getElementById("import-progress").getAttribute("aria-valuenow")))).observe(document.getElementById("import-progress"), {attributes: true})`)
	start := time.Now()
	b.click("#start-import")
	shot := false
	for !strings.Contains(eval[string](b, `document.getElementById("run-title").textContent`), "finished") {
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("no result after 15 minutes: %s", eval[string](b, `document.getElementById("step-run").innerText`))
		}
		if !shot && eval[float64](b, `Number(document.getElementById("import-progress").getAttribute("aria-valuenow"))`) >= 30 {
			b.screenshot("large-running")
			shot = true
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(start)
	counts := eval[[]string](b, `["n-created", "n-updated", "n-failed"].map(id => document.getElementById(id).textContent.replace(/\D/g, ""))`)
	if strings.Join(counts, "|") != fmt.Sprintf("%d|0|%d", rows-len(bad), len(bad)) {
		t.Fatalf("created|updated|failed = %q\n%s", counts, eval[string](b, `document.getElementById("step-run").innerText`))
	}
	values := eval[[]float64](b, "window.barValues")
	between := 0
	for _, v := range values {
		if v > 0 && v < 100 {
			between++
		}
	}
	if between < 10 || values[len(values)-1] != 100 {
		t.Fatalf("the bar did not move while the import ran: %v", values)
	}
	t.Logf("%d rows imported through the page in %s; the bar took %d values on its way", rows, took.Round(100*time.Millisecond), len(values))
	b.screenshot("large-result")
}
