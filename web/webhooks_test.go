package web

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"herald/bounces"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/metrics"
)

const webhookCertURL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-web-test.pem"

// webhookKeys are test keys and the providers configured with them.
type webhookKeys struct {
	sns       *rsa.PrivateKey
	certPEM   []byte
	sendgrid  *ecdsa.PrivateKey
	mailgun   []byte
	generic   []byte
	providers map[string]bounces.Provider
}

func newWebhookKeys(t *testing.T) *webhookKeys {
	t.Helper()
	k := &webhookKeys{mailgun: []byte("mailgun-signing-key"), generic: []byte("generic webhook secret")}
	var err error
	if k.sns, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sns.amazonaws.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.sns.PublicKey, k.sns)
	if err != nil {
		t.Fatal(err)
	}
	k.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if k.sendgrid, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.sendgrid.PublicKey)
	sg, err := bounces.NewSendGrid(base64.StdEncoding.EncodeToString(pub))
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(_ context.Context, u string) ([]byte, error) {
		if u == webhookCertURL {
			return k.certPEM, nil
		}
		return nil, fmt.Errorf("unexpected fetch of %s", u)
	}
	k.providers = map[string]bounces.Provider{
		"ses":      bounces.NewSES(true, nil, fetch),
		"sendgrid": sg,
		"mailgun":  bounces.Mailgun{SigningKey: k.mailgun},
		"postmark": bounces.Postmark{User: "pm", Password: "pm-password", PathSecret: "postmark-path-secret"},
		"generic":  bounces.Generic{Secret: k.generic},
	}
	return k
}

func (k *webhookKeys) ses(t *testing.T, message string) string {
	m := map[string]string{"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:bounces", "Message": message,
		"Timestamp": "2026-03-10T11:59:00.000Z", "SignatureVersion": "2", "SigningCertURL": webhookCertURL}
	var b strings.Builder
	for _, key := range []string{"Message", "MessageId", "Timestamp", "TopicArn", "Type"} {
		b.WriteString(key + "\n" + m[key] + "\n")
	}
	d := sha256.Sum256([]byte(b.String()))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.sns, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	out, _ := json.Marshal(m)
	return string(out)
}

func (k *webhookKeys) sendgridHeaders(t *testing.T, body string) map[string]string {
	ts := "1741600000"
	d := sha256.Sum256([]byte(ts + body))
	sig, err := ecdsa.SignASN1(rand.Reader, k.sendgrid, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{bounces.SendGridSignatureHeader: base64.StdEncoding.EncodeToString(sig), bounces.SendGridTimestampHeader: ts}
}

func (k *webhookKeys) mailgunBody(event string, ts time.Time, key []byte) string {
	sec := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(sec + "token-1"))
	return fmt.Sprintf(`{"signature": {"timestamp": %q, "token": "token-1", "signature": %q}, "event-data": %s}`, sec, hex.EncodeToString(mac.Sum(nil)), event)
}

func genericHeaders(secret []byte, body string) map[string]string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	return map[string]string{bounces.GenericSignatureHeader: "sha256=" + hex.EncodeToString(mac.Sum(nil))}
}

