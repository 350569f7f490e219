package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/reports"
)

// campaignPeople lists who opened, clicked, bounced, unsubscribed or is in
// doubt: GET /api/campaigns/:id/people?list=opened&cursor=&limit=.
func (s *Server) campaignPeople(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cursor, limit, err := page(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ps, next, err := s.d.Reports.People(c.Request.Context(), id, reports.PeopleKind(c.DefaultQuery("list", string(reports.PeopleOpened))), cursor, min(limit, 500))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, listBody(ps, next))
}

// campaignActivity gives opens and clicks by the hour for 48 hours after
// the send, then by the day: GET /api/campaigns/:id/activity.
func (s *Server) campaignActivity(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	bs, err := s.d.Reports.Activity(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"data": bs})
}

// campaignResendUnknown sends the campaign's unknown deliveries once more:
// POST /api/campaigns/:id/resend-unknown. The decision is recorded as the
// API key's, or the signed-in user's.
func (s *Server) campaignResendUnknown(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	act, err := s.d.Campaigns.ResendUnknown(c.Request.Context(), id, s.actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusAccepted, act)
}
