package web

import "github.com/gin-gonic/gin"

// segmentPageRoutes adds the segment pages: the list, the builder, a
// segment's page and the templates gallery.
func (s *Server) segmentPageRoutes(ui *gin.RouterGroup) {}
