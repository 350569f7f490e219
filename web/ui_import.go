package web

import "github.com/gin-gonic/gin"

// importPageRoutes adds the CSV import page.
func (s *Server) importPageRoutes(ui *gin.RouterGroup) {}
