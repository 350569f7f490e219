package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/contacts"
)

// importPageRoutes adds the CSV import page. The page itself only shows
// the form: the file goes from the browser straight to the streaming
// import API (with the session and its CSRF token), so a large file is
// read as it uploads and the page shows the API's progress as it comes.
func (s *Server) importPageRoutes(ui *gin.RouterGroup) {
	ui.GET("/contacts/import", s.importPage)
}

// importFieldLabels name the contact fields a column can fill.
var importFieldLabels = map[string]string{
	"email": "Email", "first_name": "First name", "last_name": "Last name", "city": "City",
	"country": "Country", "language": "Language", "timezone": "Time zone", "birthday": "Birthday",
	"anniversary": "Anniversary", "family_status": "Family status", "source": "Signup source",
	"signup_at": "Signup date", "status": "Subscription status",
}

type importField struct {
	Value, Label string
}

func (s *Server) importPage(c *gin.Context) {
	custom, err := s.d.Contacts.ListFields(c.Request.Context())
	if err != nil {
		s.pageError(c, err)
		return
	}
	builtin := make([]importField, 0, len(contacts.ImportFields))
	for _, f := range contacts.ImportFields {
		builtin = append(builtin, importField{Value: f, Label: importFieldLabels[f]})
	}
	customs := make([]importField, 0, len(custom))
	for _, f := range custom {
		customs = append(customs, importField{Value: "attr." + f.Name, Label: f.Name + " (" + string(f.Type) + ")"})
	}
	s.render(c, http.StatusOK, "import", gin.H{
		"Title": "Import contacts", "Nav": "contacts", "Scripts": []string{"import.js"},
		"Builtin": builtin, "Custom": customs,
		"MaxErrors": contacts.MaxImportErrors,
	})
}
