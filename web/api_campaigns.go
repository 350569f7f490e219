package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
	"herald/outbox"
)

func (s *Server) listCampaigns(c *gin.Context) {
	cursor, limit, err := page(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cs, next, err := s.d.Campaigns.List(c.Request.Context(), cursor, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]campaignView, len(cs))
	for i, cp := range cs {
		out[i] = viewCampaign(cp)
	}
	c.PureJSON(http.StatusOK, listBody(out, next))
}

func (s *Server) createCampaign(c *gin.Context) {
	var in campaigns.Input
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	cp, err := s.d.Campaigns.Create(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusCreated, viewCampaign(cp))
}

func (s *Server) getCampaign(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cp, err := s.d.Campaigns.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, viewCampaign(cp))
}

func (s *Server) patchCampaign(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in campaigns.Input
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	cp, err := s.d.Campaigns.Update(c.Request.Context(), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, viewCampaign(cp))
}

func (s *Server) deleteCampaign(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.d.Campaigns.Delete(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) previewCampaign(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		ContactID int64  `json:"contact_id"`
		Variant   string `json:"variant"`
	}
	b, err := readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := decodeBytes(c, b, &in); err != nil {
			s.fail(c, err)
			return
		}
	}
	variant, err := variantParam(in.Variant)
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.d.Campaigns.PreviewVariant(c.Request.Context(), id, in.ContactID, variant)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Also render for a contact with every optional field empty, so the
	// fallbacks can be checked side by side.
	fb, err := s.d.Campaigns.PreviewVariant(c.Request.Context(), id, 0, variant)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"subject": r.Subject, "html": r.HTML, "text": r.Text,
		"fallback": gin.H{"subject": fb.Subject, "html": fb.HTML, "text": fb.Text}})
}

func (s *Server) testCampaign(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		Emails  []string `json:"emails"`
		Variant string   `json:"variant"`
	}
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	variant, err := variantParam(in.Variant)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.d.Mailer == nil {
		c.PureJSON(http.StatusServiceUnavailable, errorBody("test sends need a mail server in this process: set HERALD_SMTP_URL", ""))
		return
	}
	if err := s.d.Campaigns.TestSendVariant(c.Request.Context(), id, in.Emails, s.d.Mailer, variant); err != nil {
		var se *campaigns.SendError
		if errors.As(err, &se) {
			c.PureJSON(http.StatusBadGateway, errorBody("the mail server refused the test message: "+se.Error(), ""))
			return
		}
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"sent": len(in.Emails)})
}

func (s *Server) sendCampaign(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		ScheduledAt string `json:"scheduled_at"`
		LocalTime   string `json:"local_time"`
		LocalDate   string `json:"local_date"`
		Missed      string `json:"missed"`
	}
	b, err := readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := decodeBytes(c, b, &in); err != nil {
			s.fail(c, err)
			return
		}
	}
	var at *time.Time
	if in.ScheduledAt != "" {
		t, err := contacts.ParseTime(in.ScheduledAt)
		if err != nil {
			s.fail(c, errs.Invalid("scheduled_at", "%v", err))
			return
		}
		at = &t
	}
	cp, err := s.d.Campaigns.SendWith(c.Request.Context(), id, campaigns.SendOptions{At: at, LocalTime: in.LocalTime, LocalDate: in.LocalDate, Missed: in.Missed})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusAccepted, viewCampaign(cp))
}

func (s *Server) pauseCampaign(c *gin.Context) {
	s.campaignAction(c, func(id int64) (campaigns.Campaign, error) {
		return s.d.Campaigns.Pause(c.Request.Context(), id, campaigns.PausedByUser)
	})
}

func (s *Server) resumeCampaign(c *gin.Context) {
	s.campaignAction(c, func(id int64) (campaigns.Campaign, error) { return s.d.Campaigns.Resume(c.Request.Context(), id) })
}

func (s *Server) cancelCampaign(c *gin.Context) {
	s.campaignAction(c, func(id int64) (campaigns.Campaign, error) { return s.d.Campaigns.Cancel(c.Request.Context(), id) })
}

func (s *Server) campaignAction(c *gin.Context, act func(int64) (campaigns.Campaign, error)) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cp, err := act(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, viewCampaign(cp))
}

func (s *Server) campaignStats(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	st, err := s.d.Reports.Stats(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, st)
}

func (s *Server) listOutbox(c *gin.Context) {
	if s.d.Outbox == nil {
		c.PureJSON(http.StatusNotFound, errorBody("the outbox exists only with the embedded SMTP capture (HERALD_SMTP_URL unset)", ""))
		return
	}
	cursor, limit, err := page(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ms, next, err := s.d.Outbox.List(c.Request.Context(), cursor, min(limit, 500))
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]gin.H, len(ms))
	for i, m := range ms {
		out[i] = gin.H{"id": m.ID, "from": m.MailFrom, "to": m.RcptTo, "subject": m.Subject, "received_at": m.ReceivedAt.UTC()}
	}
	c.PureJSON(http.StatusOK, listBody(out, next))
}

func (s *Server) getOutboxMessage(c *gin.Context) {
	if s.d.Outbox == nil {
		c.PureJSON(http.StatusNotFound, errorBody("the outbox exists only with the embedded SMTP capture (HERALD_SMTP_URL unset)", ""))
		return
	}
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	m, err := s.d.Outbox.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := gin.H{"id": m.ID, "from": m.MailFrom, "to": m.RcptTo, "received_at": m.ReceivedAt.UTC(), "raw": m.Raw}
	if p, err := outbox.Parse([]byte(m.Raw)); err == nil {
		headers := map[string]string{}
		for k, v := range p.Header {
			headers[k] = strings.Join(v, ", ")
		}
		out["subject"], out["html"], out["text"], out["headers"] = p.Subject, p.HTML, p.Text, headers
	}
	c.PureJSON(http.StatusOK, out)
}

// campaignAudience counts who a campaign to these segments would reach now:
// POST /api/campaigns/audience {"segment_ids": [...], "exclude_segment_ids": [...]},
// or a follow-up of a campaign with {"resend_of": ID, "exclude_segment_ids": [...]}.
func (s *Server) campaignAudience(c *gin.Context) {
	var in struct {
		SegmentIDs        []int64 `json:"segment_ids"`
		ExcludeSegmentIDs []int64 `json:"exclude_segment_ids"`
		ResendOf          *int64  `json:"resend_of"`
	}
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	var a campaigns.Audience
	var err error
	if in.ResendOf != nil {
		if len(in.SegmentIDs) > 0 {
			s.fail(c, errs.Invalid("segment_ids", "a follow-up goes to the non-openers of resend_of, not to segments"))
			return
		}
		a, err = s.d.Campaigns.FollowUpAudience(c.Request.Context(), *in.ResendOf, in.ExcludeSegmentIDs)
	} else {
		a, err = s.d.Campaigns.AudienceOf(c.Request.Context(), in.SegmentIDs, in.ExcludeSegmentIDs)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, a)
}
