package web

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/internal/errs"
	"herald/templates"
)

// pageCSP lets pages run only Herald's own scripts. Styles and images stay
// open because message previews (sandboxed frames, which inherit the
// policy) carry their own inline styles and remote images.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; " +
	"frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"

// parsePages parses each page with the layout once, at start-up, so a
// broken template stops Herald from starting instead of failing a request.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "ui/templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list pages: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, file := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(file, "ui/templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New(name).Funcs(pageFuncs).ParseFS(templateFS, "ui/templates/layout.html", "ui/templates/_*.html", file)
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// pageFuncs are the helpers page templates use. None returns template.HTML
// from data, so contact data is always escaped.
var pageFuncs = template.FuncMap{
	// iso gives a time as RFC 3339 for <time datetime> (app.js shows it
	// in the reader's zone); empty for nil or zero.
	"iso": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			if !t.IsZero() {
				return t.UTC().Format(time.RFC3339)
			}
		case *time.Time:
			if t != nil && !t.IsZero() {
				return t.UTC().Format(time.RFC3339)
			}
		}
		return ""
	},
	// utc formats a time for pages without scripts; app.js replaces it.
	"utc": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			if !t.IsZero() {
				return t.UTC().Format("2006-01-02 15:04 UTC")
			}
		case *time.Time:
			if t != nil && !t.IsZero() {
				return t.UTC().Format("2006-01-02 15:04 UTC")
			}
		}
		return ""
	},
	"money": templates.FormatMinor,
	"query": func(pairs ...any) string {
		v := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if s := fmt.Sprint(pairs[i+1]); s != "" && s != "0" {
				v.Set(fmt.Sprint(pairs[i]), s)
			}
		}
		if len(v) == 0 {
			return ""
		}
		return "?" + v.Encode()
	},
	"plural": func(n int64, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"join": strings.Join,
	// count groups a whole number's thousands (2,000), the way the page
	// scripts print the same figures when they refresh them.
	"count": func(n any) (string, error) {
		switch v := n.(type) {
		case int64:
			return groupThousands(strconv.FormatInt(v, 10)), nil
		case int:
			return groupThousands(strconv.Itoa(v)), nil
		}
		return "", fmt.Errorf("web: count of a %T", n)
	},
	// whole formats a number rounded to a whole one; empty for nil, so
	// that optional figures (*float64) print as numbers, not pointers.
	"whole": func(v any) string {
		switch n := v.(type) {
		case float64:
			return strconv.FormatFloat(n, 'f', 0, 64)
		case *float64:
			if n != nil {
				return strconv.FormatFloat(*n, 'f', 0, 64)
			}
		}
		return ""
	},
	// rate formats a share (0..1) as a percentage: 0.125 -> "12.5%".
	"rate": percent,
	// fieldArgs passes one input of the contact form to the "field" template.
	"fieldArgs": func(f *contactForm, name, label, typ, hint string) fieldArg {
		return fieldArg{Form: f, Name: name, Label: label, Type: typ, Hint: hint}
	},
}

type fieldArg struct {
	Form                    *contactForm
	Name, Label, Type, Hint string
}

// render executes a page into a buffer first, so a template error never
// sends half a page; the error is logged and the user sees a plain 500.
func (s *Server) render(c *gin.Context, status int, name string, data gin.H) {
	if data == nil {
		data = gin.H{}
	}
	if csrf, ok := c.Get("csrf"); ok {
		data["CSRF"] = csrf
	}
	data["OutboxEnabled"] = s.d.Outbox != nil
	if _, ok := data["Flash"]; !ok {
		if f := s.takeFlash(c); f != "" {
			data["Flash"] = f
		}
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("web: render page", "page", name, "err", err)
		c.String(http.StatusInternalServerError, "Something went wrong.")
		return
	}
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// pageError answers a page request that failed. Internal errors are
// logged once in errorResponse; the page shows no internal detail.
func (s *Server) pageError(c *gin.Context, err error) {
	status, _ := s.errorResponse(c, err)
	msg := "Something went wrong. Try again in a moment."
	switch status {
	case http.StatusNotFound:
		msg = "Not found. It may have been deleted."
	case http.StatusBadRequest, http.StatusConflict:
		msg = errs.Message(err)
	}
	s.render(c, status, "error", gin.H{"Title": http.StatusText(status), "Message": msg})
}

const flashCookie = "herald_flash"

// flash keeps a one-line message for the next page (after a redirect),
// signed so that only Herald's own words are ever shown.
func (s *Server) flash(c *gin.Context, msg string) {
	c.SetSameSite(http.SameSiteLaxMode)
	v := url.QueryEscape(msg)
	c.SetCookie(flashCookie, v+"."+s.sign("flash", v), 60, "/", "", s.cfg.SecureCookies, true)
}

func (s *Server) takeFlash(c *gin.Context) string {
	v, err := c.Cookie(flashCookie)
	if err != nil || v == "" {
		return ""
	}
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(flashCookie, "", -1, "/", "", s.cfg.SecureCookies, true)
	i := strings.LastIndexByte(v, '.')
	if i < 0 || !hmac.Equal([]byte(v[i+1:]), []byte(s.sign("flash", v[:i]))) {
		return ""
	}
	msg, err := url.QueryUnescape(v[:i])
	if err != nil || len(msg) > 300 {
		return ""
	}
	return msg
}

// seeOther redirects after a successful form post.
func seeOther(c *gin.Context, path string) { c.Redirect(http.StatusSeeOther, path) }
