package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
)

// followUpRequest is the body of POST /api/campaigns/:id/resend.
type followUpRequest struct {
	Subject   *string `json:"subject"`
	Name      *string `json:"name"`
	AfterDays *int    `json:"after_days"`
	SendAt    string  `json:"send_at"`
}

func (r followUpRequest) input() (campaigns.FollowUpInput, error) {
	in := campaigns.FollowUpInput{Subject: r.Subject, Name: r.Name, AfterDays: r.AfterDays}
	if r.SendAt != "" {
		t, err := contacts.ParseTime(r.SendAt)
		if err != nil {
			return in, errs.Invalid("send_at", "%v", err)
		}
		in.SendAt = &t
	}
	return in, nil
}

// resendCampaign creates a follow-up of a sent campaign to those who did
// not open it: POST /api/campaigns/:id/resend {"subject", "after_days" or
// "send_at", "name"}.
func (s *Server) resendCampaign(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req followUpRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	in, err := req.input()
	if err != nil {
		s.fail(c, err)
		return
	}
	cp, err := s.d.Campaigns.CreateFollowUp(c.Request.Context(), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusCreated, viewCampaign(cp))
}