func basic(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

type webhookRequest struct {
	path    string
	body    string
	headers map[string]string
}

func TestBounceWebhooksSuppressOnValidReportsAndStoreNothingOtherwise(t *testing.T) {
	k := newWebhookKeys(t)
	now := time.Now()
	sesBounce := `{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "jane@example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}], "timestamp": "2026-03-10T11:58:00Z", "feedbackId": "fb-1"}, "mail": {"commonHeaders": {"messageId": "<x@example.com>"}}}`
	sgBody := `[{"email": "jane@example.com", "timestamp": 1741600000, "event": "spamreport", "sg_event_id": "sg-1"}]`
	mgEvent := `{"event": "failed", "id": "mg-1", "severity": "permanent", "recipient": "jane@example.com", "timestamp": 1741600000.5, "delivery-status": {"code": 550, "message": "No such user"}}`
	pmBody := `{"RecordType": "Bounce", "ID": 12, "Type": "HardBounce", "Email": "jane@example.com", "Details": "unknown user", "BouncedAt": "2026-03-10T11:58:00Z"}`
	genBody := `{"type": "complaint", "email": "jane@example.com", "id": "g-1"}`
	cases := []struct {
		name              string
		valid             webhookRequest
		status            contacts.Status
		forged, malformed webhookRequest
		forgedStatus      int
	}{
		{"ses", webhookRequest{"/webhooks/bounces/ses", k.ses(t, sesBounce), nil}, contacts.Bounced,
			webhookRequest{"/webhooks/bounces/ses", strings.Replace(k.ses(t, sesBounce), "Permanent", "Transient", 1), nil},
			webhookRequest{"/webhooks/bounces/ses", k.ses(t, `{"notificationType": "Bounce"}`), nil}, http.StatusUnauthorized},
		{"sendgrid", webhookRequest{"/webhooks/bounces/sendgrid", sgBody, k.sendgridHeaders(t, sgBody)}, contacts.Complained,
			webhookRequest{"/webhooks/bounces/sendgrid", strings.Replace(sgBody, "spamreport", "bounce", 1), k.sendgridHeaders(t, sgBody)},
			webhookRequest{"/webhooks/bounces/sendgrid", `{"email": 1}`, k.sendgridHeaders(t, `{"email": 1}`)}, http.StatusUnauthorized},
		{"mailgun", webhookRequest{"/webhooks/bounces/mailgun", k.mailgunBody(mgEvent, now, k.mailgun), nil}, contacts.Bounced,
			webhookRequest{"/webhooks/bounces/mailgun", k.mailgunBody(mgEvent, now, []byte("not the key")), nil},
			webhookRequest{"/webhooks/bounces/mailgun", k.mailgunBody(`{"event": "failed", "severity": "permanent"}`, now, k.mailgun), nil}, http.StatusUnauthorized},
		{"postmark basic auth", webhookRequest{"/webhooks/bounces/postmark", pmBody, basic("pm", "pm-password")}, contacts.Bounced,
			webhookRequest{"/webhooks/bounces/postmark", pmBody, basic("pm", "guess")},
			webhookRequest{"/webhooks/bounces/postmark", `{"RecordType": "Bounce", "Type": "HardBounce"`, basic("pm", "pm-password")}, http.StatusUnauthorized},
		{"postmark secret path", webhookRequest{"/webhooks/bounces/postmark/postmark-path-secret", pmBody, nil}, contacts.Bounced,
			webhookRequest{"/webhooks/bounces/postmark/postmark-path-guess", pmBody, nil},
			webhookRequest{"/webhooks/bounces/postmark/postmark-path-secret", `[]`, nil}, http.StatusUnauthorized},
		{"generic", webhookRequest{"/webhooks/bounces/generic", genBody, genericHeaders(k.generic, genBody)}, contacts.Complained,
			webhookRequest{"/webhooks/bounces/generic", genBody, genericHeaders([]byte("other secret"), genBody)},
			webhookRequest{"/webhooks/bounces/generic", `{"type": "bounced", "email": "jane@example.com"}`, genericHeaders(k.generic, `{"type": "bounced", "email": "jane@example.com"}`)}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			d := f.srv.d
			d.Bounces = &BounceWebhooks{Recorder: bounces.NewRecorder(f.db, f.contacts, f.camps, nil, bounces.DefaultSoftBouncePolicy), Providers: k.providers}
			srv, err := New(d, f.srv.cfg)
			if err != nil {
				t.Fatal(err)
			}
			f.h = srv.Handler()
			email := "jane@example.com"
			if _, _, err := f.contacts.Upsert(context.Background(), contacts.Input{Email: &email}); err != nil {
				t.Fatal(err)
			}
			events := func() int64 {
				var n int64
				f.db.Model(&contacts.Event{}).Where("type IN ?", []string{contacts.EventBounce, contacts.EventComplaint}).Count(&n)
				return n
			}
			for _, bad := range []struct {
				req    webhookRequest
				status int
			}{{tc.forged, tc.forgedStatus}, {tc.malformed, http.StatusBadRequest}} {
				w := f.do("POST", bad.req.path, bad.req.body, bad.req.headers)
				if w.Code != bad.status {
					t.Errorf("%s: status %d, want %d: %s", bad.req.path, w.Code, bad.status, w.Body)
				}
				if !strings.Contains(w.Body.String(), `"error":{"message":`) {
					t.Errorf("error body %s", w.Body)
				}
			}
			if n := events(); n != 0 {
				t.Fatalf("%d events stored by refused requests", n)
			}
			for i, want := range []string{`{"received":1,"recorded":1,"duplicates":0,"unmatched":0,"suppressed":1}`, `{"received":1,"recorded":0,"duplicates":1,"unmatched":0,"suppressed":0}`} {
				w := f.do("POST", tc.valid.path, tc.valid.body, tc.valid.headers)
				if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != want {
					t.Fatalf("request %d: %d %s, want 200 %s", i+1, w.Code, w.Body, want)
				}
			}
			c, err := f.contacts.GetByEmail(context.Background(), email)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != tc.status {
				t.Errorf("status %s, want %s", c.Status, tc.status)
			}
			if n := events(); n != 1 {
				t.Errorf("%d events, want 1", n)
			}
			provider := strings.Fields(tc.name)[0]
			for _, m := range []struct {
				name   string
				labels metrics.Labels
				want   float64
			}{
				{"herald_bounce_reports_total", metrics.Labels{"provider": provider, "outcome": "recorded"}, 1},
				{"herald_bounce_reports_total", metrics.Labels{"provider": provider, "outcome": "duplicate"}, 1},
				{"herald_bounce_webhook_requests_total", metrics.Labels{"provider": provider, "outcome": "refused"}, 1},
				{"herald_bounce_webhook_requests_total", metrics.Labels{"provider": provider, "outcome": "invalid"}, 1},
				{"herald_bounce_webhook_requests_total", metrics.Labels{"provider": provider, "outcome": "ok"}, 2},
			} {
				if got := d.Metrics.Counter(m.name, m.labels); got != m.want {
					t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
				}
			}
		})
	}
}

