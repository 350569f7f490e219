// Package app wires Herald: it opens the database and Redis (or starts the
// embedded ones), builds every service from a validated Config, and hands
// the web tier and the worker what they need. cmd/herald holds the
// commands and flags; the commands build an App and run its parts.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"herald/automations"
	"herald/bounces"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/embedredis"
	"herald/internal/login"
	"herald/internal/metrics"
	"herald/internal/settings"
	"herald/outbox"
	"herald/privacy"
	"herald/reports"
	"herald/segments"
	"herald/smtp"
	"herald/tracking"
	"herald/web"
	"herald/worker"
)

// App is a wired Herald: every component built from the configuration,
// with the embedded servers started where nothing real was configured.
type App struct {
	cfg     *Config
	log     *slog.Logger
	out     io.Writer // where first-start credentials are printed
	DB      *gorm.DB
	Redis   redis.UniversalClient
	Metrics *metrics.Registry

	// EmbeddedRedis and Capture are the embedded Redis and SMTP capture,
	// nil where a real server is configured.
	EmbeddedRedis *embedredis.Server
	Capture       *outbox.Server
	Outbox        *outbox.Store
	asynqClient   *asynq.Client

	Settings *settings.Store
	Signer   *tracking.Signer
	// ReturnPath makes and reads VERP envelope senders; nil without
	// HERALD_RETURN_PATH.
	ReturnPath  *tracking.ReturnPath
	Contacts    *contacts.Store
	Segments    *segments.Service
	Campaigns   *campaigns.Service
	Reports     *reports.Service
	Automations *automations.Service
	Bounces     *bounces.Recorder
	Sender      *campaigns.Sender
	Mailer      *smtp.Mailer
	Ingest      *tracking.Ingest
	Worker      *worker.Worker
	Web         *web.Server

	// BounceMailbox reads bounces and complaints from
	// HERALD_BOUNCE_MAILBOX; nil without one.
	BounceMailbox *bounces.Mailbox

	closers []func()
}

// migrateLockKey is the PostgreSQL advisory lock (with the schema's hash
// as its second half) that serialises migrations: web and worker replicas
// starting together on a new database would otherwise race to create the
// same tables and fail.
const migrateLockKey = 0x48657261 // "Hera"

// Migrate creates or updates every table. The whole migration is one
// transaction: it commits or none of it does, and a second process waits
// for the first (an advisory lock on PostgreSQL, BEGIN IMMEDIATE's write
// lock on SQLite) and then finds the tables made.
func Migrate(g *gorm.DB) error {
	return g.Transaction(func(tx *gorm.DB) error {
		if db.IsPostgres(tx) {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", migrateLockKey).Error; err != nil {
				return fmt.Errorf("migrate: lock: %w", err)
			}
		}
		for _, m := range []func(*gorm.DB) error{settings.Migrate, login.Migrate, contacts.Migrate, segments.Migrate, campaigns.Migrate, automations.Migrate, outbox.Migrate, bounces.Migrate} {
			if err := m(tx); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		return nil
	})
}

// Options tune the wiring where the defaults are production's: Herald's
// own tests and benchmarks shorten the worker's periods and the claims.
type Options struct {
	WorkerConfig worker.Config
	ClaimSize    int
}

