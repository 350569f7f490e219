package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/internal/errs"
)

// localSendData adds to a campaign page what its send panel's local-time
// choice needs: the installation's zone (where contacts without one are)
// and its first allowed day, and fills in the form's defaults: 09:00 on
// tomorrow in that zone, when every zone's morning is usually still ahead.
func localSendData(zone *time.Location, form *sendForm, data gin.H) {
	today := time.Now().In(zone)
	data["Zone"] = zone.String()
	data["LocalToday"] = today.Format(time.DateOnly)
	if form.LocalTime == "" {
		form.LocalTime = "09:00"
	}
	if form.LocalDate == "" {
		form.LocalDate = today.AddDate(0, 0, 1).Format(time.DateOnly)
	}
	if form.Missed == "" {
		form.Missed = campaigns.MissedNextDay
	}
}

// localFieldNames name the send panel's fields in its refusals.
var localFieldNames = map[string]string{
	"local_time": "The hour",
	"local_date": "The day",
	"missed":     "The choice for hours already passed",
}

// campaignSendLocal starts a campaign that each contact gets at an hour
// of their own time zone; a refusal shows on the page with what was
// typed.
func (s *Server) campaignSendLocal(c *gin.Context, id int64, form sendForm) {
	_, err := s.d.Campaigns.SendWith(c.Request.Context(), id, campaigns.SendOptions{
		LocalTime: form.LocalTime, LocalDate: form.LocalDate, Missed: form.Missed,
	})
	if err != nil {
		var inv *errs.InvalidError
		switch {
		case errors.As(err, &inv) && localFieldNames[inv.Path] != "":
			form.Error = localFieldNames[inv.Path] + ": " + inv.Message
		case errors.As(err, &inv) || errors.Is(err, errs.ErrConflict):
			form.Error = errs.Message(err)
		default:
			s.pageError(c, err)
			return
		}
		s.renderCampaign(c, http.StatusBadRequest, form)
		return
	}
	s.flash(c, "Sending started: each contact gets it at their local time.")
	seeOther(c, fmt.Sprintf("/campaigns/%d", id))
}
