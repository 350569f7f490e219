package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// exportContact answers a person's request for their data: everything
// Herald holds on the contact, as one JSON document.
func (s *Server) exportContact(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.d.Privacy == nil {
		s.fail(c, errors.New("web: no privacy service"))
		return
	}
	ex, err := s.d.Privacy.Export(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	iso := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	isoPtr := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return iso(*t)
	}
	segs := make([]gin.H, len(ex.Segments))
	for i, m := range ex.Segments {
		segs[i] = gin.H{"segment_id": m.SegmentID, "entered_at": iso(m.EnteredAt)}
	}
	log := make([]gin.H, len(ex.SegmentLog))
	for i, ch := range ex.SegmentLog {
		log[i] = gin.H{"segment_id": ch.SegmentID, "change": ch.Kind, "at": iso(ch.ChangedAt)}
	}
	runs := make([]gin.H, len(ex.Automations))
	for i, r := range ex.Automations {
		runs[i] = gin.H{"automation_id": r.AutomationID, "occurrence": r.Occurrence, "step": r.Step, "status": r.Status,
			"started_at": iso(r.StartedAt), "finished_at": isoPtr(r.FinishedAt), "note": r.Note}
	}
	msgs := make([]gin.H, len(ex.Messages))
	for i, m := range ex.Messages {
		msgs[i] = gin.H{"from": m.MailFrom, "to": m.RcptTo, "subject": m.Subject, "received_at": iso(m.ReceivedAt), "raw": m.Raw}
	}
	c.Header("Content-Disposition", `attachment; filename="contact-export.json"`)
	c.PureJSON(http.StatusOK, gin.H{
		"exported_at":     iso(ex.ExportedAt),
		"contact":         s.viewContact(ex.Contact),
		"suppressed":      ex.Suppressed,
		"events":          s.viewEvents(ex.Events),
		"deliveries":      ex.Deliveries,
		"coupons":         ex.Coupons,
		"segments":        segs,
		"segment_history": log,
		"automation_runs": runs,
		"messages":        msgs,
	})
}

// eraseContact forgets a person: their contact, events, memberships, runs
// and message copies go; the hash of their address stays on the
// suppression list, and the campaigns' counts stay.
func (s *Server) eraseContact(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.d.Privacy == nil {
		s.fail(c, errors.New("web: no privacy service"))
		return
	}
	if err := s.d.Privacy.Erase(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
