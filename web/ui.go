package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"herald/outbox"
)

var pageNames = []string{"login", "campaigns", "campaign", "outbox", "outbox_message", "unsubscribe"}

// parsePages parses each page with the layout once, at start-up.
func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).ParseFS(templateFS, "ui/templates/layout.html", "ui/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
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
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("web: render page", "page", name, "err", err)
		c.String(http.StatusInternalServerError, "Something went wrong.")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (s *Server) pageError(c *gin.Context, err error) {
	status, _ := s.errorResponse(c, err)
	msg := "Something went wrong."
	if status == http.StatusNotFound {
		msg = "Not found."
	}
	c.String(status, msg)
}

func (s *Server) campaignsPage(c *gin.Context) {
	cursor, _ := strconv.ParseInt(c.Query("cursor"), 10, 64)
	cs, next, err := s.d.Campaigns.List(c.Request.Context(), cursor, 50)
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, http.StatusOK, "campaigns", gin.H{"Title": "Campaigns", "Nav": "campaigns", "Campaigns": cs, "Next": next})
}

func (s *Server) campaignPage(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	cp, err := s.d.Campaigns.Get(c.Request.Context(), id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	st, err := s.d.Campaigns.Stats(c.Request.Context(), id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	preview := ""
	if r, err := s.d.Campaigns.Preview(c.Request.Context(), id, 0); err == nil {
		preview = r.HTML
	}
	s.render(c, http.StatusOK, "campaign", gin.H{
		"Title": cp.Name, "Nav": "campaigns", "Campaign": cp, "Stats": st, "PreviewHTML": preview,
		"OpenRate": fmt.Sprintf("%.1f%%", st.OpenRate*100), "ClickRate": fmt.Sprintf("%.1f%%", st.ClickRate*100),
	})
}

func (s *Server) outboxPage(c *gin.Context) {
	if s.d.Outbox == nil {
		s.render(c, http.StatusOK, "outbox", gin.H{"Title": "Outbox", "Nav": "outbox", "Enabled": false})
		return
	}
	cursor, _ := strconv.ParseInt(c.Query("cursor"), 10, 64)
	ms, next, err := s.d.Outbox.List(c.Request.Context(), cursor, 50)
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, http.StatusOK, "outbox", gin.H{"Title": "Outbox", "Nav": "outbox", "Enabled": true, "Messages": ms, "Next": next})
}

type header struct{ Name, Value string }

func (s *Server) outboxMessagePage(c *gin.Context) {
	if s.d.Outbox == nil {
		c.Redirect(http.StatusFound, "/outbox")
		return
	}
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	m, err := s.d.Outbox.Get(c.Request.Context(), id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	p, err := outbox.Parse([]byte(m.Raw))
	if err != nil {
		p = &outbox.Parsed{Subject: m.Subject, Text: "This message could not be parsed; see the raw text below."}
	}
	var hs []header
	for _, name := range []string{"Message-Id", "Date", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post", "X-Herald-Campaign", "Dkim-Signature"} {
		if v := p.Header.Get(name); v != "" {
			hs = append(hs, header{name, v})
		}
	}
	s.render(c, http.StatusOK, "outbox_message", gin.H{"Title": p.Subject, "Nav": "outbox", "Message": m, "Parsed": p, "Headers": hs})
}
