package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

const (
	sessionCookie = "herald_session"
	sessionTTL    = 7 * 24 * time.Hour
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "csrf_token"
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
		if cookie, ok := s.session(c); ok {
			if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead ||
				hmac.Equal([]byte(c.GetHeader(csrfHeader)), []byte(s.csrfToken(cookie))) {
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
		cookie, ok := s.session(c)
		if !ok {
			target := "/login"
			if c.Request.Method == http.MethodGet && c.Request.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
			}
			c.Redirect(http.StatusFound, target)
			c.Abort()
			return
		}
		if c.Request.Method == http.MethodPost && !hmac.Equal([]byte(c.PostForm(csrfField)), []byte(s.csrfToken(cookie))) {
			c.String(http.StatusForbidden, "The form expired; reload the page and try again.")
			c.Abort()
			return
		}
		c.Set("csrf", s.csrfToken(cookie))
		c.Next()
	}
}

func (s *Server) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// passwordMark is a fingerprint of the admin password's hash. Sessions
// are signed with it, so changing the password ends every session.
func (s *Server) passwordMark(c *gin.Context) (string, bool) {
	h, err := s.creds.PasswordHash(c.Request.Context())
	if err != nil || len(h) == 0 {
		return "", false
	}
	sum := sha256.Sum256(h)
	return base64.RawURLEncoding.EncodeToString(sum[:12]), true
}

// newSession makes a cookie value: email, expiry and their signature.
func (s *Server) newSession(c *gin.Context, email string, now time.Time) (string, bool) {
	mark, ok := s.passwordMark(c)
	if !ok {
		return "", false
	}
	exp := strconv.FormatInt(now.Add(sessionTTL).Unix(), 10)
	payload := base64.RawURLEncoding.EncodeToString([]byte(email)) + "." + exp
	return payload + "." + s.sign("session", mark, payload), true
}

// session returns the valid session cookie of the request.
func (s *Server) session(c *gin.Context) (string, bool) {
	v, err := c.Cookie(sessionCookie)
	if err != nil || v == "" {
		return "", false
	}
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return "", false
	}
	payload, mac := v[:i], v[i+1:]
	mark, ok := s.passwordMark(c)
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sign("session", mark, payload))) {
		return "", false
	}
	j := strings.LastIndexByte(payload, '.')
	if j < 0 {
		return "", false
	}
	exp, err := strconv.ParseInt(payload[j+1:], 10, 64)
	if err != nil || time.Now().Unix() > exp {
		return "", false
	}
	return v, true
}

func (s *Server) csrfToken(cookie string) string { return s.sign("csrf", cookie) }

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

func (s *Server) loginPost(c *gin.Context) {
	email := strings.ToLower(strings.TrimSpace(c.PostForm("email")))
	pass := c.PostForm("password")
	emailOK := subtle.ConstantTimeCompare([]byte(email), []byte(strings.ToLower(s.cfg.AdminEmail))) == 1
	hash, err := s.creds.PasswordHash(c.Request.Context())
	if err != nil {
		s.pageError(c, err)
		return
	}
	passOK := bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil
	if !emailOK || !passOK {
		time.Sleep(300 * time.Millisecond) // slows guessing
		next := c.PostForm("next")
		if !localPath(next) {
			next = ""
		}
		s.render(c, http.StatusUnauthorized, "login", gin.H{"Title": "Log in", "Error": "Wrong email or password.", "Email": email, "Next": next})
		return
	}
	cookie, ok := s.newSession(c, email, time.Now())
	if !ok {
		s.pageError(c, errors.New("web: no admin password to sign a session with"))
		return
	}
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(sessionCookie, cookie, int(sessionTTL.Seconds()), "/", "", s.cfg.SecureCookies, true)
	next := c.PostForm("next")
	if !localPath(next) {
		next = "/dashboard"
	}
	c.Redirect(http.StatusSeeOther, next)
}

func (s *Server) logoutPost(c *gin.Context) {
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(sessionCookie, "", -1, "/", "", s.cfg.SecureCookies, true)
	c.Redirect(http.StatusSeeOther, "/login")
}