// New builds everything from cfg, which it validates first: withWeb adds
// the web tier, withWorker the task server. First-start credentials are
// printed to out.
func New(ctx context.Context, cfg *Config, log *slog.Logger, out io.Writer, withWeb, withWorker bool, opts Options) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, out: out, Metrics: metrics.NewRegistry()}
	// Sends take milliseconds to seconds; a greylisting server, up to the
	// timeout.
	a.Metrics.Buckets("herald_send_seconds", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30})
	// The returns below give a nil *App on error; close what was started
	// through the local, not the result.
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.DB, err = db.Open(ctx, cfg.DatabaseURL, log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() {
		if sqlDB, err := a.DB.DB(); err == nil {
			sqlDB.Close()
		}
	})
	if err = Migrate(a.DB); err != nil {
		return nil, err
	}
	a.Settings = settings.NewStore(a.DB)

	if err = a.openRedis(cfg); err != nil {
		return nil, err
	}
	a.Outbox = nil
	smtpURLs := cfg.SMTPURLs()
	if len(smtpURLs) == 0 {
		a.Outbox = outbox.NewStore(a.DB)
		if withWorker {
			if a.Capture, err = outbox.Start(cfg.EmbeddedSMTPAddr, a.Outbox, log); err != nil {
				return nil, err
			}
			a.closers = append(a.closers, func() { a.Capture.Close() })
			smtpURLs = []string{"smtp://" + a.Capture.Addr() + "?tls=none"}
		}
	}

	secret, err := a.secret(ctx)
	if err != nil {
		return nil, err
	}
	if a.Signer, err = tracking.NewSigner(secret); err != nil {
		return nil, err
	}
	a.asynqClient = asynq.NewClientFromRedisClient(a.Redis)
	a.closers = append(a.closers, func() { a.asynqClient.Close() })
	inspector := asynq.NewInspectorFromRedisClient(a.Redis)
	queue := worker.NewQueue(a.asynqClient, inspector)
	// Queue sizes and latency per asynq queue, read at each scrape.
	if err := a.Metrics.Register(asynqmetrics.NewQueueMetricsCollector(inspector)); err != nil {
		return nil, fmt.Errorf("herald: queue metrics: %w", err)
	}
	// Changes to contacts and their events re-evaluate just those contacts
	// against the segments that read what changed, on a worker; the
	// periodic refresh is the backstop if an enqueue fails.
	evaluate := func(ctx context.Context, ids []int64, fields []string) {
		if err := queue.EnqueueEvaluate(context.WithoutCancel(ctx), ids, fields); err != nil {
			log.Error("herald: enqueue segment evaluation", "contacts", len(ids), "err", err)
		}
	}
	a.Contacts = contacts.NewStore(a.DB, contacts.Options{OnChange: evaluate, CreateUnknown: cfg.EventsCreateContacts, Currency: cfg.Currency})
	zone := cfg.zone
	// "Birthday is today" in segments is today where contacts live by default.
	a.Segments = segments.NewService(a.DB, a.Contacts, nil, zone)
	u, _ := url.Parse(cfg.BaseURL)
	if cfg.ReturnPath != "" {
		if a.ReturnPath, err = tracking.NewReturnPath(secret, cfg.ReturnPath); err != nil {
			return nil, err
		}
	}
	a.Campaigns = campaigns.NewService(a.DB, a.Contacts, a.Segments, queue, a.Signer, campaigns.Config{
		BaseURL: cfg.BaseURL, MessageIDDomain: u.Hostname(), ReturnPath: a.ReturnPath, FeedbackIDSender: cfg.FeedbackIDSender, Log: log,
		PostmarkMetadata: bounces.Postmark{User: cfg.PostmarkWebhookUser, Password: cfg.PostmarkWebhookPassword, PathSecret: cfg.PostmarkWebhookSecret}.Configured(), ClaimSize: claimSize(cfg, opts),
		Attempts: worker.NewAttempts(a.Redis),
		Cap:      cfg.cap,
		Zone:     zone,
		OnDelivered: func(ctx context.Context, ids []int64) {
			evaluate(ctx, ids, []string{"deliveries"})
		},
	})
	a.Reports = reports.New(a.DB, a.Campaigns, a.Contacts, reports.Config{AttributionDays: cfg.AttributionDays})
	a.Bounces = bounces.NewRecorder(a.DB, a.Contacts, a.Campaigns, nil, cfg.webhooks.soft)
	if cfg.bounceMailbox != nil {
		a.BounceMailbox = bounces.NewMailbox(*cfg.bounceMailbox, a.Bounces, a.ReturnPath, log)
	}
	a.Automations = automations.NewService(a.DB, a.Contacts, a.Segments, a.Campaigns, a.Reports, automations.Config{Timezone: cfg.DefaultTimezone, Log: log})
	// The classifier looks up send times and earlier clicks per batch of
	// hits, in the consumer, never per request.
	classify := tracking.NewClassifier(tracking.ClassifierConfig{ExtraAgents: strings.Split(cfg.ScannerAgents, ",")}, a.Reports)
	a.Ingest = tracking.NewIngest(a.Redis, a.Contacts, classify, log)
	a.closers = append(a.closers, a.Ingest.Close)

	if len(smtpURLs) > 0 {
		a.Mailer, err = smtp.NewMailer(smtp.Config{
			URLs: smtpURLs, PoolSize: cfg.SMTPPool, Log: log,
			// One histogram gives both how long a message takes to hand
			// over and, by its code label, how servers answer.
			Observe: func(code int, took time.Duration) {
				a.Metrics.Observe("herald_send_seconds", metrics.Labels{"code": strconv.Itoa(code)}, took.Seconds())
			},
			DKIM: smtp.DKIMConfig{Domain: cfg.DKIMDomain, Selector: cfg.DKIMSelector, KeyFile: cfg.DKIMKeyFile},
		})
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.Mailer.Close)
	}

	if withWorker {
		if a.Mailer == nil {
			return nil, errors.New("herald: no SMTP server to send through")
		}
		var limiter campaigns.Limiter
		if cfg.SendRate > 0 {
			limiter = worker.NewRateLimiter(a.Redis, cfg.SendRate)
		}
		a.Sender = campaigns.NewSender(a.Campaigns, a.Mailer, limiter)
		wcfg := opts.WorkerConfig
		if wcfg.Concurrency == 0 {
			wcfg.Concurrency = cfg.WorkerConcurrency
		}
		if wcfg.RefreshEvery == 0 {
			wcfg.RefreshEvery = cfg.refresh
		}
		if wcfg.BouncesEvery == 0 {
			wcfg.BouncesEvery = cfg.bouncePoll
		}
		a.Worker = worker.New(worker.Deps{
			Redis: a.Redis, Campaigns: a.Campaigns, Reports: a.Reports, Automations: a.Automations, Sender: a.Sender, Segments: a.Segments, Ingest: a.Ingest, Bounces: a.BounceMailbox, Log: log,
		}, wcfg)
	}

	if withWeb {
		if err = a.buildWeb(ctx, secret); err != nil {
			return nil, err
		}
	}
	a.Metrics.Gauge("herald_tracking_hits_pending", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, _ := a.Ingest.Pending(ctx)
		return float64(n)
	})
	return a, nil
}