func TestBounceWebhooksAnswer404WhenNotConfigured(t *testing.T) {
	f := newFixture(t)
	for _, p := range BounceWebhookPaths {
		if w := f.do("POST", p.Path, `{}`, nil); w.Code != http.StatusNotFound {
			t.Errorf("%s without webhooks: %d, want 404", p.Path, w.Code)
		}
	}
	d := f.srv.d
	d.Bounces = &BounceWebhooks{Recorder: bounces.NewRecorder(f.db, f.contacts, f.camps, nil, bounces.DefaultSoftBouncePolicy), Providers: map[string]bounces.Provider{
		"ses": bounces.NewSES(false, nil, nil), "sendgrid": bounces.SendGrid{}, "mailgun": bounces.Mailgun{}, "postmark": bounces.Postmark{}, "generic": bounces.Generic{},
	}}
	srv, err := New(d, f.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = srv.Handler()
	for _, p := range append(BounceWebhookPaths, struct{ Provider, Path string }{"postmark", "/webhooks/bounces/postmark/some-secret-path-x"}) {
		w := f.do("POST", p.Path, `{}`, nil)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "not configured") {
			t.Errorf("%s unconfigured: %d %s, want 404 not configured", p.Path, w.Code, w.Body)
		}
	}
}

func TestWebhookComplaintAndBounceCountOnTheCampaignReportAndPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, ct := f.sentCampaign(t)
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	var d campaigns.Delivery
	if err := f.db.Where("campaign_id = ?", c.ID).Take(&d).Error; err != nil {
		t.Fatal(err)
	}
	if err := f.db.Model(&d).Updates(map[string]any{"status": campaigns.DeliverySent, "sent_at": time.Now().UTC()}).Error; err != nil {
		t.Fatal(err)
	}
	secret := []byte("generic webhook secret")
	srvDeps := f.srv.d
	srvDeps.Bounces = &BounceWebhooks{Recorder: bounces.NewRecorder(f.db, f.contacts, f.camps, nil, bounces.DefaultSoftBouncePolicy),
		Providers: map[string]bounces.Provider{"generic": bounces.Generic{Secret: secret}}}
	srv, err := New(srvDeps, f.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = srv.Handler()
	mid := f.camps.MessageID(c.ID, d.ID)
	body := `[{"type": "complaint", "email": "noa@example.com", "message_id": "<` + mid + `>", "id": "c-1"},
		{"type": "bounce", "hard": true, "email": "noa@example.com", "message_id": "` + mid + `", "diagnostic": "550 5.1.1 gone", "id": "b-1"}]`
	if w := f.do("POST", "/webhooks/bounces/generic", body, genericHeaders(secret, body)); w.Code != http.StatusOK {
		t.Fatalf("webhook: %d %s", w.Code, w.Body)
	}
	w := f.do("GET", "/api/campaigns/"+itoa(c.ID)+"/stats", "", map[string]string{"Authorization": "Bearer " + testKey})
	var st struct {
		Complained       int64 `json:"complained"`
		BouncedAfterSend int64 `json:"bounced_after_send"`
		Delivered        int64 `json:"delivered"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || w.Code != http.StatusOK {
		t.Fatalf("stats: %d %s", w.Code, w.Body)
	}
	if st.Complained != 1 || st.BouncedAfterSend != 1 || st.Delivered != 0 {
		t.Errorf("stats %+v, want 1 complained, 1 bounced after send, 0 delivered", st)
	}
	// Both reports suppress; which status the contact ends with is the
	// batch's to decide.
	if got, _ := f.contacts.Get(ctx, ct.ID); got.Status == contacts.Subscribed {
		t.Errorf("status %s, want suppressed", got.Status)
	}
	if sup, _ := f.contacts.Suppressed(ctx, []string{"noa@example.com"}); sup["noa@example.com"] == "" {
		t.Error("the address is not on the suppression list")
	}
	cookie, _ := f.login(t)
	page := f.page(t, cookie, "/campaigns/"+itoa(c.ID))
	if !regexp.MustCompile(`<b>1</b><span>marked as spam</span>`).MatchString(page) {
		t.Error("the report does not show the complaint beside the bounces")
	}
	page = f.page(t, cookie, "/campaigns/"+itoa(c.ID)+"?list=bounced")
	if !strings.Contains(page, "reported after the message was accepted: 550 5.1.1 gone") {
		t.Error("the bounced list does not show the reported diagnostic")
	}
	page = f.page(t, cookie, "/contacts/"+itoa(ct.ID))
	for _, want := range []string{"Hard bounce: c", "Marked as spam: c", "550 5.1.1 gone · reported to the bounce webhook"} {
		if !strings.Contains(page, want) {
			t.Errorf("the contact's timeline lacks %q", want)
		}
	}
	page = f.page(t, cookie, "/campaigns/"+itoa(c.ID)+"?list=complained")
	if !strings.Contains(page, `href="/contacts/`+itoa(ct.ID)+`"`) {
		t.Error("the complained list does not show the contact")
	}
}

func TestSettingsPageListsBounceWebhooksAndTheSoftBouncePolicy(t *testing.T) {
	f := newFixture(t)
	d := f.srv.d
	d.Settings.Bounces = BounceSettings{SoftBounceLimit: 3, SoftBounceWindow: "30 days", Webhooks: []WebhookSetting{
		{Provider: "SendGrid", URL: "https://h.example/webhooks/bounces/sendgrid", Configured: true, Env: "HERALD_SENDGRID_WEBHOOK_KEY", Verified: "Signed Event Webhook (ECDSA)"},
		{Provider: "Mailgun", URL: "https://h.example/webhooks/bounces/mailgun", Env: "HERALD_MAILGUN_SIGNING_KEY", Verified: "HMAC"},
	}}
	srv, err := New(d, f.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = srv.Handler()
	cookie, _ := f.login(t)
	page := f.page(t, cookie, "/settings")
	for _, want := range []string{
		`<h2 class="first">Bounces and complaints</h2>`,
		"3 soft bounces within 30 days do too",
		`<dt>SendGrid</dt>
    <dd><span class="mono">https://h.example/webhooks/bounces/sendgrid</span>`,
		`<span class="chip">on</span>`,
		`<span class="chip muted-chip">off</span> <span class="muted">(set HERALD_MAILGUN_SIGNING_KEY)</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
}
