package web

import (
	"errors"
	"net/http"
	"net/textproto"

	"github.com/gin-gonic/gin"

	"herald/bounces"
	"herald/internal/errs"
	"herald/internal/metrics"
)

// BounceWebhooks are the providers' bounce and complaint endpoints and
// the recorder they feed.
type BounceWebhooks struct {
	Recorder *bounces.Recorder
	// Providers by the last segment of their path: ses, sendgrid,
	// postmark, mailgun and generic. Each answers for itself whether it
	// is configured.
	Providers map[string]bounces.Provider
}

// BounceWebhookPaths are the endpoints by provider, as the Settings page
// and the README show them.
var BounceWebhookPaths = []struct{ Provider, Path string }{
	{"ses", "/webhooks/bounces/ses"},
	{"sendgrid", "/webhooks/bounces/sendgrid"},
	{"postmark", "/webhooks/bounces/postmark"},
	{"mailgun", "/webhooks/bounces/mailgun"},
	{"generic", "/webhooks/bounces/generic"},
}

func (s *Server) bounceRoutes(r *gin.Engine) {
	for _, p := range BounceWebhookPaths {
		r.POST(p.Path, bodyLimit(bounces.MaxBody), s.bounceWebhook(p.Provider))
	}
	// Postmark cannot sign its webhooks; a secret in the path is one of
	// its two ways of proving them.
	r.POST("/webhooks/bounces/postmark/:secret", bodyLimit(bounces.MaxBody), s.bounceWebhook("postmark"))
}

// bounceWebhook answers a provider's report: 401 when it does not prove
// its origin, 400 when its body cannot be read (nothing stored in either
// case), 404 when the provider is not configured, and otherwise 200 with
// what became of its reports.
func (s *Server) bounceWebhook(name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		var p bounces.Provider
		if s.d.Bounces != nil {
			p = s.d.Bounces.Providers[name]
		}
		if p == nil {
			c.PureJSON(http.StatusNotFound, errorBody("the "+name+" bounce webhook is not configured", ""))
			return
		}
		body, err := readBody(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		user, pass, hasAuth := c.Request.BasicAuth()
		req := bounces.Request{Header: textproto.MIMEHeader(c.Request.Header), Body: body, User: user, Password: pass, HasAuth: hasAuth, PathSecret: c.Param("secret")}
		reps, err := p.Parse(c.Request.Context(), req)
		if err != nil {
			s.bounceFail(c, name, err)
			return
		}
		res, err := s.d.Bounces.Recorder.Record(c.Request.Context(), reps)
		if err != nil {
			s.d.Metrics.Inc("herald_bounce_webhook_requests_total", metrics.Labels{"provider": name, "outcome": "error"})
			s.fail(c, err)
			return
		}
		s.d.Metrics.Inc("herald_bounce_webhook_requests_total", metrics.Labels{"provider": name, "outcome": "ok"})
		for outcome, n := range map[string]int{"recorded": res.Recorded, "duplicate": res.Duplicates, "unmatched": res.Unmatched} {
			if n > 0 {
				s.d.Metrics.Add("herald_bounce_reports_total", metrics.Labels{"provider": name, "outcome": outcome}, float64(n))
			}
		}
		c.PureJSON(http.StatusOK, res)
	}
}

func (s *Server) bounceFail(c *gin.Context, name string, err error) {
	outcome := "invalid"
	switch {
	case errors.Is(err, bounces.ErrNotConfigured):
		outcome = "not_configured"
		c.PureJSON(http.StatusNotFound, errorBody("the "+name+" bounce webhook is not configured", ""))
	case errors.Is(err, bounces.ErrSignature):
		outcome = "refused"
		// The reason names headers and hosts, never a person.
		s.log.Warn("web: bounce webhook refused", "provider", name, "reason", err.Error())
		if name == "postmark" {
			c.Header("WWW-Authenticate", `Basic realm="herald"`)
		}
		c.PureJSON(http.StatusUnauthorized, errorBody(unsignedMessage(name), ""))
	default:
		if _, ok := errs.AsInvalid(err); !ok {
			outcome = "error"
		}
		s.fail(c, err)
	}
	s.d.Metrics.Inc("herald_bounce_webhook_requests_total", metrics.Labels{"provider": name, "outcome": outcome})
}

// unsignedMessage answers a request whose signature or credentials do not
// match the webhook's configured ones, naming the webhook as the Settings
// page does ("the generic bounce webhook", not "signed by generic").
func unsignedMessage(provider string) string {
	return "the request's signature or credentials do not match those configured for the " + provider + " bounce webhook"
}
