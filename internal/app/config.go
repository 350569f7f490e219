package app

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"herald/bounces"
	"herald/campaigns"
	"herald/contacts"
	"herald/segments"
	"herald/tracking"
	"herald/web"
)

// Config is Herald's configuration: environment variables, each mirrored
// by a flag that overrides it.
type Config struct {
	DatabaseURL       string
	RedisURL          string // empty: embedded
	SMTPURL           string // empty: embedded capture
	HTTPAddr          string
	BaseURL           string
	Secret            string
	AdminEmail        string
	AdminPassword     string
	APIKey            string
	SendRate          float64
	WorkerConcurrency int
	SMTPPool          int
	DKIMDomain        string
	DKIMSelector      string
	DKIMKeyFile       string
	// FeedbackIDSender replaces the sender domain in the Feedback-ID
	// header (campaigns.Service.FeedbackID).
	FeedbackIDSender string
	LogLevel         string
	NoWorker         bool
	// EventsCreateContacts makes POST /api/events create contacts for
	// unknown emails instead of rejecting those events.
	EventsCreateContacts bool
	// Currency is the store currency (ISO 4217, checked here in any case
	// and spacing; contacts.NewStore normalises it): event amounts,
	// total_spent and campaign revenue are in it; events in another
	// currency are refused.
	Currency        string
	AttributionDays int
	RefreshEvery    string
	// FrequencyCap is "N/DURATION" such as "3/7d": no contact gets more
	// than N marketing messages per DURATION; automation messages over it
	// wait. Empty turns it off.
	FrequencyCap string
	// DefaultTimezone is where contacts without a time zone live.
	DefaultTimezone string
	// AppleNetworks and ScannerNetworks are comma-separated CIDR ranges
	// whose tracking hits are machines' (opens only, for Apple's privacy
	// proxy); ScannerAgents adds user-agent fragments of link scanners.
	AppleNetworks   string
	ScannerNetworks string
	ScannerAgents   string
	// EmbeddedRedisAddr and EmbeddedSMTPAddr are where the embedded
	// servers listen (any free loopback port by default).
	EmbeddedRedisAddr string
	EmbeddedSMTPAddr  string
	// TrustedProxies are CIDR ranges whose X-Forwarded-For is believed.
	TrustedProxies string
	// MetricsToken guards /metrics; MetricsAddr serves it on its own
	// listen address instead of the public one.
	MetricsToken string
	MetricsAddr  string
	// Bounce and complaint webhooks: each provider's is on when its
	// secret or key is set. SESWebhook is "on" (any topic) or the topic
	// ARNs allowed, comma separated.
	SESWebhook              string
	SendGridWebhookKey      string
	MailgunSigningKey       string
	PostmarkWebhookUser     string
	PostmarkWebhookPassword string
	PostmarkWebhookSecret   string
	BounceWebhookSecret     string
	// SoftBounceLimit soft bounces within SoftBounceWindow suppress an
	// address; 0 never does.
	SoftBounceLimit  int
	SoftBounceWindow string
	// ReturnPath is the bounce address: each delivery's envelope sender
	// becomes its VERP form (bounces+TOKEN@domain). Empty leaves the
	// envelope sender the campaign's From address.
	ReturnPath string
	// BounceMailbox is the IMAP mailbox where bounces and feedback reports
	// arrive (imaps://user:pass@host:993/INBOX); BouncePoll is how often
	// it is read. Empty reads none.
	BounceMailbox string
	BouncePoll    string
	// Args are the arguments after the flags (import's file).
	Args []string

	// What Validate derives from the settings above, typed.
	smtpURLs []string
	cap      campaigns.CapConfig
	zone     *time.Location
	refresh  time.Duration
	networks *tracking.Networks
	trusted  []netip.Prefix
	// bounceMailbox is nil without HERALD_BOUNCE_MAILBOX.
	bounceMailbox *bounces.MailboxSettings
	bouncePoll    time.Duration
	webhooks      webhookConfig
}

// webhookConfig is what Validate derives from the webhook settings.
type webhookConfig struct {
	ses       bool
	sesTopics []string
	sendgrid  bounces.SendGrid
	soft      bounces.SoftBouncePolicy
}

type envFlag struct {
	env, flag, usage string
	str              *string
	num              *float64
	integer          *int
	boolean          *bool
	def              string
}

