package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// automationsPage lists the automations and their state.
func (s *Server) automationsPage(c *gin.Context) {
	fs, err := s.d.Automations.List(c.Request.Context())
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, http.StatusOK, "automations", gin.H{"Title": "Automations", "Nav": "automations", "Automations": fs})
}