func (a *App) openRedis(cfg *Config) error {
	addrURL := cfg.RedisURL
	if addrURL == "" {
		srv, err := embedredis.Start(cfg.EmbeddedRedisAddr)
		if err != nil {
			return err
		}
		a.EmbeddedRedis = srv
		a.closers = append(a.closers, srv.Close)
		addrURL = srv.URL()
	}
	opt, err := redis.ParseURL(addrURL)
	if err != nil {
		return fmt.Errorf("herald: HERALD_REDIS_URL: %w", err)
	}
	if opt.Protocol == 0 {
		// RESP2 unless the URL asks otherwise (?protocol=3): Herald uses
		// no RESP3 push notifications, and on RESP3 the client looks for
		// pending ones around every command, about a fifth of the CPU of the
		// one Redis call each message makes.
		opt.Protocol = 2
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return fmt.Errorf("herald: connect to Redis at %s: %w", db.Redact(addrURL), err)
	}
	a.Redis = rdb
	a.closers = append(a.closers, func() { rdb.Close() })
	return nil
}

// secret returns HERALD_SECRET or the one generated at first start.
func (a *App) secret(ctx context.Context) ([]byte, error) {
	if a.cfg.Secret != "" {
		return []byte(a.cfg.Secret), nil
	}
	v, _, err := a.Settings.GetOrCreate(ctx, settings.KeySecret, func() (string, error) { return RandomHex(32), nil })
	if err != nil {
		return nil, err
	}
	return []byte(v), nil
}

func (a *App) buildWeb(ctx context.Context, secret []byte) error {
	apiHash, err := a.apiKeyHash(ctx)
	if err != nil {
		return err
	}
	pwHash, err := a.adminPassword(ctx)
	if err != nil {
		return err
	}
	sessionKey := sha256.Sum256(append([]byte("herald session v1|"), secret...))
	var mailer campaigns.Mailer
	if a.Mailer != nil {
		mailer = a.Mailer
	}
	nets := a.cfg.networks
	// Credentials from the environment are fixed; the others are read from
	// the settings table, where the Settings page can change them.
	var fixedKey, fixedPass []byte
	if a.cfg.APIKey != "" {
		fixedKey = apiHash
	}
	if a.cfg.AdminPassword != "" {
		fixedPass = pwHash
	}
	a.Web, err = web.New(web.Deps{
		Contacts: a.Contacts, Segments: a.Segments, Campaigns: a.Campaigns, Reports: a.Reports, Automations: a.Automations, Signer: a.Signer,
		Hits: a.Ingest, Networks: nets, Mailer: mailer, Outbox: a.Outbox, Metrics: a.Metrics, Log: a.log,
		Health:      a.healthChecks(),
		Privacy:     privacy.NewService(a.DB),
		Credentials: settings.NewCredentials(a.Settings, fixedKey, fixedPass),
		Sessions:    login.NewSessions(a.DB, login.DefaultTTL),
		Throttle:    login.NewThrottle(a.Redis),
		Settings:    a.settingsView(),
		Bounces:     a.bounceWebhooks(),
	}, web.Config{
		APIKeySHA256: apiHash, AdminEmail: a.cfg.AdminEmail, AdminPasswordBcrypt: pwHash,
		SessionKey: sessionKey[:], SecureCookies: len(a.cfg.BaseURL) > 8 && a.cfg.BaseURL[:8] == "https://",
		BaseURL: a.cfg.BaseURL, TrustedProxies: a.cfg.trusted,
		MetricsToken: a.cfg.MetricsToken, MetricsSeparate: a.cfg.MetricsAddr != "",
	})
	return err
}

