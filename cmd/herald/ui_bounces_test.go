package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"herald/internal/app"
)

// TestMailgunBounceThroughTheServerSuppressesTheContactInOneRequest posts
// a signed Mailgun "failed" event to a running Herald, the way Mailgun
// does, and finds the contact bounced when the request returns.
func TestMailgunBounceThroughTheServerSuppressesTheContactInOneRequest(t *testing.T) {
	key := "mailgun-signing-key-for-tests"
	a := startAppWith(t, func(c *app.Config) { c.MailgunSigningKey = key; c.SoftBounceLimit = 3 })
	var ct struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if code := a.call("POST", "/api/contacts", map[string]any{"email": "gone@example.com"}, &ct); code != http.StatusCreated {
		t.Fatalf("create contact: %d", code)
	}
	post := func(body string) (int, string) {
		resp, err := a.client.Post(a.base+"/webhooks/bounces/mailgun", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	sec := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sec + "tok-1"))
	body := `{"signature": {"timestamp": "` + sec + `", "token": "tok-1", "signature": "` + hex.EncodeToString(mac.Sum(nil)) + `"},
		"event-data": {"event": "failed", "id": "ev-1", "severity": "permanent", "recipient": "gone@example.com", "delivery-status": {"code": 550, "message": "No such user"}}}`
	if code, got := post(strings.Replace(body, `"tok-1"`, `"tok-2"`, 1)); code != http.StatusUnauthorized {
		t.Fatalf("forged: %d %s", code, got)
	}
	if code, got := post(body); code != http.StatusOK || got != `{"received":1,"recorded":1,"duplicates":0,"unmatched":0,"suppressed":1}` {
		t.Fatalf("webhook: %d %s", code, got)
	}
	if code := a.call("GET", "/api/contacts/"+strconv.FormatInt(ct.ID, 10), nil, &ct); code != http.StatusOK || ct.Status != "bounced" {
		t.Errorf("contact after the webhook: %d %s, want bounced", code, ct.Status)
	}
	if code, got := post(body); code != http.StatusOK || got != `{"received":1,"recorded":0,"duplicates":1,"unmatched":0,"suppressed":0}` {
		t.Errorf("replay: %d %s", code, got)
	}
}

func TestBrowserSettingsListBounceWebhooks(t *testing.T) {
	a := startAppWith(t, func(c *app.Config) {
		c.MailgunSigningKey, c.SESWebhook, c.SoftBounceLimit, c.SoftBounceWindow = "k", "on", 3, "30d"
	})
	b := newBrowser(t, a)
	b.loginAs("admin@example.com", "correct horse")
	b.open("/settings")
	got := b.waitText("#bounce-webhooks", "Mailgun")
	for _, want := range []string{a.base + "/webhooks/bounces/ses", a.base + "/webhooks/bounces/mailgun", "3 soft bounces within 30 days", "HERALD_SENDGRID_WEBHOOK_KEY"} {
		if !strings.Contains(got, want) {
			t.Errorf("bounce section lacks %q: %s", want, got)
		}
	}
	b.screenshot("settings-bounce-webhooks")
}