func (c *Config) vars() []envFlag {
	return []envFlag{
		{env: "HERALD_DATABASE_URL", flag: "database-url", usage: "sqlite://FILE or postgres://...", str: &c.DatabaseURL, def: "sqlite://herald.db"},
		{env: "HERALD_REDIS_URL", flag: "redis-url", usage: "redis://host:6379/0 (empty: embedded)", str: &c.RedisURL},
		{env: "HERALD_SMTP_URL", flag: "smtp-url", usage: "smtp://user:pass@host:587?tls=starttls, comma separated for several (empty: embedded capture)", str: &c.SMTPURL},
		{env: "HERALD_HTTP_ADDR", flag: "http-addr", usage: "address the web server listens on", str: &c.HTTPAddr, def: "127.0.0.1:8080"},
		{env: "HERALD_BASE_URL", flag: "base-url", usage: "public URL used in tracking links (default http://HTTP_ADDR)", str: &c.BaseURL},
		{env: "HERALD_SECRET", flag: "secret", usage: "HMAC key for tokens (generated and stored once if unset)", str: &c.Secret},
		{env: "HERALD_ADMIN_EMAIL", flag: "admin-email", usage: "email to log in with", str: &c.AdminEmail, def: "admin@example.com"},
		{env: "HERALD_ADMIN_PASSWORD", flag: "admin-password", usage: "password to log in with (generated and printed once if unset)", str: &c.AdminPassword},
		{env: "HERALD_API_KEY", flag: "api-key", usage: "API key (generated and printed once if unset)", str: &c.APIKey},
		{env: "HERALD_SEND_RATE", flag: "send-rate", usage: "messages per second across all workers, 0 = unlimited", num: &c.SendRate, def: "0"},
		{env: "HERALD_WORKER_CONCURRENCY", flag: "worker-concurrency", usage: "send tasks run at once per worker process", integer: &c.WorkerConcurrency, def: "8"},
		{env: "HERALD_SMTP_POOL", flag: "smtp-pool", usage: "SMTP connections kept per server per process", integer: &c.SMTPPool, def: "8"},
		{env: "HERALD_DKIM_DOMAIN", flag: "dkim-domain", usage: "DKIM signing domain (d=)", str: &c.DKIMDomain},
		{env: "HERALD_DKIM_SELECTOR", flag: "dkim-selector", usage: "DKIM selector (s=)", str: &c.DKIMSelector},
		{env: "HERALD_DKIM_KEY_FILE", flag: "dkim-key-file", usage: "DKIM private key, PEM (RSA or Ed25519)", str: &c.DKIMKeyFile},
		{env: "HERALD_FEEDBACK_ID_SENDER", flag: "feedback-id-sender", usage: "sender field of the Feedback-ID header (default: the campaign's From domain)", str: &c.FeedbackIDSender},
		{env: "HERALD_EVENTS_CREATE_CONTACTS", flag: "events-create-contacts", usage: "events for unknown emails create the contact (true) or are rejected (false)", boolean: &c.EventsCreateContacts, def: "false"},
		{env: "HERALD_CURRENCY", flag: "currency", usage: "store currency (ISO 4217) of every amount: events in another currency are refused", str: &c.Currency, def: contacts.DefaultCurrency},
		{env: "HERALD_ATTRIBUTION_DAYS", flag: "attribution-days", usage: "days after a click in which a purchase counts as a campaign's revenue", integer: &c.AttributionDays, def: "5"},
		{env: "HERALD_SEGMENT_REFRESH", flag: "segment-refresh", usage: "how often every segment is recomputed in full (Go duration)", str: &c.RefreshEvery, def: "24h"},
		{env: "HERALD_FREQUENCY_CAP", flag: "frequency-cap", usage: "at most N messages per contact per period, e.g. 3/7d (empty: no cap)", str: &c.FrequencyCap},
		{env: "HERALD_DEFAULT_TIMEZONE", flag: "default-timezone", usage: "time zone of contacts whose own is unknown (birthday sends at their local hour)", str: &c.DefaultTimezone, def: "UTC"},
		{env: "HERALD_APPLE_PROXY_NETWORKS", flag: "apple-proxy-networks", usage: "CIDR ranges, comma separated, whose opens are Apple Mail Privacy Protection's (machine opens)", str: &c.AppleNetworks, def: tracking.DefaultAppleNetworks},
		{env: "HERALD_SCANNER_NETWORKS", flag: "scanner-networks", usage: "CIDR ranges, comma separated, whose opens and clicks are link scanners' (machine)", str: &c.ScannerNetworks},
		{env: "HERALD_SCANNER_AGENTS", flag: "scanner-agents", usage: "user-agent fragments, comma separated, of link scanners (added to the built-in list)", str: &c.ScannerAgents},
		{env: "HERALD_TRUSTED_PROXIES", flag: "trusted-proxies", usage: "CIDR ranges or addresses, comma separated, of reverse proxies whose X-Forwarded-For is believed (empty: none)", str: &c.TrustedProxies},
		{env: "HERALD_METRICS_TOKEN", flag: "metrics-token", usage: "bearer token that /metrics asks for (without it or HERALD_METRICS_ADDR, /metrics is off)", str: &c.MetricsToken},
		{env: "HERALD_METRICS_ADDR", flag: "metrics-addr", usage: "separate address to serve /metrics on, e.g. 127.0.0.1:9090 (then never on HERALD_HTTP_ADDR)", str: &c.MetricsAddr},
		{env: "HERALD_SES_WEBHOOK", flag: "ses-webhook", usage: "on, or the SNS topic ARNs (comma separated) whose SES bounce and complaint notifications are taken at /webhooks/bounces/ses (empty: off)", str: &c.SESWebhook},
		{env: "HERALD_SENDGRID_WEBHOOK_KEY", flag: "sendgrid-webhook-key", usage: "SendGrid's signed event webhook verification key (base64); turns on /webhooks/bounces/sendgrid", str: &c.SendGridWebhookKey},
		{env: "HERALD_MAILGUN_SIGNING_KEY", flag: "mailgun-signing-key", usage: "Mailgun's HTTP webhook signing key; turns on /webhooks/bounces/mailgun", str: &c.MailgunSigningKey},
		{env: "HERALD_POSTMARK_WEBHOOK_USER", flag: "postmark-webhook-user", usage: "basic auth user Postmark's webhook URL carries (with HERALD_POSTMARK_WEBHOOK_PASSWORD)", str: &c.PostmarkWebhookUser},
		{env: "HERALD_POSTMARK_WEBHOOK_PASSWORD", flag: "postmark-webhook-password", usage: "basic auth password of Postmark's webhook URL", str: &c.PostmarkWebhookPassword},
		{env: "HERALD_POSTMARK_WEBHOOK_SECRET", flag: "postmark-webhook-secret", usage: "secret path segment of Postmark's webhook URL (/webhooks/bounces/postmark/SECRET), at least 16 characters", str: &c.PostmarkWebhookSecret},
		{env: "HERALD_BOUNCE_WEBHOOK_SECRET", flag: "bounce-webhook-secret", usage: "HMAC-SHA256 key of the generic JSON webhook /webhooks/bounces/generic, at least 16 characters", str: &c.BounceWebhookSecret},
		{env: "HERALD_SOFT_BOUNCE_LIMIT", flag: "soft-bounce-limit", usage: "soft bounces within the window that suppress an address (0: never)", integer: &c.SoftBounceLimit, def: "3"},
		{env: "HERALD_SOFT_BOUNCE_WINDOW", flag: "soft-bounce-window", usage: "window in which soft bounces are counted, e.g. 30d", str: &c.SoftBounceWindow, def: "30d"},
		{env: "HERALD_RETURN_PATH", flag: "return-path", usage: "bounce address, e.g. bounces@shop.example: each message's envelope sender becomes bounces+TOKEN@shop.example, naming its delivery (empty: the From address)", str: &c.ReturnPath},
		{env: "HERALD_BOUNCE_MAILBOX", flag: "bounce-mailbox", usage: "IMAP mailbox of bounces and feedback reports, imaps://user:pass@host:993/INBOX (?move=Folder moves what was read; empty: none)", str: &c.BounceMailbox},
		{env: "HERALD_BOUNCE_POLL", flag: "bounce-poll", usage: "how often workers read the bounce mailbox (Go duration)", str: &c.BouncePoll, def: "1m"},
		{env: "HERALD_LOG_LEVEL", flag: "log-level", usage: "debug, info, warn or error", str: &c.LogLevel, def: "info"},
		{env: "HERALD_EMBEDDED_REDIS_ADDR", flag: "embedded-redis-addr", usage: "where the embedded Redis listens", str: &c.EmbeddedRedisAddr, def: "127.0.0.1:0"},
		{env: "HERALD_EMBEDDED_SMTP_ADDR", flag: "embedded-smtp-addr", usage: "where the embedded SMTP capture listens", str: &c.EmbeddedSMTPAddr, def: "127.0.0.1:0"},
	}
}

