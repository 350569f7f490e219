package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"herald/internal/login"
)

const (
	sessionCookie = "herald_session"
	sessionTTL    = login.DefaultTTL
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "csrf_token"
)

// Login throttling: attempts per client address and per account in a
// window, counted before the password is hashed. The account's limit is
// higher so that one noisy address cannot lock the admin out alone.
const (
	loginWindow       = 15 * time.Minute
	loginPerAddress   = 10
	loginPerAccount   = 30
	maxLoginFormBytes = 64 << 10
)

// requireAPIAuth accepts a bearer API key, or a session cookie together
// with the session's CSRF token on anything but GET.
func (s *Server) requireAPIAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if h := c.GetHeader("Authorization"); h != "" {
			key, ok := strings.CutPrefix(h, "Bearer ")
			if ok && s.creds.APIKeyOK(c.Request.Context(), strings.TrimSpace(key)) {
				c.Next()
				return
			}
			c.Header("WWW-Authenticate", `Bearer realm="herald"`)
			c.AbortWithStatusJSON(http.StatusUnauthorized, errorBody("invalid API key", ""))
			return
		}
		if token, ok := s.session(c); ok {
			if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead ||
				hmac.Equal([]byte(c.GetHeader(csrfHeader)), []byte(s.csrfToken(token))) {
				c.Next()
				return
			}
			c.AbortWithStatusJSON(http.StatusForbidden, errorBody("missing or wrong "+csrfHeader+" header", ""))
			return
		}
		c.Header("WWW-Authenticate", `Bearer realm="herald"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, errorBody("authentication required: send Authorization: Bearer API_KEY", ""))
	}
}

// requireSession sends visitors without a session to the login page, and
// checks the CSRF token of every form post.
func (s *Server) requireSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := s.session(c)
		if !ok {
			target := "/login"
			if c.Request.Method == http.MethodGet && c.Request.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
			}
			c.Redirect(http.StatusFound, target)
			c.Abort()
			return
		}
		if c.Request.Method == http.MethodPost && !hmac.Equal([]byte(c.PostForm(csrfField)), []byte(s.csrfToken(token))) {
			c.String(http.StatusForbidden, "The form expired; reload the page and try again.")
			c.Abort()
			return
		}
		c.Set("csrf", s.csrfToken(token))
		c.Next()
	}
}

func (s *Server) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session returns the token of the request's live session. The session
// lives on the server: logging out or a new password ends it everywhere.
func (s *Server) session(c *gin.Context) (string, bool) {
	if v, ok := c.Get("session"); ok {
		return v.(string), true
	}
	token, err := c.Cookie(sessionCookie)
	if err != nil || token == "" || s.d.Sessions == nil {
		return "", false
	}
	_, ok, err := s.d.Sessions.Check(c.Request.Context(), token)
	if err != nil {
		s.log.Error("web: check session", "err", err)
		return "", false
	}
	if !ok {
		return "", false
	}
	c.Set("session", token)
	return token, true
}

func (s *Server) csrfToken(token string) string { return s.sign("csrf", token) }

// startSession logs the browser in as email.
func (s *Server) startSession(c *gin.Context, email string) error {
	if s.d.Sessions == nil {
		return errors.New("web: no session store")
	}
	token, err := s.d.Sessions.Start(c.Request.Context(), email)
	if err != nil {
		return err
	}
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(sessionCookie, token, int(sessionTTL.Seconds()), "/", "", s.cfg.SecureCookies, true)
	return nil
}

func (s *Server) loginPage(c *gin.Context) {
	if _, ok := s.session(c); ok {
		c.Redirect(http.StatusFound, "/dashboard")
		return
	}
	next := c.Query("next")
	if !localPath(next) {
		next = ""
	}
	s.render(c, http.StatusOK, "login", gin.H{"Title": "Log in", "Next": next})
}

// localPath reports whether p is a path on this site, so that the login's
// "next" can never send anyone elsewhere.
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\") &&
		!strings.ContainsAny(p, "\r\n\\") && len(p) < 2000
}

// accountKey names an account in the throttle without writing the
// address itself to Redis.
func accountKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return "acct:" + hex.EncodeToString(sum[:8])
}

func (s *Server) loginPost(c *gin.Context) {
	if !formBody(c) {
		c.String(http.StatusUnsupportedMediaType, "Send the login form as application/x-www-form-urlencoded.")
		return
	}
	email := strings.ToLower(strings.TrimSpace(c.PostForm("email")))
	pass := c.PostForm("password")
	next := c.PostForm("next")
	if !localPath(next) {
		next = ""
	}
	refuse := func(status int, msg string) {
		s.render(c, status, "login", gin.H{"Title": "Log in", "Error": msg, "Email": email, "Next": next})
	}
	ctx := c.Request.Context()
	addrKey := "addr:" + s.clientAddr(c.Request).String()
	if s.d.Throttle != nil {
		for _, lim := range []struct {
			key string
			max int
		}{{addrKey, loginPerAddress}, {accountKey(email), loginPerAccount}} {
			ok, retry, err := s.d.Throttle.Attempt(ctx, lim.key, lim.max, loginWindow)
			if err != nil {
				s.log.Error("web: login throttle", "err", err)
				refuse(http.StatusServiceUnavailable, "Logging in is not possible just now; try again in a moment.")
				return
			}
			if !ok {
				c.Header("Retry-After", fmt.Sprint(int(retry.Seconds())+1))
				refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many login attempts. Try again in %s.", roundUp(retry)))
				return
			}
		}
	}
	emailOK := subtle.ConstantTimeCompare([]byte(email), []byte(strings.ToLower(s.cfg.AdminEmail))) == 1
	hash, err := s.creds.PasswordHash(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	passOK := bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil
	if !emailOK || !passOK {
		refuse(http.StatusUnauthorized, "Wrong email or password.")
		return
	}
	if s.d.Throttle != nil {
		if err := s.d.Throttle.Reset(ctx, addrKey); err != nil {
			s.log.Warn("web: login throttle reset", "err", err)
		}
	}
	if err := s.startSession(c, email); err != nil {
		s.pageError(c, err)
		return
	}
	if next == "" {
		next = "/dashboard"
	}
	c.Redirect(http.StatusSeeOther, next)
}

// roundUp says a wait in whole minutes, or seconds under a minute.
func roundUp(d time.Duration) string {
	if d < time.Minute {
		if n := int(d.Seconds()) + 1; n > 1 {
			return fmt.Sprintf("%d seconds", n)
		}
		return "a second"
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// logoutPost ends the session; like every form, it needs the session's
// CSRF token, so another site cannot log the marketer out.
func (s *Server) logoutPost(c *gin.Context) {
	if token, ok := s.session(c); ok {
		if !hmac.Equal([]byte(c.PostForm(csrfField)), []byte(s.csrfToken(token))) {
			c.String(http.StatusForbidden, "The form expired; reload the page and try again.")
			return
		}
		if err := s.d.Sessions.End(c.Request.Context(), token); err != nil {
			s.pageError(c, err)
			return
		}
	}
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(sessionCookie, "", -1, "/", "", s.cfg.SecureCookies, true)
	c.Redirect(http.StatusSeeOther, "/login")
}

// formBody reports whether a public form post is URL-encoded: those
// endpoints have no use for multipart, whose file parts Go would spool
// to disk.
func formBody(c *gin.Context) bool {
	ct := c.ContentType()
	return ct == "application/x-www-form-urlencoded" || (ct == "" && c.Request.ContentLength == 0)
}
