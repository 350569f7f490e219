// Package web is Herald's HTTP adapter: the JSON API under /api, the
// public tracking and unsubscribe endpoints, health and metrics, and the
// marketer's pages. Handlers decode, call the domain packages and encode;
// they hold no business rules.
package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/login"
	"herald/internal/metrics"
	"herald/internal/settings"
	"herald/outbox"
	"herald/privacy"
	"herald/reports"
	"herald/segments"
	"herald/tracking"
)

// HitSink makes tracking hits durable (tracking.Ingest does, in Redis).
type HitSink interface {
	Add(ctx context.Context, h tracking.Hit) error
}

// Deps are what the handlers call.
type Deps struct {
	Contacts    *contacts.Store
	Segments    *segments.Service
	Campaigns   *campaigns.Service
	Reports     *reports.Service
	Automations *automations.Service
	Signer      *tracking.Signer
	Hits        HitSink
	// Networks classifies the networks tracking hits come from (Apple's
	// privacy proxy, scanners); nil classifies none.
	Networks *tracking.Networks
	// Mailer sends test messages at once.
	Mailer campaigns.Mailer
	// Outbox is the embedded SMTP capture's store; nil when Herald sends
	// through a real server (the Outbox page then says so).
	Outbox  *outbox.Store
	Metrics *metrics.Registry
	// Sessions keeps the marketer's logins on the server; without it
	// nobody can log in to the pages (the API still takes its key).
	Sessions *login.Sessions
	// Throttle counts login attempts across processes; nil counts none.
	Throttle *login.Throttle
	// Credentials check and change the API key and admin password; when
	// nil, the fixed hashes of Config are used and cannot be changed.
	Credentials *settings.Credentials
	// Settings describe the configuration in force for the Settings page.
	Settings SettingsView
	// Privacy exports and erases a person's data.
	Privacy *privacy.Service
	// Bounces are the providers' bounce and complaint webhooks; nil
	// answers 404 on every one.
	Bounces *BounceWebhooks
	// Health lists what /healthz checks (the database, Redis).
	Health []HealthCheck
	Log    *slog.Logger
}

// Config holds the credentials and settings of the web tier.
type Config struct {
	// APIKeySHA256 is the SHA-256 of the API key.
	APIKeySHA256 []byte
	AdminEmail   string
	// AdminPasswordBcrypt is the bcrypt hash of the admin password.
	AdminPasswordBcrypt []byte
	// SessionKey signs session cookies and CSRF tokens.
	SessionKey []byte
	// SecureCookies marks cookies Secure (when the base URL is https).
	SecureCookies bool
	BaseURL       string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (HERALD_TRUSTED_PROXIES); none by default.
	TrustedProxies []netip.Prefix
	// MetricsToken is the bearer token /metrics asks for; without it and
	// without MetricsSeparate, /metrics is not served.
	MetricsToken string
	// MetricsSeparate serves /metrics only from MetricsHandler, on a
	// listen address of its own, never on the public one.
	MetricsSeparate bool
}

// Server holds the router and its dependencies.
type Server struct {
	d      Deps
	cfg    Config
	creds  *settings.Credentials
	log    *slog.Logger
	engine *gin.Engine
	pages  map[string]*template.Template
	links  *linkCache
	// views limits the public web view per token and per address.
	views  *windowLimiter
	tstats trackStats
}

//go:embed ui/templates/*.html
var templateFS embed.FS

//go:embed ui/static
var staticFS embed.FS

// New builds the server. Page templates are parsed here, so a broken
// template stops start-up instead of failing a request later.
func New(d Deps, cfg Config) (*Server, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.NewRegistry()
	}
	if len(cfg.SessionKey) < 16 {
		return nil, fmt.Errorf("web: session key too short")
	}
	s := &Server{d: d, cfg: cfg, creds: d.Credentials, log: d.Log, links: newLinkCache(linkCacheSize, campaignLinkLoader(d.Campaigns)),
		views: newWindowLimiter(viewWindow, viewLimiterMaxKey)}
	if s.creds == nil {
		s.creds = settings.NewCredentials(nil, cfg.APIKeySHA256, cfg.AdminPasswordBcrypt)
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	s.engine = s.routes()
	return s, nil
}