// Bind defines on fs a flag for every setting, whose default is its
// HERALD_* variable's value when that is set. A variable that is not a
// number where one is needed is refused here, naming it.
func (c *Config) Bind(fs *flag.FlagSet) error {
	for _, v := range c.vars() {
		val := v.def
		if e, ok := os.LookupEnv(v.env); ok {
			val = e
		}
		usage := fmt.Sprintf("%s [$%s]", v.usage, v.env)
		switch {
		case v.str != nil:
			fs.StringVar(v.str, v.flag, val, usage)
		case v.num != nil:
			f, err := strconv.ParseFloat(strings.TrimSpace(orDefault(val, "0")), 64)
			if err != nil || f < 0 {
				return fmt.Errorf("%s: %q is not a number of messages per second", v.env, val)
			}
			fs.Float64Var(v.num, v.flag, f, usage)
		case v.boolean != nil:
			b, err := strconv.ParseBool(strings.TrimSpace(orDefault(val, "false")))
			if err != nil {
				return fmt.Errorf("%s: %q is not true or false", v.env, val)
			}
			fs.BoolVar(v.boolean, v.flag, b, usage)
		case v.integer != nil:
			n, err := strconv.Atoi(strings.TrimSpace(orDefault(val, "0")))
			if err != nil || n < 0 {
				return fmt.Errorf("%s: %q is not a whole number", v.env, val)
			}
			fs.IntVar(v.integer, v.flag, n, usage)
		}
	}
	return nil
}

