package app

import (
	"strings"
	"testing"
	"time"
)

func TestValidateWebhookSettings(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Config)
		wantErr string
		check   func(t *testing.T, w webhookConfig)
	}{
		{"defaults", func(*Config) {}, "", func(t *testing.T, w webhookConfig) {
			if w.ses || w.sendgrid.Configured() || w.soft.Limit != 3 || w.soft.Window != 30*24*time.Hour {
				t.Errorf("defaults: %+v", w)
			}
		}},
		{"SES on", func(c *Config) { c.SESWebhook = "on" }, "", func(t *testing.T, w webhookConfig) {
			if !w.ses || len(w.sesTopics) != 0 {
				t.Errorf("ses %v topics %v", w.ses, w.sesTopics)
			}
		}},
		{"SES topics", func(c *Config) {
			c.SESWebhook = "arn:aws:sns:eu-west-1:123456789012:a, arn:aws:sns:us-east-1:123456789012:b"
		}, "", func(t *testing.T, w webhookConfig) {
			if !w.ses || len(w.sesTopics) != 2 || w.sesTopics[1] != "arn:aws:sns:us-east-1:123456789012:b" {
				t.Errorf("ses %v topics %v", w.ses, w.sesTopics)
			}
		}},
		{"SES nonsense", func(c *Config) { c.SESWebhook = "yes please" }, "HERALD_SES_WEBHOOK", nil},
		{"SendGrid key not base64", func(c *Config) { c.SendGridWebhookKey = "not base64!" }, "HERALD_SENDGRID_WEBHOOK_KEY", nil},
		{"Postmark user without password", func(c *Config) { c.PostmarkWebhookUser = "pm" }, "HERALD_POSTMARK_WEBHOOK_PASSWORD", nil},
		{"Postmark short path secret", func(c *Config) { c.PostmarkWebhookSecret = "short" }, "HERALD_POSTMARK_WEBHOOK_SECRET", nil},
		{"generic short secret", func(c *Config) { c.BounceWebhookSecret = "short" }, "HERALD_BOUNCE_WEBHOOK_SECRET", nil},
		{"soft window in hours", func(c *Config) { c.SoftBounceWindow = "72h"; c.SoftBounceLimit = 5 }, "", func(t *testing.T, w webhookConfig) {
			if w.soft.Limit != 5 || w.soft.Window != 72*time.Hour {
				t.Errorf("soft policy %+v", w.soft)
			}
		}},
		{"soft window nonsense", func(c *Config) { c.SoftBounceWindow = "soon" }, "HERALD_SOFT_BOUNCE_WINDOW", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{HTTPAddr: "127.0.0.1:8080", SoftBounceLimit: 3, SoftBounceWindow: "30d"}
			tc.edit(c)
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c.webhooks)
		})
	}
}

func TestBounceSettingsListEveryWebhookURLWithoutItsSecrets(t *testing.T) {
	c := &Config{HTTPAddr: "127.0.0.1:8080", BaseURL: "https://mail.shop.example/", SoftBounceLimit: 2, SoftBounceWindow: "7d",
		MailgunSigningKey: "mailgun-key-secret", PostmarkWebhookSecret: "postmark-path-secret-value", SESWebhook: "on"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := (&App{cfg: c}).bounceSettings()
	if s.SoftBounceLimit != 2 || s.SoftBounceWindow != "7 days" {
		t.Errorf("soft policy %d within %q", s.SoftBounceLimit, s.SoftBounceWindow)
	}
	want := []struct {
		url        string
		configured bool
	}{
		{"https://mail.shop.example/webhooks/bounces/ses", true},
		{"https://mail.shop.example/webhooks/bounces/sendgrid", false},
		{"https://mail.shop.example/webhooks/bounces/postmark/HERALD_POSTMARK_WEBHOOK_SECRET", true},
		{"https://mail.shop.example/webhooks/bounces/mailgun", true},
		{"https://mail.shop.example/webhooks/bounces/generic", false},
	}
	if len(s.Webhooks) != len(want) {
		t.Fatalf("%d webhooks, want %d", len(s.Webhooks), len(want))
	}
	for i, w := range want {
		got := s.Webhooks[i]
		if got.URL != w.url || got.Configured != w.configured {
			t.Errorf("%s: %s configured=%v, want %s %v", got.Provider, got.URL, got.Configured, w.url, w.configured)
		}
		for _, secret := range []string{"mailgun-key-secret", "postmark-path-secret-value"} {
			if strings.Contains(got.URL+got.Verified+got.Env, secret) {
				t.Errorf("%s shows a secret", got.Provider)
			}
		}
	}
}