// settingsView is what the Settings page shows of the configuration:
// nothing secret (SMTP servers by host only).
func (a *App) settingsView() web.SettingsView {
	v := web.SettingsView{
		Currency: a.Contacts.Currency(), DefaultTimezone: orDefault(a.cfg.DefaultTimezone, "UTC"), BaseURL: a.cfg.BaseURL,
		SendRate: a.cfg.SendRate, FrequencyCap: a.cfg.FrequencyCap, DKIMDomain: a.cfg.DKIMDomain,
		DatabaseKind: "SQLite", EmbeddedRedis: a.EmbeddedRedis != nil,
	}
	if db.IsPostgres(a.DB) {
		v.DatabaseKind = "PostgreSQL"
	}
	v.Bounces = a.bounceSettings()
	for _, raw := range a.cfg.SMTPURLs() {
		if u, err := url.Parse(raw); err == nil {
			v.SMTPHosts = append(v.SMTPHosts, u.Host)
		}
	}
	return v
}

// bounceWebhooks builds every provider's endpoint from the configuration;
// those without their secret answer 404.
func (a *App) bounceWebhooks() *web.BounceWebhooks {
	w := a.cfg.webhooks
	// SNS answers certificates and confirmations itself: a redirect is
	// refused rather than followed off its host.
	fetch := bounces.HTTPFetcher(&http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
	return &web.BounceWebhooks{
		Recorder: a.Bounces,
		Providers: map[string]bounces.Provider{
			"ses":      bounces.NewSES(w.ses, w.sesTopics, fetch),
			"sendgrid": w.sendgrid,
			"mailgun":  bounces.Mailgun{SigningKey: []byte(a.cfg.MailgunSigningKey), Tokens: bounces.NewTokens(a.DB)},
			"postmark": bounces.Postmark{User: a.cfg.PostmarkWebhookUser, Password: a.cfg.PostmarkWebhookPassword, PathSecret: a.cfg.PostmarkWebhookSecret},
			"generic":  bounces.Generic{Secret: []byte(a.cfg.BounceWebhookSecret)},
		},
	}
}

// bounceSettings lists the webhook URLs and whether each is configured,
// without any secret: where one goes in a URL, the variable holding it is
// named instead.
func (a *App) bounceSettings() web.BounceSettings {
	c, w := a.cfg, a.cfg.webhooks
	url := func(path string) string { return c.BaseURL + path }
	postmarkURL := url("/webhooks/bounces/postmark")
	postmarkVia := "HTTP basic auth in the URL (https://USER:PASSWORD@…)"
	if c.PostmarkWebhookSecret != "" {
		postmarkURL += "/HERALD_POSTMARK_WEBHOOK_SECRET"
		postmarkVia = "the secret path segment"
	}
	sesVia := "SNS message signature (certificate from sns.REGION.amazonaws.com), any topic"
	if len(w.sesTopics) > 0 {
		sesVia = "SNS message signature (certificate from sns.REGION.amazonaws.com), topics " + strings.Join(w.sesTopics, ", ")
	}
	window := w.soft.Window.String()
	if d := w.soft.Window; d%(24*time.Hour) == 0 {
		window = strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	var mailbox, poll, moveTo string
	if c.bounceMailbox != nil {
		mailbox, moveTo = c.bounceMailbox.Redacted(), c.bounceMailbox.MoveTo
		// 2m rather than 2m0s, 1h rather than 1h0m0s.
		poll = c.bouncePoll.String()
		if strings.HasSuffix(poll, "m0s") {
			poll = poll[:len(poll)-2]
		}
		if strings.HasSuffix(poll, "h0m") {
			poll = poll[:len(poll)-2]
		}
	}
	return web.BounceSettings{
		SoftBounceLimit: w.soft.Limit, SoftBounceWindow: window,
		Mailbox: mailbox, MailboxPoll: poll, MailboxMoveTo: moveTo, ReturnPath: c.ReturnPath,
		Webhooks: []web.WebhookSetting{
			{Provider: "Amazon SES", URL: url("/webhooks/bounces/ses"), Configured: w.ses, Env: "HERALD_SES_WEBHOOK", Verified: sesVia},
			{Provider: "SendGrid", URL: url("/webhooks/bounces/sendgrid"), Configured: w.sendgrid.Configured(), Env: "HERALD_SENDGRID_WEBHOOK_KEY", Verified: "Signed Event Webhook (ECDSA)"},
			{Provider: "Postmark", URL: postmarkURL, Configured: c.PostmarkWebhookSecret != "" || c.PostmarkWebhookUser != "", Env: "HERALD_POSTMARK_WEBHOOK_USER and _PASSWORD, or _SECRET", Verified: postmarkVia},
			{Provider: "Mailgun", URL: url("/webhooks/bounces/mailgun"), Configured: c.MailgunSigningKey != "", Env: "HERALD_MAILGUN_SIGNING_KEY", Verified: "HMAC signature with the webhook signing key, at most 15 minutes old"},
			{Provider: "Other (JSON)", URL: url("/webhooks/bounces/generic"), Configured: c.BounceWebhookSecret != "", Env: "HERALD_BOUNCE_WEBHOOK_SECRET", Verified: "X-Herald-Signature: sha256= and the HMAC-SHA256 of the body"},
		},
	}
}

// healthChecks are the dependencies /healthz reports on.
func (a *App) healthChecks() []web.HealthCheck {
	return []web.HealthCheck{
		{Name: "database", Critical: true, Check: func(ctx context.Context) error {
			sqlDB, err := a.DB.DB()
			if err != nil {
				return err
			}
			return sqlDB.PingContext(ctx)
		}},
		{Name: "redis", Check: func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() }},
	}
}

// apiKeyHash returns the hash of HERALD_API_KEY, or of the key generated
// (and printed) at first start.
func (a *App) apiKeyHash(ctx context.Context) ([]byte, error) {
	if a.cfg.APIKey != "" {
		sum := sha256.Sum256([]byte(a.cfg.APIKey))
		return sum[:], nil
	}
	var key string
	v, created, err := a.Settings.GetOrCreate(ctx, settings.KeyAPIKeyHash, func() (string, error) {
		key = "hk_" + RandomHex(20)
		sum := sha256.Sum256([]byte(key))
		return hex.EncodeToString(sum[:]), nil
	})
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(a.out, "API key (shown once; `herald apikey` makes a new one): %s\n", key)
	}
	return hex.DecodeString(v)
}

