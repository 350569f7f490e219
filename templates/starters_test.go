package templates_test

import (
	"errors"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"

	"herald/contacts"
	"herald/templates"
	"herald/tracking"
)

const starterBaseURL = "https://mail.example.com"

// starterNow is the time of sending in these tests.
var starterNow = time.Date(2026, 5, 20, 9, 30, 0, 0, time.UTC)

// starterWants is what each starter must say: the subject for a complete
// and an empty contact, text the body must show for each, and its pools.
var starterWants = []struct {
	key          string
	fullSubject  string
	emptySubject string
	fullHTML     []string
	emptyHTML    []string
	pools        []string
}{
	{
		key:          "welcome",
		fullSubject:  "Welcome to Example Shop, Ada!",
		emptySubject: "Welcome to Example Shop, friend!",
		fullHTML:     []string{"Welcome, Ada!", "Mara at Example Shop"},
		emptyHTML:    []string{"Welcome, friend!", "Mara at Example Shop"},
	},
	{
		key:          "birthday",
		fullSubject:  "Happy birthday, Ada! A little gift inside",
		emptySubject: "Happy birthday, friend! A little gift inside",
		fullHTML:     []string{"Happy birthday, Ada!", "Claim my gift"},
		emptyHTML:    []string{"Happy birthday, friend!", "Claim my gift"},
	},
	{
		key:          "anniversary",
		fullSubject:  "Happy anniversary, Ada! Thank you for being with us",
		emptySubject: "Happy anniversary, friend! Thank you for being with us",
		fullHTML:     []string{"Happy anniversary, Ada!", "It all started on 14 March 2021, when you placed your first order", "7</span><br>orders and counting"},
		emptyHTML:    []string{"Happy anniversary, friend!", "You have been part of Example Shop for a while now."},
	},
	{
		key:          "winback",
		fullSubject:  "We miss you, Ada: here is $10.00 off",
		emptySubject: "We miss you, friend: here is $10.00 off",
		fullHTML:     []string{"We miss you, Ada", "It has been 130 days since your last order on 10 January,", "$10.00 off"},
		emptyHTML:    []string{"We miss you, friend", "It has been a while since we last saw you,", "$10.00 off"},
		pools:        []string{"WINBACK10"},
	},
	{
		key:          "lapsed",
		fullSubject:  "It has been too long, Ada: $20.00 off to welcome you back",
		emptySubject: "It has been too long, friend: $20.00 off to welcome you back",
		fullHTML:     []string{"It has been too long, Ada", "Your last order with us was back in January 2026.", "$20.00 off"},
		emptyHTML:    []string{"It has been too long, friend", "It has been a long time since we last saw you.", "$20.00 off"},
		pools:        []string{"WINBACK20"},
	},
	{
		key:          "reengage",
		fullSubject:  "Do you still want to hear from us, Ada?",
		emptySubject: "Do you still want to hear from us, friend?",
		fullHTML:     []string{"Do you still want to hear from us, Ada?", "Yes, keep me subscribed", "No, unsubscribe me"},
		emptyHTML:    []string{"Do you still want to hear from us, friend?", "Yes, keep me subscribed", "No, unsubscribe me"},
	},
	{
		key:          "viewed",
		fullSubject:  "Still interested, Ada?",
		emptySubject: "Still interested, friend?",
		fullHTML:     []string{"Still interested, Ada?", "Product name", "Take another look"},
		emptyHTML:    []string{"Still interested, friend?", "Product name", "Take another look"},
	},
}