// Validate checks the settings and derives their typed forms; every error
// names the variable at fault. A command calls it after parsing its flags
// to refuse a bad setting before doing anything, and New calls it again,
// so a setting changed in between (a benchmark pointing Herald at its own
// SMTP sink) is what New builds from.
func (c *Config) Validate() error {
	if c.Currency != "" && !contacts.ValidCurrency(c.Currency) {
		return fmt.Errorf("HERALD_CURRENCY: %q is not an ISO 4217 code such as EUR or USD", c.Currency)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.HTTPAddr
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Secret != "" && len(c.Secret) < 16 {
		return errors.New("HERALD_SECRET must be at least 16 characters")
	}
	if c.FeedbackIDSender != "" && !campaigns.ValidFeedbackIDSender(c.FeedbackIDSender) {
		return fmt.Errorf("HERALD_FEEDBACK_ID_SENDER %q: use up to 64 printable ASCII characters without colons or spaces", c.FeedbackIDSender)
	}
	c.smtpURLs = nil
	for _, u := range strings.Split(c.SMTPURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.smtpURLs = append(c.smtpURLs, u)
		}
	}
	n, w, err := c.frequencyCap()
	if err != nil {
		return err
	}
	c.cap = campaigns.CapConfig{Messages: n, Window: w}
	if c.zone, err = time.LoadLocation(orDefault(c.DefaultTimezone, "UTC")); err != nil {
		return fmt.Errorf("HERALD_DEFAULT_TIMEZONE %q is not an IANA time zone", c.DefaultTimezone)
	}
	c.refresh = 0
	if c.RefreshEvery != "" {
		d, err := time.ParseDuration(c.RefreshEvery)
		if err != nil || d < time.Minute {
			return fmt.Errorf("HERALD_SEGMENT_REFRESH %q: give a duration of a minute or more, such as 24h", c.RefreshEvery)
		}
		c.refresh = d
	}
	if c.networks, err = tracking.NewNetworks(c.AppleNetworks, c.ScannerNetworks); err != nil {
		return err
	}
	c.ReturnPath = strings.TrimSpace(c.ReturnPath)
	if c.ReturnPath != "" {
		if err := tracking.CheckReturnPath(c.ReturnPath); err != nil {
			return fmt.Errorf("HERALD_RETURN_PATH: %w", err)
		}
	}
	c.bounceMailbox = nil
	if strings.TrimSpace(c.BounceMailbox) != "" {
		set, err := bounces.ParseMailboxURL(c.BounceMailbox)
		if err != nil {
			return fmt.Errorf("HERALD_BOUNCE_MAILBOX: %w", err)
		}
		c.bounceMailbox = &set
	}
	c.bouncePoll = 0
	if c.BouncePoll != "" {
		d, err := time.ParseDuration(c.BouncePoll)
		if err != nil || d < 10*time.Second {
			return fmt.Errorf("HERALD_BOUNCE_POLL %q: give a duration of 10 seconds or more, such as 1m", c.BouncePoll)
		}
		c.bouncePoll = d
	}
	if c.trusted, err = web.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("HERALD_TRUSTED_PROXIES: %w", err)
	}
	return c.validateWebhooks()
}