// Handler is the http.Handler of the whole site.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	// gin believes X-Forwarded-For from anyone unless told otherwise;
	// c.ClientIP must agree with clientAddr.
	proxies := make([]string, len(s.cfg.TrustedProxies))
	for i, p := range s.cfg.TrustedProxies {
		proxies[i] = p.String()
	}
	if err := r.SetTrustedProxies(proxies); err != nil {
		s.log.Error("web: trusted proxies", "err", err)
	}
	// Multipart parts beyond this go to a temporary file; only the CSV
	// import takes files, and it streams them instead.
	r.MaxMultipartMemory = 1 << 20
	r.Use(s.recoverer(), s.observe(), securityHeaders())
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			c.PureJSON(http.StatusNotFound, errorBody("no such endpoint", ""))
			return
		}
		c.String(http.StatusNotFound, "Not found")
	})

	r.GET("/healthz", s.healthz)
	r.GET("/metrics", s.metricsHandler)

	// Public endpoints: the token is the authorisation.
	r.GET("/t/o/:token", s.trackOpen)
	r.HEAD("/t/o/:token", s.trackOpen)
	r.GET("/t/c/:token", s.trackClick)
	r.HEAD("/t/c/:token", s.trackClick)
	r.GET("/u/:token", s.unsubscribePage)
	// RFC 8058 allows one-click unsubscribes as multipart forms, so the
	// unsubscribe page takes them, but only small ones.
	r.POST("/u/:token", bodyLimit(64<<10), s.unsubscribePost)
	r.POST("/u/:token/resubscribe", bodyLimit(64<<10), s.resubscribePost)
	r.GET("/r/:token", s.confirmPage)
	r.POST("/r/:token", bodyLimit(64<<10), s.confirmPost)
	r.GET("/v/:token", s.webView)
	s.bounceRoutes(r)

	static, _ := fs.Sub(staticFS, "ui/static")
	files := http.FileServer(http.FS(static))
	serveStatic := func(c *gin.Context) {
		// Files only: a folder is not listed.
		name := strings.TrimPrefix(c.Param("path"), "/")
		if st, err := fs.Stat(static, name); err != nil || st.IsDir() {
			c.String(http.StatusNotFound, "Not found")
			return
		}
		c.Header("Cache-Control", "no-cache")
		c.Request.URL.Path = "/" + name
		files.ServeHTTP(c.Writer, c.Request)
	}
	r.GET("/static/*path", serveStatic)
	r.HEAD("/static/*path", serveStatic)

	// Pages.
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/dashboard") })
	r.GET("/login", s.loginPage)
	r.POST("/login", bodyLimit(maxLoginFormBytes), s.loginPost)
	r.POST("/logout", bodyLimit(maxLoginFormBytes), s.logoutPost)
	ui := r.Group("/", bodyLimit(1<<20), s.requireSession())
	ui.GET("/dashboard", s.dashboardPage)
	ui.GET("/contacts", s.contactsPage)
	ui.GET("/contacts/new", s.newContactPage)
	ui.POST("/contacts/new", s.newContactPost)
	ui.GET("/contacts/:id", s.contactPage)
	ui.POST("/contacts/:id", s.contactPost)
	ui.POST("/contacts/:id/status", s.contactStatusPost)
	ui.POST("/contacts/:id/delete", s.contactDeletePost)
	ui.POST("/contacts/:id/erase", s.contactErasePost)
	s.importPageRoutes(ui)
	s.segmentPageRoutes(ui)
	ui.GET("/campaigns", s.campaignsPage)
	ui.GET("/campaigns/:id", s.campaignPage)
	s.campaignEditorRoutes(ui)
	s.campaignPageRoutes(ui)
	s.couponPageRoutes(r, ui)
	s.automationPageRoutes(ui)
	ui.GET("/settings", s.settingsPage)
	ui.POST("/settings/api-key", s.rotateAPIKeyPost)
	ui.POST("/settings/password", s.passwordPost)
	ui.GET("/settings/fields", s.fieldsPage)
	ui.POST("/settings/fields", s.fieldCreatePost)
	ui.POST("/settings/fields/:id/delete", s.fieldDeletePost)
	ui.GET("/outbox", s.outboxPage)
	ui.GET("/outbox/:id", s.outboxMessagePage)

	// CSV imports may be large and slow: their own body limit, no deadline.
	r.POST("/api/contacts/import", s.requireAPIAuth(), bodyLimit(1<<30), s.importContacts)

	api := r.Group("/api", s.requireAPIAuth(), bodyLimit(32<<20))
	api.GET("/contacts", s.listContacts)
	api.POST("/contacts", s.createContacts)
	api.GET("/contacts/:id", s.getContact)
	api.PATCH("/contacts/:id", s.patchContact)
	api.DELETE("/contacts/:id", s.deleteContact)
	api.GET("/contacts/:id/events", s.contactEvents)
	api.POST("/contacts/:id/resubscribe", s.resubscribeContact)
	api.GET("/contacts/:id/export", s.exportContact)
	api.POST("/contacts/:id/erase", s.eraseContact)
	api.POST("/contacts/import/preview", s.previewImport)

	api.POST("/events", s.createEvents)

	api.GET("/custom-fields", s.listFields)
	api.POST("/custom-fields", s.createField)
	api.DELETE("/custom-fields/:id", s.deleteField)

	api.GET("/segments", s.listSegments)
	api.POST("/segments", s.createSegment)
	api.POST("/segments/preview", s.previewSegment)
	api.GET("/segments/templates", s.segmentTemplates)
	api.GET("/segments/fields", s.segmentFields)
	api.GET("/segments/:id", s.getSegment)
	api.PATCH("/segments/:id", s.patchSegment)
	api.DELETE("/segments/:id", s.deleteSegment)
	api.POST("/segments/:id/refresh", s.refreshSegment)
	api.GET("/segments/:id/members", s.segmentMembers)

	api.GET("/campaigns", s.listCampaigns)
	api.POST("/campaigns", s.createCampaign)
	api.POST("/campaigns/audience", s.campaignAudience)
	api.GET("/campaigns/:id", s.getCampaign)
	api.PATCH("/campaigns/:id", s.patchCampaign)
	api.DELETE("/campaigns/:id", s.deleteCampaign)
	api.POST("/campaigns/:id/preview", s.previewCampaign)
	api.POST("/campaigns/:id/test", s.testCampaign)
	api.POST("/campaigns/:id/send", s.sendCampaign)
	api.POST("/campaigns/:id/pause", s.pauseCampaign)
	api.POST("/campaigns/:id/resume", s.resumeCampaign)
	api.POST("/campaigns/:id/cancel", s.cancelCampaign)
	api.GET("/campaigns/:id/stats", s.campaignStats)
	api.GET("/campaigns/:id/activity", s.campaignActivity)
	api.GET("/campaigns/:id/people", s.campaignPeople)
	api.POST("/campaigns/:id/resend-unknown", s.campaignResendUnknown)
	api.POST("/campaigns/:id/resend", s.resendCampaign)
	api.POST("/campaigns/:id/winner", s.pickCampaignWinner)

	api.GET("/automations", s.listFlows)
	api.POST("/automations", s.createFlow)
	api.GET("/automations/:id", s.getFlow)
	api.PATCH("/automations/:id", s.patchFlow)
	api.DELETE("/automations/:id", s.deleteFlow)
	api.POST("/automations/:id/enable", s.enableFlow)
	api.POST("/automations/:id/disable", s.disableFlow)
	api.GET("/automations/:id/stats", s.flowStats)
	api.GET("/automations/:id/runs", s.flowRuns)

	api.GET("/templates", s.listTemplates)
	api.GET("/templates/:key", s.getTemplate)
	api.GET("/coupons", s.listCouponPools)
	api.POST("/coupons/:pool", s.addCoupons)

	api.GET("/outbox", s.listOutbox)
	api.GET("/outbox/:id", s.getOutboxMessage)
	return r
}

