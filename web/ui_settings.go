package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/internal/errs"
	"herald/internal/settings"
)

// SettingsView is the configuration in force, as the Settings page shows
// it: nothing secret.
type SettingsView struct {
	Currency        string
	DefaultTimezone string
	BaseURL         string
	// SMTPHosts are host:port of the SMTP servers, without credentials;
	// empty for the embedded capture.
	SMTPHosts     []string
	SendRate      float64
	FrequencyCap  string
	DKIMDomain    string
	DatabaseKind  string // SQLite or PostgreSQL
	EmbeddedRedis bool
	Bounces       BounceSettings
}

// BounceSettings are the bounce and complaint webhooks as the Settings
// page lists them, so a marketer can paste each URL into the provider.
type BounceSettings struct {
	Webhooks []WebhookSetting
	// SoftBounceLimit soft bounces within SoftBounceWindow suppress an
	// address; 0 never does.
	SoftBounceLimit  int
	SoftBounceWindow string
	// Mailbox is the bounce mailbox without its password, read every
	// MailboxPoll; empty when there is none.
	Mailbox     string
	MailboxPoll string
	// MailboxMoveTo is the folder processed messages go to; empty when
	// they are flagged where they are.
	MailboxMoveTo string
	// ReturnPath is HERALD_RETURN_PATH; empty when off.
	ReturnPath string
}

// WebhookSetting is one provider's endpoint: its full URL (with a
// placeholder where a secret goes), whether its secret is configured, the
// variables that configure it and how requests are checked.
type WebhookSetting struct {
	Provider   string
	URL        string
	Configured bool
	Env        string
	Verified   string
}

func (s *Server) settingsPage(c *gin.Context) {
	s.renderSettings(c, http.StatusOK, gin.H{})
}

func (s *Server) renderSettings(c *gin.Context, status int, data gin.H) {
	fixedKey, fixedPass := s.creds.Fixed()
	data["Title"], data["Nav"] = "Settings", "settings"
	data["Settings"] = s.d.Settings
	data["AdminEmail"] = s.cfg.AdminEmail
	data["FixedKey"], data["FixedPass"] = fixedKey, fixedPass
	data["MinPassword"] = settings.MinPasswordLength
	if data["Errors"] == nil {
		data["Errors"] = map[string]string{}
	}
	s.render(c, status, "settings", data)
}

// rotateAPIKeyPost makes a new API key and shows it once, on this answer
// only (it is not kept anywhere but as a hash).
func (s *Server) rotateAPIKeyPost(c *gin.Context) {
	key, err := s.creds.RotateAPIKey(c.Request.Context())
	if errors.Is(err, settings.ErrFixed) {
		s.renderSettings(c, http.StatusConflict, gin.H{"KeyError": "The API key is set by HERALD_API_KEY; change it there."})
		return
	}
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.log.Info("web: API key rotated")
	s.renderSettings(c, http.StatusOK, gin.H{"NewKey": key})
}

func (s *Server) passwordPost(c *gin.Context) {
	var err error
	if c.PostForm("new_password") != c.PostForm("confirm_password") {
		err = errs.Invalid("confirm_password", "does not match the new password")
	} else {
		err = s.creds.ChangePassword(c.Request.Context(), c.PostForm("current_password"), c.PostForm("new_password"))
	}
	switch {
	case errors.Is(err, settings.ErrFixed):
		s.renderSettings(c, http.StatusConflict, gin.H{"PasswordError": "The admin password is set by HERALD_ADMIN_PASSWORD; change it there."})
		return
	case err != nil:
		if ie, ok := errs.AsInvalid(err); ok {
			s.renderSettings(c, http.StatusBadRequest, gin.H{"Errors": map[string]string{ie.Path: ie.Message}})
			return
		}
		s.pageError(c, err)
		return
	}
	s.log.Info("web: admin password changed")
	// A new password ends every session, this one too; this browser is
	// logged in again at once.
	if err := s.d.Sessions.EndAll(c.Request.Context()); err != nil {
		s.pageError(c, err)
		return
	}
	if err := s.startSession(c, s.cfg.AdminEmail); err != nil {
		s.pageError(c, err)
		return
	}
	s.flash(c, "Password changed. Every other session has been logged out.")
	seeOther(c, "/settings")
}