// validateWebhooks checks the bounce webhook settings.
func (c *Config) validateWebhooks() error {
	w := webhookConfig{}
	switch v := strings.TrimSpace(c.SESWebhook); strings.ToLower(v) {
	case "", "off", "false":
	case "on", "true":
		w.ses = true
	default:
		w.ses = true
		for _, arn := range strings.Split(v, ",") {
			arn = strings.TrimSpace(arn)
			if !strings.HasPrefix(arn, "arn:aws") || strings.Count(arn, ":") != 5 {
				return fmt.Errorf("HERALD_SES_WEBHOOK: %q is not on, off or an SNS topic ARN such as arn:aws:sns:eu-west-1:123456789012:ses-bounces", arn)
			}
			w.sesTopics = append(w.sesTopics, arn)
		}
	}
	var err error
	if w.sendgrid, err = bounces.NewSendGrid(c.SendGridWebhookKey); err != nil {
		return fmt.Errorf("HERALD_SENDGRID_WEBHOOK_KEY: %w", err)
	}
	if (c.PostmarkWebhookUser == "") != (c.PostmarkWebhookPassword == "") {
		return errors.New("HERALD_POSTMARK_WEBHOOK_USER and HERALD_POSTMARK_WEBHOOK_PASSWORD are set together")
	}
	if c.PostmarkWebhookSecret != "" && (len(c.PostmarkWebhookSecret) < 16 || strings.ContainsAny(c.PostmarkWebhookSecret, "/?#% ")) {
		return errors.New("HERALD_POSTMARK_WEBHOOK_SECRET must be at least 16 characters, without / ? # % or spaces")
	}
	if c.BounceWebhookSecret != "" && len(c.BounceWebhookSecret) < 16 {
		return errors.New("HERALD_BOUNCE_WEBHOOK_SECRET must be at least 16 characters")
	}
	w.soft = bounces.SoftBouncePolicy{Limit: c.SoftBounceLimit, Window: bounces.DefaultSoftBouncePolicy.Window}
	if strings.TrimSpace(c.SoftBounceWindow) != "" {
		d, err := segments.ParseDuration(c.SoftBounceWindow)
		if err != nil || d <= 0 {
			return fmt.Errorf("HERALD_SOFT_BOUNCE_WINDOW %q: give a period such as 30d or 72h", c.SoftBounceWindow)
		}
		w.soft.Window = d
	}
	c.webhooks = w
	return nil
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// SMTPURLs are the servers of HERALD_SMTP_URL (after Validate).
func (c *Config) SMTPURLs() []string { return c.smtpURLs }

// frequencyCap parses HERALD_FREQUENCY_CAP.
func (c *Config) frequencyCap() (int, time.Duration, error) {
	if strings.TrimSpace(c.FrequencyCap) == "" {
		return 0, 0, nil
	}
	n, per, ok := strings.Cut(c.FrequencyCap, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count < 1 {
		return 0, 0, fmt.Errorf("HERALD_FREQUENCY_CAP %q: use N/PERIOD such as 3/7d", c.FrequencyCap)
	}
	d, err := segments.ParseDuration(per)
	if err != nil {
		return 0, 0, fmt.Errorf("HERALD_FREQUENCY_CAP %q: %w", c.FrequencyCap, err)
	}
	return count, d, nil
}
