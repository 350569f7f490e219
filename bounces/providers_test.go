package bounces_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/textproto"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"herald/bounces"
	"herald/contacts"
	"herald/internal/errs"
)

// The addresses of the providers' documented samples.
const (
	jane    = "jane@example.com"
	mary    = "mary@example.com"
	richard = "richard@example.com"
)

// Test keys, made once per test binary.
var (
	testKeysOnce sync.Once
	snsKey       *rsa.PrivateKey
	snsCertPEM   []byte
	sgKey        *ecdsa.PrivateKey
)

const snsCertURL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"

func testKeys(t testing.TB) {
	t.Helper()
	testKeysOnce.Do(func() {
		var err error
		if snsKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &snsKey.PublicKey, snsKey)
		if err != nil {
			panic(err)
		}
		snsCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if sgKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// fetcher serves the test certificate and records every URL fetched.
type fetcher struct {
	mu  sync.Mutex
	got []string
}

func (f *fetcher) fetch(_ context.Context, u string) ([]byte, error) {
	f.mu.Lock()
	f.got = append(f.got, u)
	f.mu.Unlock()
	if u == snsCertURL {
		return snsCertPEM, nil
	}
	if strings.HasPrefix(u, "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription") {
		return []byte("<ConfirmSubscriptionResponse/>"), nil
	}
	return nil, fmt.Errorf("no such test URL %s", u)
}

// snsEnvelope wraps an SES notification in an SNS message signed as AWS
// documents: the listed keys and values, each followed by a newline.
func snsEnvelope(t testing.TB, typ, message, version string, mutate func(map[string]string)) []byte {
	return snsEnvelopeWith(t, typ, message, version, nil, mutate)
}

// snsEnvelopeWith changes the message with before, signs it, and then
// changes it with after.
func snsEnvelopeWith(t testing.TB, typ, message, version string, before, after func(map[string]string)) []byte {
	t.Helper()
	m := map[string]string{
		"Type": typ, "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-bounces", "Message": message,
		"Timestamp": "2026-03-10T11:59:00.000Z", "SignatureVersion": version, "SigningCertURL": snsCertURL,
	}
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if typ != "Notification" {
		m["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
		m["SubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:ses-bounces&Token=2336412f37"
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	if before != nil {
		before(m)
	}
	var b strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, snsKey, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, snsKey, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	if after != nil {
		after(m)
	}
	out, _ := json.Marshal(m)
	return out
}

func sendgridRequest(t testing.TB, body []byte, ts string) bounces.Request {
	t.Helper()
	d := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, sgKey, d[:])
	if err != nil {
		t.Fatal(err)
	}
	h := textproto.MIMEHeader{}
	h.Set(bounces.SendGridSignatureHeader, base64.StdEncoding.EncodeToString(sig))
	h.Set(bounces.SendGridTimestampHeader, ts)
	return bounces.Request{Header: h, Body: body}
}

func sendgridProvider(t testing.TB) bounces.SendGrid {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&sgKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p, err := bounces.NewSendGrid(base64.StdEncoding.EncodeToString(der))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var mailgunKey = []byte("key-test-mailgun-signing")

// mailgunSign replaces the sample's signature by one made with the test
// key at ts.
func mailgunSign(t testing.TB, sample []byte, ts time.Time, token string) []byte {
	return mailgunSignWith(t, sample, ts, token, mailgunKey)
}

func mailgunSignWith(t testing.TB, sample []byte, ts time.Time, token string, key []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sample, &m); err != nil {
		t.Fatal(err)
	}
	sec := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(sec + token))
	m["signature"] = map[string]any{"timestamp": sec, "token": token, "signature": hex.EncodeToString(mac.Sum(nil))}
	out, _ := json.Marshal(m)
	return out
}

var genericSecret = []byte("a generic webhook secret")

func genericRequest(body []byte, secret []byte) bounces.Request {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	h := textproto.MIMEHeader{}
	h.Set(bounces.GenericSignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	return bounces.Request{Header: h, Body: body}
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// providerCase is one provider's documented sample: a valid request, a
// forged one, and a malformed but properly authenticated one.
type providerCase struct {
	name      string
	provider  bounces.Provider
	valid     bounces.Request
	forged    []bounces.Request
	malformed bounces.Request
	want      []bounces.Report
	result    bounces.Result
	status    map[string]contacts.Status
}

func providerCases(t *testing.T, w *sentWorld) []providerCase {
	testKeys(t)
	mid := func(email string) string { return w.Svc.MessageID(w.campaign.ID, w.deliveries[email].ID) }
	withMID := func(name, email string) []byte {
		return []byte(strings.ReplaceAll(string(sample(t, name)), "custom-message-ID", mid(email)))
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	f := &fetcher{}
	ses := bounces.NewSES(true, nil, f.fetch)
	sesBounce := snsEnvelope(t, "Notification", string(withMID("ses-bounce.json", jane)), "1", nil)
	sesComplaint := snsEnvelope(t, "Notification", string(withMID("ses-complaint.json", richard)), "2", nil)

	sg := sendgridProvider(t)
	sgBody := withMID("sendgrid-events.json", jane)

	now := testNow
	mg := bounces.Mailgun{SigningKey: mailgunKey, Now: func() time.Time { return now }, Tokens: bounces.NewTokens(w.DB)}
	mgFailed := mailgunSign(t, withMID("mailgun-failed.json", jane), now.Add(-time.Minute), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0")
	mgComplained := mailgunSign(t, withMID("mailgun-complained.json", richard), now.Add(-time.Minute), "b9df1fec3ee9412eff7d3516346695f56bb02e2f0a080a4ef1")

	pm := bounces.Postmark{User: "postmark", Password: "hook-password"}
	pmPath := bounces.Postmark{PathSecret: "s3cret-path-segment"}
	pmBounce := withMID("postmark-bounce.json", jane)
	pmComplaint := withMID("postmark-spamcomplaint.json", richard)

	gen := bounces.Generic{Secret: genericSecret}
	genBody := withMID("generic.json", jane)

	tampered := func(r bounces.Request) bounces.Request {
		r.Body = []byte(strings.Replace(string(r.Body), "jane", "jana", 1))
		return r
	}
	headerWith := func(r bounces.Request, k, v string) bounces.Request {
		h := textproto.MIMEHeader{}
		for key, vals := range r.Header {
			h[key] = vals
		}
		h.Set(k, v)
		r.Header = h
		return r
	}
	sgValid := sendgridRequest(t, sgBody, "1741600000")
	return []providerCase{
		{
			name: "SES bounce, SignatureVersion 1", provider: ses,
			valid: bounces.Request{Body: sesBounce},
			forged: []bounces.Request{
				{Body: snsEnvelope(t, "Notification", string(withMID("ses-bounce.json", jane)), "1", func(m map[string]string) { m["Message"] = strings.Replace(m["Message"], "Permanent", "Transient", 1) })},
				{Body: snsEnvelope(t, "Notification", string(withMID("ses-bounce.json", jane)), "1", func(m map[string]string) {
					m["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem"
				})},
				{Body: snsEnvelope(t, "Notification", string(withMID("ses-bounce.json", jane)), "1", func(m map[string]string) {
					m["SigningCertURL"] = "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
				})},
				{Body: snsEnvelope(t, "Notification", string(withMID("ses-bounce.json", jane)), "1", func(m map[string]string) { m["SignatureVersion"] = "3" })},
			},
			malformed: bounces.Request{Body: snsEnvelope(t, "Notification", `{"notificationType": "Bounce", "bounce": {"bouncedRecipients": "jane"}}`, "1", nil)},
			want: []bounces.Report{{Kind: bounces.Hard, Email: jane, MessageID: mid(jane), Diagnostic: "smtp; 550 5.1.1 <jane@example.com>... User", Source: "ses",
				ProviderID: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000:jane@example.com", OccurredAt: at("2016-01-27T14:59:38.237Z")}},
			result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1},
			status: map[string]contacts.Status{jane: contacts.Bounced, mary: contacts.Subscribed},
		},
		{
			name: "SES complaint, SignatureVersion 2", provider: ses,
			valid:     bounces.Request{Body: sesComplaint},
			forged:    []bounces.Request{tampered(bounces.Request{Body: []byte(strings.Replace(string(sesComplaint), "abuse", "fraud", 1))})},
			malformed: bounces.Request{Body: []byte(`{"Type": "Notification", "Message": `)},
			want: []bounces.Report{{Kind: bounces.Complaint, Email: richard, MessageID: mid(richard), Diagnostic: "abuse", Source: "ses",
				ProviderID: "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000:richard@example.com", OccurredAt: at("2016-01-27T14:59:38.237Z")}},
			result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1},
			status: map[string]contacts.Status{richard: contacts.Complained},
		},
		{
			name: "SendGrid events", provider: sg,
			valid: sgValid,
			forged: []bounces.Request{
				tampered(sgValid),
				headerWith(sgValid, bounces.SendGridTimestampHeader, "1741600001"),
				headerWith(sgValid, bounces.SendGridSignatureHeader, ""),
			},
			malformed: sendgridRequest(t, []byte(`[{"email": "jane@example.com", "event": "bounce", "timestamp": "yesterday"}]`), "1741600000"),
			want: []bounces.Report{
				{Kind: bounces.Hard, Email: jane, MessageID: mid(jane), Diagnostic: "5.0.0 500 unknown recipient", Source: "sendgrid", ProviderID: "6g4ZI7SA-xmRDv57GoPIPw==", OccurredAt: time.Unix(1513299569, 0).UTC()},
				{Kind: bounces.Soft, Email: mary, MessageID: "14c5d75ce93.dfd.64b469@ismtpd-555", Diagnostic: "5.7.1 550 5.7.1 blocked by the receiving server's policy", Source: "sendgrid", ProviderID: "DbIHO6W8SKW7Yr5c8sU8Aw==", OccurredAt: time.Unix(1513299569, 0).UTC()},
				{Kind: bounces.Complaint, Email: richard, MessageID: "14c5d75ce93.dfd.64b469@ismtpd-555", Source: "sendgrid", ProviderID: "37nvH5QBz858KGVYCM4uOA==", OccurredAt: time.Unix(1513299569, 0).UTC()},
			},
			result: bounces.Result{Received: 3, Recorded: 3, Suppressed: 2},
			status: map[string]contacts.Status{jane: contacts.Bounced, mary: contacts.Subscribed, richard: contacts.Complained},
		},
		{
			name: "Mailgun permanent failure", provider: mg,
			valid: bounces.Request{Body: mgFailed},
			forged: []bounces.Request{
				{Body: []byte(strings.Replace(string(mgFailed), `"token":"a8ce`, `"token":"b8ce`, 1))},
				{Body: withMID("mailgun-failed.json", jane)}, // the docs' own signature: another key, and from 2018
				{Body: mailgunSign(t, withMID("mailgun-failed.json", jane), now.Add(-16*time.Minute), "an-old-token")},
			},
			malformed: bounces.Request{Body: mailgunSign(t, []byte(`{"event-data": {"event": "failed", "severity": "sometimes", "recipient": "jane@example.com"}}`), now, "tok")},
			want: []bounces.Report{{Kind: bounces.Hard, Email: jane, MessageID: mid(jane), Diagnostic: "550 No Such User Here Not delivering to previously bounced address", Source: "mailgun",
				ProviderID: "G9Bn5sl1TC6nu79C8C0bwg", OccurredAt: time.Unix(1521233195, 375624000).UTC()}},
			result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1},
			status: map[string]contacts.Status{jane: contacts.Bounced},
		},
		{
			name: "Mailgun complaint", provider: mg,
			valid:     bounces.Request{Body: mgComplained},
			forged:    []bounces.Request{{Body: mailgunSignWith(t, withMID("mailgun-complained.json", richard), now, "tok", []byte("another key"))}},
			malformed: bounces.Request{Body: []byte(`{"signature": 12}`)},
			want: []bounces.Report{{Kind: bounces.Complaint, Email: richard, MessageID: mid(richard), Source: "mailgun",
				ProviderID: "-Agny091SquKnsrW2NEKUA", OccurredAt: time.Unix(1521233123, 501324000).UTC()}},
			result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1},
			status: map[string]contacts.Status{richard: contacts.Complained},
		},
		{
			name: "Postmark bounce, basic auth", provider: pm,
			valid: bounces.Request{Body: pmBounce, User: "postmark", Password: "hook-password", HasAuth: true},
			forged: []bounces.Request{
				{Body: pmBounce, User: "postmark", Password: "hook-passwore", HasAuth: true},
				{Body: pmBounce},
				{Body: pmBounce, PathSecret: "hook-password"},
			},
			malformed: bounces.Request{Body: []byte(`{"RecordType": "Bounce", "Type": "HardBounce", "Email": "jane@example.com", "BouncedAt": "last week"}`), User: "postmark", Password: "hook-password", HasAuth: true},
			want: []bounces.Report{{Kind: bounces.Hard, Email: jane, MessageID: mid(jane), Diagnostic: "Test bounce details (The server was unable to deliver your message (ex: unknown user, mailbox not found).)", Source: "postmark",
				ProviderID: "Bounce:4323372036854775807", OccurredAt: at("2019-11-05T16:33:54.9070259Z")}},
			result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1},
			status: map[string]contacts.Status{jane: contacts.Bounced},
		},
		{
			name: "Postmark spam complaint, secret path", provider: pmPath,
			valid:     bounces.Request{Body: pmComplaint, PathSecret: "s3cret-path-segment"},
			forged:    []bounces.Request{{Body: pmComplaint, PathSecret: "s3cret-path-segmenT"}, {Body: pmComplaint, User: "postmark", Password: "s3cret-path-segment", HasAuth: true}},
			malformed: bounces.Request{Body: []byte(`{"RecordType": "SpamComplaint"}`), PathSecret: "s3cret-path-segment"},
			want: []bounces.Report{{Kind: bounces.Complaint, Email: richard, MessageID: mid(richard), Diagnostic: "Test spam complaint details", Source: "postmark",
				ProviderID: "SpamComplaint:42", OccurredAt: at("2019-11-05T16:33:54.9070259Z")}},
			result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1},
			status: map[string]contacts.Status{richard: contacts.Complained},
		},
		{
			name: "generic JSON", provider: gen,
			valid:     genericRequest(genBody, genericSecret),
			forged:    []bounces.Request{genericRequest(genBody, []byte("another secret")), tampered(genericRequest(genBody, genericSecret)), {Body: genBody}},
			malformed: genericRequest([]byte(`[{"type": "bounce", "email": "jane@example.com", "hard": "yes"}]`), genericSecret),
			want: []bounces.Report{
				{Kind: bounces.Hard, Email: jane, MessageID: mid(jane), Diagnostic: "550 5.1.1 user unknown", Source: "webhook", ProviderID: "mta-1"},
				{Kind: bounces.Soft, Email: mary, Diagnostic: "452 4.2.2 mailbox full", Source: "webhook", ProviderID: "mta-2", OccurredAt: at("2026-03-10T11:00:00Z")},
				{Kind: bounces.Complaint, Email: richard, Source: "webhook", ProviderID: "mta-3"},
			},
			result: bounces.Result{Received: 3, Recorded: 3, Suppressed: 2},
			status: map[string]contacts.Status{jane: contacts.Bounced, mary: contacts.Subscribed, richard: contacts.Complained},
		},
	}
}

// newSampleWorld is a campaign sent to the addresses of the samples.
func newSampleWorld(t *testing.T) *sentWorld {
	return newSentWorldTo(t, []string{jane, mary, richard}, bounces.DefaultSoftBouncePolicy)
}

func TestProvidersRecordTheirDocumentedSamplesOnceAndRefuseForgeries(t *testing.T) {
	names := map[string]bool{}
	for _, tc := range providerCases(t, newSampleWorld(t)) {
		names[tc.name] = true
	}
	for name := range names {
		t.Run(name, func(t *testing.T) {
			w := newSampleWorld(t)
			var tc providerCase
			for _, c := range providerCases(t, w) {
				if c.name == name {
					tc = c
				}
			}
			ctx := context.Background()
			for i, req := range tc.forged {
				if _, err := tc.provider.Parse(ctx, req); !errors.Is(err, bounces.ErrSignature) {
					t.Errorf("forged request %d: err = %v, want a signature error", i, err)
				}
			}
			if _, err := tc.provider.Parse(ctx, tc.malformed); err == nil {
				t.Errorf("malformed body accepted")
			} else if _, ok := errs.AsInvalid(err); !ok {
				t.Errorf("malformed body: err = %v, want an invalid-input error", err)
			}
			reps, err := tc.provider.Parse(ctx, tc.valid)
			if err != nil {
				t.Fatalf("valid request: %v", err)
			}
			if !reflect.DeepEqual(reps, tc.want) {
				t.Fatalf("reports\n got %+v\nwant %+v", reps, tc.want)
			}
			if got := w.record(t, reps...); got != tc.result {
				t.Errorf("recorded %+v, want %+v", got, tc.result)
			}
			for email, want := range tc.status {
				if st := w.contact(t, email).Status; st != want {
					t.Errorf("%s is %s, want %s", email, st, want)
				}
			}
			// The same request again (a provider's retry or a replay).
			again, err := tc.provider.Parse(ctx, tc.valid)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			want := bounces.Result{Received: tc.result.Received, Duplicates: tc.result.Recorded}
			if got := w.record(t, again...); got != want {
				t.Errorf("replay recorded %+v, want %+v", got, want)
			}
		})
	}
}

func TestUnconfiguredProvidersRefuseEveryRequest(t *testing.T) {
	for name, p := range map[string]bounces.Provider{
		"ses": bounces.NewSES(false, nil, nil), "sendgrid": bounces.SendGrid{}, "mailgun": bounces.Mailgun{},
		"postmark": bounces.Postmark{User: "only-a-user"}, "generic": bounces.Generic{},
	} {
		if _, err := p.Parse(context.Background(), bounces.Request{Body: []byte(`{}`)}); !errors.Is(err, bounces.ErrNotConfigured) {
			t.Errorf("%s: err = %v, want not configured", name, err)
		}
	}
}

func TestSESConfirmsSubscriptionsOnlyOnSNSAndOnlyForAllowedTopics(t *testing.T) {
	testKeys(t)
	ctx := context.Background()
	confirm := snsEnvelope(t, "SubscriptionConfirmation", "You have chosen to subscribe to the topic arn:aws:sns:eu-west-1:123456789012:ses-bounces.", "1", nil)
	offSNS := snsEnvelopeWith(t, "SubscriptionConfirmation", "subscribe", "1", func(m map[string]string) {
		m["SubscribeURL"] = "https://internal.example/?Action=ConfirmSubscription"
	}, nil)
	cases := []struct {
		name      string
		topics    []string
		body      []byte
		confirmed bool
		err       error
	}{
		{"any topic", nil, confirm, true, nil},
		{"an allowed topic", []string{"arn:aws:sns:eu-west-1:123456789012:ses-bounces"}, confirm, true, nil},
		{"another topic", []string{"arn:aws:sns:eu-west-1:123456789012:other"}, confirm, false, bounces.ErrSignature},
		{"a SubscribeURL off SNS", nil, offSNS, false, bounces.ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fetcher{}
			_, err := bounces.NewSES(true, tc.topics, f.fetch).Parse(ctx, bounces.Request{Body: tc.body})
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			confirmed := false
			for _, u := range f.got {
				if strings.Contains(u, "Action=ConfirmSubscription") {
					confirmed = true
				}
			}
			if confirmed != tc.confirmed {
				t.Errorf("confirmed = %v, want %v (fetched %v)", confirmed, tc.confirmed, f.got)
			}
		})
	}
}

func TestMailgunRefusesASignatureReusedOnAnotherBody(t *testing.T) {
	w := newSampleWorld(t)
	mg := bounces.Mailgun{SigningKey: mailgunKey, Now: func() time.Time { return testNow }, Tokens: bounces.NewTokens(w.DB)}
	body := mailgunSign(t, sample(t, "mailgun-failed.json"), testNow.Add(-time.Minute), "token-once")
	ctx := context.Background()
	for i := 0; i < 2; i++ { // the request, then the same request again
		if reps, err := mg.Parse(ctx, bounces.Request{Body: body}); err != nil || len(reps) != 1 || reps[0].Email != jane {
			t.Fatalf("request %d: %v %+v", i+1, err, reps)
		}
	}
	// The captured signature on a body naming someone else.
	other := []byte(strings.Replace(string(body), `"recipient":"jane@example.com"`, `"recipient":"mary@example.com"`, 1))
	if string(other) == string(body) {
		t.Fatal("the test did not change the recipient")
	}
	if _, err := mg.Parse(ctx, bounces.Request{Body: other}); !errors.Is(err, bounces.ErrSignature) {
		t.Errorf("another body with the same token: err = %v, want a signature error", err)
	}
}