func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if rec := recover(); rec != nil {
				s.log.Error("web: panic", "route", c.FullPath(), "panic", fmt.Sprint(rec))
				if strings.HasPrefix(c.Request.URL.Path, "/api/") {
					c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody("internal error", ""))
				} else {
					c.AbortWithStatus(http.StatusInternalServerError)
				}
			}
		}()
		c.Next()
	}
}

// observe counts requests by route and status. Paths are not logged at
// info level: tokens and ids in them lead back to people.
func (s *Server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.d.Metrics.Inc("herald_http_requests_total", metrics.Labels{"route": route, "code": fmt.Sprint(c.Writer.Status())})
		s.d.Metrics.Observe("herald_http_request_seconds", metrics.Labels{"route": route}, time.Since(start).Seconds())
		s.log.Debug("web: request", "method", c.Request.Method, "route", route, "status", c.Writer.Status(), "ms", time.Since(start).Milliseconds())
	}
}

func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		c.Next()
	}
}

func bodyLimit(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// HealthCheck is one dependency /healthz reports on. Without a Critical
// one the web tier cannot answer anything (the database); without the
// others it answers what it can (pages and API reads without Redis), so
// it says degraded but stays in a load balancer's rotation.
type HealthCheck struct {
	Name     string
	Critical bool
	Check    func(ctx context.Context) error
}

// healthz answers 200 "ok" when every dependency answers, 200 "degraded"
// when only non-critical ones fail, and 503 "unavailable" when a critical
// one does. Reasons stay in the log: the endpoint is public.
func (s *Server) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	status, code := "ok", http.StatusOK
	checks := gin.H{}
	for _, h := range s.d.Health {
		if err := h.Check(ctx); err != nil {
			s.log.Warn("web: dependency not answering", "dependency", h.Name, "err", err)
			checks[h.Name] = "down"
			if h.Critical {
				status, code = "unavailable", http.StatusServiceUnavailable
			} else if code == http.StatusOK {
				status = "degraded"
			}
			continue
		}
		checks[h.Name] = "ok"
	}
	c.PureJSON(code, gin.H{"status": status, "checks": checks})
}
