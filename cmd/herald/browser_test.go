package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Browser tests drive Debian's Chromium, headless, against a Herald the
// test starts on its own database and Redis (so on both the embedded
// defaults and the real servers, as every test here). They do what a
// marketer does, by clicking and typing, and save screenshots of the key
// screens at 1280 and 390 pixels wide to ui-screenshots/TEST/ at the top
// of the checkout (ignored by git), to be looked at.
//
// Without a browser they skip, saying so; with HERALD_REQUIRE_BROWSER set
// (as .ci/run does) a missing browser fails them instead.

// EnvRequireBrowser makes browser tests fail rather than skip without one.
const EnvRequireBrowser = "HERALD_REQUIRE_BROWSER"

func chromiumPath() string {
	if p := os.Getenv("HERALD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is one headless Chromium tab logged in (or not) to a test app.
type browser struct {
	t    *testing.T
	app  *testApp
	ctx  context.Context
	shot string // screenshot folder
}

// browsers counts the browsers of each test, so that a second one keeps
// its screenshots apart.
var (
	browsersMu sync.Mutex
	browsers   = map[string]int{}
)

// newBrowser starts Chromium for the test; it is closed when the test ends.
func newBrowser(t *testing.T, a *testApp) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv(EnvRequireBrowser) != "" {
			t.Fatalf("no Chromium found and %s is set: install Debian's chromium package", EnvRequireBrowser)
		}
		t.Skip("skipping browser test: no Chromium found (install Debian's chromium package, or set HERALD_CHROMIUM)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-GB"),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_")
	browsersMu.Lock()
	browsers[name]++
	if browsers[name] > 1 {
		name += fmt.Sprintf("-browser%d", browsers[name])
	}
	browsersMu.Unlock()
	dir := filepath.Join("..", "..", "ui-screenshots", name)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, app: a, ctx: ctx, shot: dir}
	// A native window.confirm would block the page; Herald's own
	// confirmations are <dialog> elements, so a native one is a bug.
	_ = chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			t.Errorf("unexpected native dialog: %q", d.Message)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	return b
}

// do runs actions with a deadline, failing the test with what was tried.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, steps...)
	for try := 0; try < 3 && staleNode(err); try++ {
		// A page that finished loading between the query and the action
		// (after a click on a link) took the queried node with it; the
		// action did not happen, so it is safe to run again.
		time.Sleep(200 * time.Millisecond)
		err = chromedp.Do(ctx, steps...)
	}
	if err != nil {
		b.screenshot("failed-" + regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(what, "-"))
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// staleNode tells whether an action failed because the node it had found
// belonged to a document that has since been replaced.
func staleNode(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "No node with given id found") || strings.Contains(err.Error(), "Could not find node with given id"))
}

// get runs one action that returns a value.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	for try := 0; try < 3 && staleNode(err); try++ {
		time.Sleep(200 * time.Millisecond)
		v, err = chromedp.Run(ctx, a)
	}
	if err != nil {
		b.screenshot("failed-" + regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(what, "-"))
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// open loads a path of the app and waits for its main element.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.app.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// login logs in as the test app's admin.
func (b *browser) login() {
	b.t.Helper()
	b.loginAs("admin@example.com", "correct horse")
}

func (b *browser) loginAs(email, password string) {
	b.t.Helper()
	b.open("/login")
	b.set(`input[name=email]`, email)
	b.set(`input[name=password]`, password)
	b.click(`form[action="/login"] button`)
	b.waitVisible(`header.side nav`)
}

// set puts a value in the input or select sel (as typing would, with
// input and change events).
func (b *browser) set(sel, value string) {
	b.t.Helper()
	b.do("set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
	b.js(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel))
}

// click clicks the first element matching sel.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// submit submits the form of sel.
func (b *browser) submit(sel string) {
	b.t.Helper()
	b.do("submit "+sel, chromedp.Submit(chromedp.CSS(sel)), chromedp.WaitReady(chromedp.CSS("main")))
}

// waitVisible waits until sel is shown.
func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// text returns the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

// value returns the value of the input sel.
func (b *browser) value(sel string) string {
	b.t.Helper()
	return get(b, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// location is the current URL's path and query.
func (b *browser) location() string {
	b.t.Helper()
	return strings.TrimPrefix(get(b, "read location", chromedp.Location()), b.app.base)
}

// js evaluates JavaScript for its effect.
func (b *browser) js(expr string) {
	b.t.Helper()
	get(b, "evaluate", chromedp.Evaluate[chromedp.Void](expr))
}

// eval evaluates JavaScript and returns its result.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return get(b, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// waitText waits until the element sel holds text matching re.
func (b *browser) waitText(sel string, re string) string {
	b.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : "" })()`, sel)))
		cancel()
		if err == nil && rx.MatchString(s) {
			return s
		}
		last = s
		time.Sleep(100 * time.Millisecond)
	}
	b.screenshot("failed-wait")
	b.t.Fatalf("browser: %s never matched %q; last text %q", sel, re, last)
	return ""
}

// confirm answers Herald's confirmation dialog with OK, after checking
// that it asks about what it should.
func (b *browser) confirm(wantMessage string) {
	b.t.Helper()
	b.waitVisible(`#confirm-dialog[open]`)
	if msg := b.text(`#confirm-dialog .confirm-message`); !strings.Contains(msg, wantMessage) {
		b.t.Fatalf("confirmation says %q, want it to mention %q", msg, wantMessage)
	}
	b.screenshot("confirm")
	b.click(`#confirm-dialog .confirm-ok`)
}

// screenshot saves the whole page at 1280 and at 390 pixels wide.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	for _, w := range []int64{1280, 390} {
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		buf, err := func() ([]byte, error) {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, 900), chromedp.Sleep(150*time.Millisecond)); err != nil {
				return nil, err
			}
			h, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`Math.min(8000, Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))`))
			if err != nil {
				return nil, err
			}
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, max(h, 600))); err != nil {
				return nil, err
			}
			return chromedp.Run(ctx, chromedp.FullScreenshot(100))
		}()
		cancel()
		if err != nil {
			b.t.Logf("screenshot %s at %d: %v", name, w, err)
			continue
		}
		file := filepath.Join(b.shot, fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(file, buf, 0o644); err != nil {
			b.t.Logf("screenshot %s: %v", file, err)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_ = chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900))
}

// overflows lists elements that end beyond a 390 px wide screen, which
// would make a phone scroll sideways (tables scroll inside their box).
func (b *browser) overflows() []string {
	b.t.Helper()
	b.do("narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(100*time.Millisecond))
	defer b.do("wide", chromedp.EmulateViewport(1280, 900))
	return eval[[]string](b, `(() => {
		const w = document.documentElement.clientWidth, bad = [];
		if (document.documentElement.scrollWidth > w + 1) bad.push("page is " + document.documentElement.scrollWidth + "px wide");
		for (const e of document.querySelectorAll("main *")) {
			const r = e.getBoundingClientRect();
			if (r.width > 0 && r.right > w + 1 && !e.closest(".table-wrap, .scroll-x") && getComputedStyle(e).position !== "fixed")
				bad.push(e.tagName.toLowerCase() + (e.className && typeof e.className === "string" ? "." + e.className : "") + " ends at " + Math.round(r.right));
		}
		return bad.slice(0, 10);
	})()`)
}
