package bounces

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"herald/internal/errs"
)

// Fetcher GETs a URL and returns its body. The SES endpoint fetches SNS
// signing certificates and confirms subscriptions through it.
type Fetcher func(ctx context.Context, url string) ([]byte, error)

// HTTPFetcher fetches with c, refusing answers other than 200 and bodies
// over 64 KB (a certificate is about 2 KB).
func HTTPFetcher(c *http.Client) Fetcher {
	return func(ctx context.Context, u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
}

// snsHost is the only kind of host SNS certificates and subscription
// confirmations are fetched from: anything else in a message is refused,
// so a forged message cannot make Herald trust its own certificate or
// fetch an address of its choosing.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

func checkSNSURL(raw, what string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || !snsHost.MatchString(u.Host) || u.User != nil {
		return signatureError("%s is not an https URL on sns.REGION.amazonaws.com", what)
	}
	return nil
}

// SES reads Amazon SES bounce and complaint notifications delivered by SNS
// (HTTPS subscription, raw message delivery off). Each SNS message is
// verified against its signing certificate (SignatureVersion 1,
// SHA1withRSA, or 2, SHA256withRSA); a subscription confirmation is
// verified and then confirmed. Topics, when given, are the only topic
// ARNs accepted.
type SES struct {
	Enabled bool
	Topics  []string
	fetch   Fetcher

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// NewSES returns the SES endpoint; fetch is how certificates are fetched
// and subscriptions confirmed.
func NewSES(enabled bool, topics []string, fetch Fetcher) *SES {
	return &SES{Enabled: enabled, Topics: topics, fetch: fetch, certs: map[string]*x509.Certificate{}}
}

type snsMessage struct {
	Type             string  `json:"Type"`
	MessageID        string  `json:"MessageId"`
	Token            string  `json:"Token"`
	TopicArn         string  `json:"TopicArn"`
	Subject          *string `json:"Subject"`
	Message          string  `json:"Message"`
	Timestamp        string  `json:"Timestamp"`
	SignatureVersion string  `json:"SignatureVersion"`
	Signature        string  `json:"Signature"`
	SigningCertURL   string  `json:"SigningCertURL"`
	SubscribeURL     string  `json:"SubscribeURL"`
}

// stringToSign is the text SNS signs, as AWS documents it per message type.
func (m snsMessage) stringToSign() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == "Notification" {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// Parse verifies the SNS message, confirms a subscription, and reads a
// notification's bounce or complaint.
func (s *SES) Parse(ctx context.Context, req Request) ([]Report, error) {
	if s == nil || !s.Enabled {
		return nil, ErrNotConfigured
	}
	var m snsMessage
	if err := looseJSON(req.Body, &m); err != nil {
		return nil, err
	}
	switch m.Type {
	case "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation":
	default:
		return nil, errs.Invalid("Type", "is not an SNS message type: %q", m.Type)
	}
	if err := s.verify(ctx, m); err != nil {
		return nil, err
	}
	if len(s.Topics) > 0 && !slices.Contains(s.Topics, m.TopicArn) {
		return nil, signatureError("topic %s is not one HERALD_SES_WEBHOOK allows", m.TopicArn)
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if err := checkSNSURL(m.SubscribeURL, "SubscribeURL"); err != nil {
			return nil, err
		}
		if _, err := s.fetch(ctx, m.SubscribeURL); err != nil {
			return nil, fmt.Errorf("bounces: confirm the SNS subscription: %w", err)
		}
		return nil, nil
	case "UnsubscribeConfirmation":
		return nil, nil
	}
	return parseSESNotification(m.Message)
}

func (s *SES) verify(ctx context.Context, m snsMessage) error {
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return signatureError("SignatureVersion %q is not 1 or 2", m.SignatureVersion)
	}
	if err := checkSNSURL(m.SigningCertURL, "SigningCertURL"); err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return signatureError("the Signature is not base64")
	}
	cert, err := s.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return signatureError("the signing certificate has no RSA key")
	}
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(m.stringToSign()))
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(m.stringToSign()))
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return signatureError("the SNS signature does not match")
	}
	return nil
}