func starterSigner(t *testing.T) *tracking.Signer {
	t.Helper()
	s, err := tracking.NewSigner([]byte("starter-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// completeContact has every built-in field set; the first name is written
// in lower case as imports often are, so the starters' title shows.
func completeContact() contacts.Contact {
	signup := time.Date(2021, 2, 1, 12, 0, 0, 0, time.UTC)
	first := time.Date(2021, 3, 14, 10, 0, 0, 0, time.UTC)
	last := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
	avg := 42.5
	return contacts.Contact{
		ID: 7, Email: "ada@example.com", FirstName: "ada", LastName: "Lovelace", City: "London",
		Country: "GB", Language: "en", Timezone: "Europe/London", Birthday: "1815-05-20",
		Anniversary: "--03-14", Source: "website", Status: contacts.Subscribed, SignupAt: &signup,
		OrdersCount: 7, TotalSpent: 45650, FirstPurchaseAt: &first, LastPurchaseAt: &last,
		LastVisitAt: &last, LastOpenAt: &last, LastClickAt: &last, AvgDaysBetweenPurchases: &avg,
	}
}

func emptyContact() contacts.Contact {
	return contacts.Contact{ID: 8, Email: "someone@example.com", Status: contacts.Subscribed}
}

type contactCase struct {
	name    string
	contact contacts.Contact
	full    bool
}

var starterContacts = []contactCase{
	{"complete contact", completeContact(), true},
	{"empty contact", emptyContact(), false},
}

func couponCode(pool string, contactID int64) string {
	return "HX" + pool + "-" + string(rune('A'+contactID))
}

type rendered struct {
	compiled *templates.Compiled
	data     *templates.Data
	out      templates.Rendered
	pools    []string // pools the message took codes from
}

// renderStarter compiles a starter as a campaign would and renders it for
// one contact with tracking on and a coupon source.
func renderStarter(t *testing.T, s templates.Starter, c contacts.Contact) rendered {
	t.Helper()
	comp, err := templates.Compile(templates.Content{Subject: s.Subject, HTML: s.HTML}, nil)
	if err != nil {
		t.Fatalf("compile %s: %v", s.Key, err)
	}
	var r rendered
	r.compiled = comp
	r.data = templates.NewData(c, nil,
		templates.CampaignInfo{ID: 42, Name: "Spring starters", FromName: "Mara at Example Shop"},
		templates.Links{Signer: starterSigner(t), BaseURL: starterBaseURL, Campaign: 42, Contact: c.ID},
		starterNow,
	).WithCoupons(func(pool string) (string, error) {
		r.pools = append(r.pools, pool)
		return couponCode(pool, c.ID), nil
	})
	r.out, err = comp.Render(r.data)
	if err != nil {
		t.Fatalf("render %s: %v", s.Key, err)
	}
	return r
}

func starter(t *testing.T, key string) templates.Starter {
	t.Helper()
	s, ok := templates.StarterByKey(key)
	if !ok {
		t.Fatalf("no starter %q", key)
	}
	return s
}

func TestStartersAreListedInAStableOrderEachWithItsOwnHTMLFile(t *testing.T) {
	var want []string
	for _, w := range starterWants {
		want = append(want, w.key)
	}
	var got []string
	for _, s := range templates.Starters() {
		got = append(got, s.Key)
		if s.Name == "" || s.Description == "" || s.Subject == "" {
			t.Errorf("%s: name, description and subject are required: %+v", s.Key, s)
		}
		src, err := os.ReadFile(filepath.Join("starters", s.Key+".html"))
		if err != nil {
			t.Errorf("%s: %v", s.Key, err)
		} else if s.HTML != string(src) {
			t.Errorf("%s: HTML is not the content of starters/%s.html", s.Key, s.Key)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("keys = %q, want %q", got, want)
	}

	files, err := filepath.Glob(filepath.Join("starters", "*.html"))
	if err != nil {
		t.Fatal(err)
	}
	var fileKeys []string
	for _, f := range files {
		fileKeys = append(fileKeys, strings.TrimSuffix(filepath.Base(f), ".html"))
	}
	slices.Sort(fileKeys)
	sorted := slices.Sorted(slices.Values(want))
	if !slices.Equal(fileKeys, sorted) {
		t.Errorf("files in starters/ = %q, want one per starter %q", fileKeys, sorted)
	}

	again := templates.Starters()
	for i := range again {
		if again[i].Key != got[i] {
			t.Fatalf("second call returned %q at %d, want %q", again[i].Key, i, got[i])
		}
	}
}

func TestStarterByKeyFindsEveryStarterAndRejectsUnknownKeys(t *testing.T) {
	for _, s := range templates.Starters() {
		got, ok := templates.StarterByKey(s.Key)
		if !ok || got.Key != s.Key || got.HTML != s.HTML || got.Subject != s.Subject || !slices.Equal(got.CouponPools, s.CouponPools) {
			t.Errorf("StarterByKey(%q) = %v, %v", s.Key, got.Key, ok)
		}
	}
	for _, key := range []string{"", "Welcome", "nope", " welcome"} {
		if _, ok := templates.StarterByKey(key); ok {
			t.Errorf("StarterByKey(%q) found a starter", key)
		}
	}
}

func TestStartersHandOutCopiesCallersCannotChange(t *testing.T) {
	all := templates.Starters()
	for i := range all {
		all[i].Subject = "changed"
		for j := range all[i].CouponPools {
			all[i].CouponPools[j] = "changed"
		}
	}
	s, _ := templates.StarterByKey("winback")
	s.CouponPools[0] = "changed"
	for _, s := range templates.Starters() {
		if s.Subject == "changed" || slices.Contains(s.CouponPools, "changed") {
			t.Errorf("%s: a caller's change leaked into the library", s.Key)
		}
	}
}

func TestStartersRenderForCompleteAndEmptyContacts(t *testing.T) {
	for _, w := range starterWants {
		for _, cc := range starterContacts {
			t.Run(w.key+"/"+cc.name, func(t *testing.T) {
				r := renderStarter(t, starter(t, w.key), cc.contact)
				wantSubject, wantHTML := w.emptySubject, w.emptyHTML
				if cc.full {
					wantSubject, wantHTML = w.fullSubject, w.fullHTML
				}
				if r.out.Subject != wantSubject {
					t.Errorf("subject = %q, want %q", r.out.Subject, wantSubject)
				}
				for _, s := range wantHTML {
					if !strings.Contains(r.out.HTML, s) {
						t.Errorf("HTML does not contain %q", s)
					}
				}
				if !cc.full && !strings.Contains(r.out.HTML, "friend") {
					t.Errorf("HTML does not fall back to %q for a contact without a first name", "friend")
				}
				if cc.full && strings.Contains(r.out.HTML, "friend") {
					t.Errorf("HTML uses the fallback %q although the contact has a first name", "friend")
				}
				for part, text := range map[string]string{"subject": r.out.Subject, "html": r.out.HTML, "text": r.out.Text} {
					for _, bad := range []string{"{{", "}}", "<no value>", "<nil>", "ZgotmplZ", "COUPON-"} {
						if strings.Contains(text, bad) {
							t.Errorf("%s contains %q", part, bad)
						}
					}
				}
				for _, u := range []string{r.data.UnsubscribeURL, r.data.WebViewURL} {
					if !strings.Contains(r.out.HTML, `href="`+u+`"`) {
						t.Errorf("HTML has no link to %s", u)
					}
				}
			})
		}
	}
}

func TestStartersSignOffWithTheSenderNameOrTheTeam(t *testing.T) {
	for _, s := range templates.Starters() {
		t.Run(s.Key, func(t *testing.T) {
			comp, err := templates.Compile(templates.Content{Subject: s.Subject, HTML: s.HTML}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ fromName, want string }{
				{"Mara at Example Shop", "<br>Mara at Example Shop</p>"},
				{"", "<br>The Example Shop team</p>"},
			} {
				d := templates.NewData(emptyContact(), nil, templates.CampaignInfo{ID: 42, FromName: tc.fromName}, templates.Links{BaseURL: starterBaseURL, Untracked: true}, starterNow)
				r, err := comp.Render(d)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(r.HTML, tc.want) {
					t.Errorf("from name %q: HTML does not sign off with %q", tc.fromName, tc.want)
				}
			}
		})
	}
}

func TestCouponStartersShowTheContactsOwnCodeFromTheirPools(t *testing.T) {
	for _, w := range starterWants {
		t.Run(w.key, func(t *testing.T) {
			s := starter(t, w.key)
			if !slices.Equal(s.CouponPools, w.pools) {
				t.Errorf("CouponPools = %q, want %q", s.CouponPools, w.pools)
			}
			for _, cc := range starterContacts {
				r := renderStarter(t, s, cc.contact)
				used := slices.Compact(slices.Sorted(slices.Values(r.pools)))
				if !slices.Equal(used, slices.Sorted(slices.Values(s.CouponPools))) {
					t.Errorf("%s: took codes from %q, CouponPools lists %q", cc.name, used, s.CouponPools)
				}
				for _, pool := range s.CouponPools {
					code := couponCode(pool, cc.contact.ID)
					if !strings.Contains(r.out.HTML, ">"+code+"<") {
						t.Errorf("%s: HTML does not show the code %q", cc.name, code)
					}
					if !strings.Contains(r.out.Text, code) {
						t.Errorf("%s: text does not show the code %q", cc.name, code)
					}
				}
			}
		})
	}
}

func TestCouponStartersFailToRenderWhenTheirPoolIsEmpty(t *testing.T) {
	for _, s := range templates.Starters() {
		if len(s.CouponPools) == 0 {
			continue
		}
		t.Run(s.Key, func(t *testing.T) {
			comp, err := templates.Compile(templates.Content{Subject: s.Subject, HTML: s.HTML}, nil)
			if err != nil {
				t.Fatal(err)
			}
			empty := errors.New("coupon pool is empty")
			d := templates.NewData(completeContact(), nil, templates.CampaignInfo{ID: 42}, templates.Links{BaseURL: starterBaseURL, Untracked: true}, starterNow).
				WithCoupons(func(string) (string, error) { return "", empty })
			var ce *templates.CouponError
			if _, err := comp.Render(d); !errors.Is(err, empty) || !errors.As(err, &ce) {
				t.Errorf("render with an empty pool: err = %v, want the pool's error in a *templates.CouponError", err)
			}
		})
	}
}

var (
	sourceHrefRe   = regexp.MustCompile(`(?i)\bhref\s*=\s*"([^"]*)"`)
	literalURLRe   = regexp.MustCompile(`(?i)^https?://`)
	externalAssets = []struct {
		name string
		re   *regexp.Regexp
	}{
		{"src attribute", regexp.MustCompile(`(?i)\bsrc\s*=`)},
		{"remote url() in CSS", regexp.MustCompile(`(?i)url\(\s*['"]?\s*(https?:)?//`)},
		{"CSS @import", regexp.MustCompile(`(?i)@import`)},
		{"link element", regexp.MustCompile(`(?i)<link\b`)},
		{"script element", regexp.MustCompile(`(?i)<script\b`)},
		{"image", regexp.MustCompile(`(?i)<img\b`)},
		{"background attribute", regexp.MustCompile(`(?i)\bbackground\s*=`)},
		{"embedded content", regexp.MustCompile(`(?i)<(iframe|object|embed|video|audio|picture|svg)\b`)},
	}
)

func TestStarterLinksAreTrackedExceptUnsubscribeAndWebView(t *testing.T) {
	for _, s := range templates.Starters() {
		t.Run(s.Key, func(t *testing.T) {
			var literal []string
			for _, m := range sourceHrefRe.FindAllStringSubmatch(s.HTML, -1) {
				href := html.UnescapeString(m[1])
				switch {
				case literalURLRe.MatchString(href):
					if !slices.Contains(literal, href) {
						literal = append(literal, href)
					}
				case href == "{{.UnsubscribeURL}}" || href == "{{.WebViewURL}}":
				default:
					t.Errorf("href %q is neither a literal http(s) URL nor the unsubscribe or web-view link", href)
				}
			}
			if len(literal) == 0 {
				t.Fatal("the starter links nowhere")
			}
			for _, cc := range starterContacts {
				r := renderStarter(t, s, cc.contact)
				if !slices.Equal(r.compiled.Links, literal) {
					t.Errorf("tracked links = %q, want the source's %q", r.compiled.Links, literal)
				}
				tracked := 0
				for _, m := range sourceHrefRe.FindAllStringSubmatch(r.out.HTML, -1) {
					href := html.UnescapeString(m[1])
					switch {
					case href == r.data.UnsubscribeURL || href == r.data.WebViewURL:
					case strings.HasPrefix(href, starterBaseURL+"/t/c/"):
						tracked++
					default:
						t.Errorf("%s: link %q is not tracked", cc.name, href)
					}
				}
				if tracked == 0 {
					t.Errorf("%s: no tracked link in the output", cc.name)
				}
				for _, u := range literal {
					if strings.Contains(r.out.HTML, `"`+u+`"`) {
						t.Errorf("%s: %s is still linked untracked", cc.name, u)
					}
				}
			}
		})
	}
}

func TestStartersLoadNoExternalAssets(t *testing.T) {
	for _, s := range templates.Starters() {
		t.Run(s.Key, func(t *testing.T) {
			for _, a := range externalAssets {
				if loc := a.re.FindStringIndex(s.HTML); loc != nil {
					t.Errorf("source has a %s: %q", a.name, s.HTML[loc[0]:min(loc[1]+40, len(s.HTML))])
				}
			}
			// The only image in a sent message is Herald's own open pixel.
			r := renderStarter(t, s, completeContact())
			imgs := regexp.MustCompile(`<img src="([^"]*)"`).FindAllStringSubmatch(r.out.HTML, -1)
			if len(imgs) != 1 || !strings.HasPrefix(imgs[0][1], starterBaseURL+"/t/o/") {
				t.Errorf("images in the output = %q, want only the open pixel", imgs)
			}
		})
	}
}

var (
	containerRe = regexp.MustCompile(`<table role="presentation" class="container" width="600" [^>]*align="center" style="width:600px;max-width:600px;margin:0 auto;">`)
	outerRe     = regexp.MustCompile(`<body[^>]*>\s*<span class="preheader" style="display:none !important;[^"]*">[^<]+</span>\s*<table role="presentation" width="100%"`)
	tableRe     = regexp.MustCompile(`<table\b[^>]*>`)
	buttonRe    = regexp.MustCompile(`<table role="presentation"[^>]*>\s*<tr>\s*<td align="center" bgcolor="#[0-9a-f]{6}" style="[^"]*border-radius:6px;[^"]*">\s*<a href="[^"]+"[^>]* style="display:inline-block;padding:[^"]*text-decoration:none;[^"]*">[^<]+</a>`)
)

func TestStartersAreResponsiveSelfContainedDocuments(t *testing.T) {
	for _, s := range templates.Starters() {
		t.Run(s.Key, func(t *testing.T) {
			src := s.HTML
			for _, want := range []string{
				"<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\">\n<head>\n<meta charset=\"utf-8\">",
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				"@media screen and (max-width: 620px)",
				".container { width: 100% !important;",
				"</body>\n</html>\n",
			} {
				if !strings.Contains(src, want) {
					t.Errorf("source lacks %q", want)
				}
			}
			if !outerRe.MatchString(src) {
				t.Error("body does not open with a hidden preheader and a full-width table")
			}
			if !containerRe.MatchString(src) {
				t.Error("no centred 600px container table")
			}
			for _, tag := range tableRe.FindAllString(src, -1) {
				if !strings.Contains(tag, `role="presentation"`) {
					t.Errorf("layout table without role=presentation: %s", tag)
				}
			}
			if !buttonRe.MatchString(src) {
				t.Error("no bulletproof table button")
			}
			if strings.Count(src, "<style>") != 1 {
				t.Error("want exactly one <style> block, in the head")
			}
			for _, cc := range starterContacts {
				r := renderStarter(t, s, cc.contact)
				if err := wellFormed(r.out.HTML); err != nil {
					t.Errorf("%s: %v", cc.name, err)
				}
			}
		})
	}
}

var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

// wellFormed checks that every element the message opens it also closes,
// in order, so no client has to guess at the table structure.
func wellFormed(doc string) error {
	z := xhtml.NewTokenizer(strings.NewReader(doc))
	var stack []string
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			if z.Err() != io.EOF {
				return z.Err()
			}
			if len(stack) > 0 {
				return errors.New("unclosed elements at the end: " + strings.Join(stack, " > "))
			}
			return nil
		case xhtml.StartTagToken:
			name, _ := z.TagName()
			if !voidElements[string(name)] {
				stack = append(stack, string(name))
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				return errors.New("</" + string(name) + "> closes " + strings.Join(stack, " > "))
			}
			stack = stack[:len(stack)-1]
		}
	}
}

var (
	textTagRe     = regexp.MustCompile(`<[a-zA-Z/!][^>]*>`)
	textEntityRe  = regexp.MustCompile(`&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);`)
	textLinkRe    = regexp.MustCompile(`(\S[^\n(]*) \((https?://[^)\s]+)\)`)
	textBareURLRe = regexp.MustCompile(`https?://[^\s)]+`)
)

func TestStarterTextPartIsReadable(t *testing.T) {
	for _, s := range templates.Starters() {
		for _, cc := range starterContacts {
			t.Run(s.Key+"/"+cc.name, func(t *testing.T) {
				r := renderStarter(t, s, cc.contact)
				text := r.out.Text
				if m := textTagRe.FindString(text); m != "" {
					t.Errorf("text has markup %q", m)
				}
				if m := textEntityRe.FindString(text); m != "" {
					t.Errorf("text has an HTML entity %q", m)
				}
				for _, css := range []string{"@media", "!important", "font-family", "display:none"} {
					if strings.Contains(text, css) {
						t.Errorf("text leaks CSS %q", css)
					}
				}
				if strings.Contains(text, "\n\n\n") {
					t.Errorf("text has runs of blank lines:\n%s", text)
				}
				for _, want := range []string{
					"Unsubscribe (" + r.data.UnsubscribeURL + ")",
					"View in browser (" + r.data.WebViewURL + ")",
				} {
					if !strings.Contains(text, want) {
						t.Errorf("text lacks %q", want)
					}
				}
				// Every URL in the text follows the words of its link.
				linked := map[string]bool{}
				for _, m := range textLinkRe.FindAllStringSubmatch(text, -1) {
					linked[m[2]] = true
				}
				clicks := 0
				for _, u := range textBareURLRe.FindAllString(text, -1) {
					if !linked[u] {
						t.Errorf("URL %s is not written as \"text (url)\"", u)
					}
					if strings.HasPrefix(u, starterBaseURL+"/t/c/") {
						clicks++
					}
				}
				if clicks == 0 {
					t.Error("text has no tracked link")
				}
				name := "friend"
				if cc.full {
					name = "Ada"
				}
				if !strings.Contains(text, ", "+name) {
					t.Errorf("text does not greet %q", name)
				}
			})
		}
	}
}
