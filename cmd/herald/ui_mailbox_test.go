package main

import (
	"strings"
	"testing"

	"herald/internal/app"
	"herald/internal/imaptest"
)

func TestBrowserSettingsShowBounceMailboxAndReturnPath(t *testing.T) {
	srv := imaptest.Start(t)
	a := startAppWith(t, func(c *app.Config) {
		c.BounceMailbox, c.BouncePoll, c.ReturnPath = srv.URL("INBOX")+"&move=Processed", "2m", "bounces@shop.example"
	})
	b := newBrowser(t, a)
	b.loginAs("admin@example.com", "correct horse")
	b.open("/settings")
	got := b.waitText("#bounce-webhooks", "Read every")
	for _, want := range []string{"imap://" + imaptest.User + "@", "/INBOX", "Read every 2m; what was read is moved to Processed", "bounces@shop.example", "VERP"} {
		if !strings.Contains(got, want) {
			t.Errorf("settings lack %q: %s", want, got)
		}
	}
	if strings.Contains(got, "password") {
		t.Errorf("settings show the mailbox password: %s", got)
	}
	b.screenshot("settings-bounce-mailbox")
}
