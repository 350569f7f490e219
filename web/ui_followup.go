package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/internal/errs"
)

// followUpForm is the "Resend to non-openers" form of a sent campaign's
// page, kept as typed when it is refused.
type followUpForm struct {
	Subject string
	Days    string // empty: keep the follow-up a draft
	Error   string
	Field   string // the field at fault
	// Suggest asks withDefaults to fill in the days: a form not yet
	// posted.
	Suggest bool
}

// followUpDays is the delay the form suggests: opens come in the first
// days after a send.
const followUpDays = 3

// withDefaults suggests sending the follow-up followUpDays after cp
// started, or a draft when that time has passed.
func (f followUpForm) withDefaults(cp campaigns.Campaign, now time.Time) followUpForm {
	if !f.Suggest {
		return f
	}
	f.Days = ""
	if cp.StartedAt != nil && cp.StartedAt.AddDate(0, 0, followUpDays).After(now) {
		f.Days = strconv.Itoa(followUpDays)
	}
	return f
}

// followUpData adds to a campaign page's data the campaign a follow-up
// follows up ("Original"), the follow-ups of a sent one ("FollowUps"),
// and whether the page offers to resend to non-openers ("CanFollowUp").
func (s *Server) followUpData(ctx context.Context, cp campaigns.Campaign, data gin.H) error {
	data["CanFollowUp"] = cp.Kind == campaigns.KindCampaign && cp.Status == campaigns.CampaignSent
	if cp.StartedAt != nil {
		fus, err := s.d.Campaigns.FollowUps(ctx, cp.ID)
		if err != nil {
			return err
		}
		data["FollowUps"] = fus
	}
	if cp.ResendOf == nil {
		return nil
	}
	orig, err := s.d.Campaigns.Get(ctx, *cp.ResendOf)
	if errors.Is(err, errs.ErrNotFound) {
		return nil // deleted since: the follow-up has no one to go to
	}
	if err != nil {
		return err
	}
	data["Original"] = orig
	return nil
}

// campaignFollowUpPost creates a follow-up of the campaign for those who
// did not open it, from its page, and opens it in the editor.
func (s *Server) campaignFollowUpPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	form := followUpForm{Subject: c.PostForm("subject"), Days: strings.TrimSpace(c.PostForm("after_days"))}
	in := campaigns.FollowUpInput{Subject: &form.Subject}
	if form.Days != "" {
		n, err := strconv.Atoi(form.Days)
		if err != nil {
			form.Error, form.Field = "Give a whole number of days, or leave it empty to keep the follow-up a draft.", "after_days"
			s.renderCampaign(c, http.StatusBadRequest, sendForm{When: "now", FollowUp: form})
			return
		}
		in.AfterDays = &n
	}
	fu, err := s.d.Campaigns.CreateFollowUp(c.Request.Context(), id, in)
	if err != nil {
		if ie, ok := errs.AsInvalid(err); ok {
			form.Error, form.Field = followUpMessage(ie), ie.Path
			s.renderCampaign(c, http.StatusBadRequest, sendForm{When: "now", FollowUp: form})
			return
		}
		if errors.Is(err, errs.ErrConflict) {
			form.Error = errs.Message(err)
			s.renderCampaign(c, http.StatusConflict, sendForm{When: "now", FollowUp: form})
			return
		}
		s.pageError(c, err)
		return
	}
	if fu.Status == campaigns.CampaignScheduled {
		s.flash(c, "Follow-up created and scheduled. Check its message; those who open the original before it goes out are left out.")
	} else {
		s.flash(c, "Follow-up created as a draft. Check its message, then send it from its page.")
	}
	seeOther(c, fmt.Sprintf("/campaigns/%d/edit", fu.ID))
}

// followUpMessage words a refused field for the form, which labels its
// fields differently from the API.
func followUpMessage(ie *errs.InvalidError) string {
	label := map[string]string{"subject": "New subject", "after_days": "Days after it started"}[ie.Path]
	switch {
	case label == "":
		return ie.Message
	case strings.HasPrefix(ie.Message, "is ") || strings.HasPrefix(ie.Message, "must "):
		// "New subject is required", not "New subject: is required".
		return label + " " + ie.Message
	}
	return label + ": " + ie.Message
}
