package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/contacts"
)

// dashboardPage shows the counts a marketer looks at first. Campaign and
// automation figures and charts join it with the campaign screens.
func (s *Server) dashboardPage(c *gin.Context) {
	ctx := c.Request.Context()
	total, err := s.d.Contacts.Count(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	subscribed, err := s.d.Contacts.CountStatus(ctx, contacts.Subscribed)
	if err != nil {
		s.pageError(c, err)
		return
	}
	segs, _, err := s.d.Segments.List(ctx, 0, 1000)
	if err != nil {
		s.pageError(c, err)
		return
	}
	cs, _, err := s.d.Campaigns.List(ctx, 0, 5)
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, http.StatusOK, "dashboard", gin.H{
		"Title": "Dashboard", "Nav": "dashboard", "Total": total, "Subscribed": subscribed,
		"Segments": segs, "Campaigns": cs,
	})
}