// maxCerts bounds the certificate cache; SNS uses one per region at a time.
const maxCerts = 32

func (s *SES) cert(ctx context.Context, u string) (*x509.Certificate, error) {
	s.mu.Lock()
	c, ok := s.certs[u]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	body, err := s.fetch(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("bounces: fetch the SNS signing certificate: %w", err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		return nil, signatureError("the signing certificate is not PEM")
	}
	c, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, signatureError("the signing certificate cannot be read")
	}
	if now := time.Now(); now.After(c.NotAfter) || now.Before(c.NotBefore) {
		return nil, signatureError("the signing certificate has expired or is not yet valid")
	}
	s.mu.Lock()
	if len(s.certs) >= maxCerts {
		clear(s.certs)
	}
	s.certs[u] = c
	s.mu.Unlock()
	return c, nil
}

type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
		Timestamp  time.Time `json:"timestamp"`
		FeedbackID string    `json:"feedbackId"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		Timestamp             time.Time `json:"timestamp"`
		FeedbackID            string    `json:"feedbackId"`
		ComplaintFeedbackType string    `json:"complaintFeedbackType"`
	} `json:"complaint"`
	Mail struct {
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// messageID is the original message's Message-ID: from the headers SES
// kept, else its common headers.
func (n sesNotification) messageID() string {
	for _, h := range n.Mail.Headers {
		if strings.EqualFold(h.Name, "Message-ID") {
			return strings.Trim(strings.TrimSpace(h.Value), "<>")
		}
	}
	return strings.Trim(strings.TrimSpace(n.Mail.CommonHeaders.MessageID), "<>")
}

func parseSESNotification(msg string) ([]Report, error) {
	var n sesNotification
	if err := looseJSON([]byte(msg), &n); err != nil {
		if ie, ok := errs.AsInvalid(err); ok {
			return nil, errs.Invalid(strings.TrimSuffix("Message."+ie.Path, "."), "%s", ie.Message)
		}
		return nil, err
	}
	typ := n.NotificationType
	if typ == "" {
		typ = n.EventType // SES event publishing names it so
	}
	mid := n.messageID()
	var out []Report
	switch typ {
	case "Bounce":
		b := n.Bounce
		if b == nil {
			return nil, errs.Invalid("Message.bounce", "is missing")
		}
		kind := Soft // Transient, and Undetermined: SES could not tell
		if b.BounceType == "Permanent" {
			kind = Hard
		}
		for i, r := range b.BouncedRecipients {
			if strings.TrimSpace(r.EmailAddress) == "" {
				return nil, errs.Invalid(fmt.Sprintf("Message.bounce.bouncedRecipients[%d].emailAddress", i), "is missing")
			}
			diag := r.DiagnosticCode
			if diag == "" {
				diag = strings.TrimSpace(b.BounceType + " " + b.BounceSubType + " " + r.Status)
			}
			out = append(out, Report{Kind: kind, Email: r.EmailAddress, MessageID: mid, Diagnostic: diag, Source: SourceSES,
				ProviderID: b.FeedbackID + ":" + strings.ToLower(r.EmailAddress), OccurredAt: b.Timestamp})
		}
	case "Complaint":
		c := n.Complaint
		if c == nil {
			return nil, errs.Invalid("Message.complaint", "is missing")
		}
		if c.ComplaintFeedbackType == "not-spam" {
			return nil, nil // the person says it is not spam
		}
		for i, r := range c.ComplainedRecipients {
			if strings.TrimSpace(r.EmailAddress) == "" {
				return nil, errs.Invalid(fmt.Sprintf("Message.complaint.complainedRecipients[%d].emailAddress", i), "is missing")
			}
			out = append(out, Report{Kind: Complaint, Email: r.EmailAddress, MessageID: mid, Diagnostic: c.ComplaintFeedbackType, Source: SourceSES,
				ProviderID: c.FeedbackID + ":" + strings.ToLower(r.EmailAddress), OccurredAt: c.Timestamp})
		}
	case "":
		return nil, errs.Invalid("Message.notificationType", "is missing")
	}
	// Deliveries and the other event types are not reports of ours.
	return out, nil
}
