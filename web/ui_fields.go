package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/contacts"
	"herald/internal/errs"
)

var fieldTypes = []contacts.FieldType{contacts.FieldText, contacts.FieldNumber, contacts.FieldDate, contacts.FieldBool}

func (s *Server) fieldsPage(c *gin.Context) {
	s.renderFields(c, http.StatusOK, gin.H{})
}

func (s *Server) renderFields(c *gin.Context, status int, data gin.H) {
	fs, err := s.d.Contacts.ListFields(c.Request.Context())
	if err != nil {
		s.pageError(c, err)
		return
	}
	data["Title"], data["Nav"] = "Custom fields", "settings"
	data["Fields"], data["Types"] = fs, fieldTypes
	if data["Errors"] == nil {
		data["Errors"] = map[string]string{}
	}
	s.render(c, status, "fields", data)
}

func (s *Server) fieldCreatePost(c *gin.Context) {
	name, typ := c.PostForm("name"), contacts.FieldType(c.PostForm("type"))
	f, err := s.d.Contacts.CreateField(c.Request.Context(), name, typ)
	if err != nil {
		if ie, ok := errs.AsInvalid(err); ok {
			s.renderFields(c, http.StatusBadRequest, gin.H{"Errors": map[string]string{ie.Path: ie.Message}, "Name": name, "Type": string(typ)})
			return
		}
		if errors.Is(err, errs.ErrConflict) {
			s.renderFields(c, http.StatusConflict, gin.H{"Errors": map[string]string{"name": errs.Message(err)}, "Name": name, "Type": string(typ)})
			return
		}
		s.pageError(c, err)
		return
	}
	s.flash(c, "Custom field "+f.Name+" created.")
	seeOther(c, "/settings/fields")
}

// fieldDeletePost deletes a custom field; a field a segment reads is kept,
// and the page says which segments read it.
func (s *Server) fieldDeletePost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	err = s.d.Contacts.DeleteField(c.Request.Context(), id, s.d.Segments)
	switch {
	case errors.Is(err, errs.ErrConflict):
		s.renderFields(c, http.StatusConflict, gin.H{"DeleteError": errs.Message(err)})
		return
	case err != nil && !errors.Is(err, errs.ErrNotFound):
		s.pageError(c, err)
		return
	}
	s.flash(c, "Custom field deleted. Contacts keep their values, which no longer have a type.")
	seeOther(c, "/settings/fields")
}