// adminPassword returns the bcrypt hash of HERALD_ADMIN_PASSWORD, or of
// the password generated (and printed) at first start.
func (a *App) adminPassword(ctx context.Context) ([]byte, error) {
	if a.cfg.AdminPassword != "" {
		return bcrypt.GenerateFromPassword([]byte(a.cfg.AdminPassword), bcrypt.DefaultCost)
	}
	var pass string
	v, created, err := a.Settings.GetOrCreate(ctx, settings.KeyAdminPassword, func() (string, error) {
		pass = RandomHex(8)
		h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
		return string(h), err
	})
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(a.out, "Admin login (shown once; `herald passwd` sets a new one): %s / %s\n", a.cfg.AdminEmail, pass)
	}
	return []byte(v), nil
}

// claimSize is how many deliveries a sender claims per database write.
// With Redis outside the process, the claim's Attempts record survives a
// dead worker and bounds what it leaves in doubt to one message per task,
// whatever the claim's size, so claims are large and writes few. The
// embedded Redis dies with the process and its records with it; then a
// claim is all in doubt and is kept small.
func claimSize(cfg *Config, opts Options) int {
	switch {
	case opts.ClaimSize > 0:
		return opts.ClaimSize
	case cfg.RedisURL != "":
		return 100
	default:
		return 10
	}
}

// Config is the configuration the App was built from.
func (a *App) Config() *Config { return a.cfg }

// Close stops everything New started, in reverse order.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// RandomHex returns n random bytes in hex, for keys and passwords.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
