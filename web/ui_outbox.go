package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"herald/outbox"
)

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
	// Shown as the standards spell them; Get finds them however they were
	// written.
	for _, name := range []string{"Message-ID", "Date", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID", "X-Herald-Campaign", "DKIM-Signature"} {
		if v := p.Header.Get(name); v != "" {
			hs = append(hs, header{name, v})
		}
	}
	s.render(c, http.StatusOK, "outbox_message", gin.H{"Title": p.Subject, "Nav": "outbox", "Message": m, "Parsed": p, "Headers": hs})
}
