package campaigns

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/testenv"
	"herald/segments"
	"herald/templates"
	"herald/tracking"
)

func TestWebViewCompilesACampaignOncePerVersion(t *testing.T) {
	ctx := context.Background()
	g := testenv.DB(t, func(g *gorm.DB) error {
		for _, m := range []func(*gorm.DB) error{contacts.Migrate, segments.Migrate, Migrate} {
			if err := m(g); err != nil {
				return err
			}
		}
		return nil
	})
	cs := contacts.NewStore(g, contacts.Options{})
	signer, err := tracking.NewSigner([]byte("a test secret of enough length"))
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(g, cs, segments.NewService(g, cs, nil, nil), nil, signer, Config{BaseURL: "https://h.example", Log: testenv.Logger()})
	email, first := "ann@example.com", "Ann"
	ct, _, err := cs.Upsert(ctx, contacts.Input{Email: &email, FirstName: &first})
	if err != nil {
		t.Fatal(err)
	}
	name, subj, html, from := "Spring", "Hi", `<p>Hello {{.FirstName}}</p>`, "news@shop.example.com"
	c, err := svc.Create(ctx, Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from})
	if err != nil {
		t.Fatal(err)
	}
	view := func(want string) {
		t.Helper()
		got, err := svc.WebView(ctx, c.ID, ct.ID)
		if err != nil || !strings.Contains(got, want) {
			t.Fatalf("web view %q, %v; want %q in it", got, err, want)
		}
	}
	for range 5 {
		view("Hello Ann")
	}
	if svc.views.compiles != 1 {
		t.Fatalf("5 views compiled the template %d times, want once", svc.views.compiles)
	}
	html = `<p>Welcome back {{.FirstName}}</p>`
	if _, err := svc.Update(ctx, c.ID, Input{HTMLBody: &html}); err != nil {
		t.Fatal(err)
	}
	view("Welcome back Ann")
	view("Welcome back Ann")
	if svc.views.compiles != 2 {
		t.Fatalf("a changed campaign compiled %d times in all, want 2", svc.views.compiles)
	}
}

func TestCompiledCacheKeepsOnlyTheMostRecentlyUsed(t *testing.T) {
	k := newCompiledCache(2)
	n := 0
	compile := func(context.Context, *Campaign) (*templates.Compiled, error) { n++; return nil, nil }
	for _, id := range []int64{1, 2, 1, 3, 1, 2} {
		if _, err := k.get(context.Background(), &Campaign{ID: id}, compile); err != nil {
			t.Fatal(err)
		}
	}
	// 1, 2 compiled; 1 hit; 3 evicts 2; 1 hit; 2 compiled again.
	if n != 4 || k.order.Len() != 2 {
		t.Fatalf("%d compilations, %d kept; want 4 and 2", n, k.order.Len())
	}
}

// BenchmarkWebView is one hit of the public web view; BenchmarkWebViewCompile
// is the compilation every hit paid before the cache.
func BenchmarkWebView(b *testing.B) {
	svc, c, ct := benchView(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := svc.WebView(ctx, c.ID, ct.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWebViewCompile(b *testing.B) {
	svc, c, _ := benchView(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := svc.compile(ctx, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func benchView(b *testing.B) (*Service, Campaign, contacts.Contact) {
	ctx := context.Background()
	g := testenv.DB(b, func(g *gorm.DB) error {
		for _, m := range []func(*gorm.DB) error{contacts.Migrate, segments.Migrate, Migrate} {
			if err := m(g); err != nil {
				return err
			}
		}
		return nil
	})
	cs := contacts.NewStore(g, contacts.Options{})
	signer, _ := tracking.NewSigner([]byte("a test secret of enough length"))
	svc := NewService(g, cs, segments.NewService(g, cs, nil, nil), nil, signer, Config{BaseURL: "https://h.example", Log: testenv.Logger()})
	email, first := "ann@example.com", "Ann"
	ct, _, err := cs.Upsert(ctx, contacts.Input{Email: &email, FirstName: &first})
	if err != nil {
		b.Fatal(err)
	}
	st, _ := templates.StarterByKey("welcome")
	name, from := "Welcome", "news@shop.example.com"
	c, err := svc.Create(ctx, Input{Name: &name, Subject: &st.Subject, HTMLBody: &st.HTML, FromEmail: &from})
	if err != nil {
		b.Fatal(err)
	}
	return svc, c, ct
}
