package web

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/internal/errs"
	"herald/segments"
)

func (s *Server) listSegments(c *gin.Context) {
	cursor, limit, err := page(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	segs, next, err := s.d.Segments.List(c.Request.Context(), cursor, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]segmentView, len(segs))
	for i, sg := range segs {
		out[i] = viewSegment(sg)
	}
	c.PureJSON(http.StatusOK, listBody(out, next))
}

func (s *Server) createSegment(c *gin.Context) {
	var in segments.Input
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	sg, err := s.d.Segments.Create(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusCreated, viewSegment(sg))
}

func (s *Server) getSegment(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	sg, err := s.d.Segments.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, viewSegment(sg))
}

func (s *Server) patchSegment(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in segments.Input
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	sg, err := s.d.Segments.Update(c.Request.Context(), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, viewSegment(sg))
}

func (s *Server) deleteSegment(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.deleteSegmentChecked(c, id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) previewSegment(c *gin.Context) {
	var in struct {
		Definition json.RawMessage `json:"definition"`
		Sample     *int            `json:"sample"`
	}
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	sample := 10
	if in.Sample != nil {
		if *in.Sample < 0 || *in.Sample > 100 {
			s.fail(c, errs.Invalid("sample", "must be from 0 to 100"))
			return
		}
		sample = *in.Sample
	}
	n, cs, err := s.d.Segments.Preview(c.Request.Context(), in.Definition, sample)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"count": n, "sample": s.viewContacts(cs)})
}

func (s *Server) refreshSegment(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.d.Segments.Refresh(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	sg, err := s.d.Segments.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"segment": viewSegment(sg), "entered": res.Entered, "exited": res.Exited, "member_count": res.Members})
}

func (s *Server) segmentMembers(c *gin.Context) {
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
	cs, next, err := s.d.Segments.Members(c.Request.Context(), id, cursor, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, listBody(s.viewContacts(cs), next))
}

// segmentTemplates lists the built-in segment templates and their
// parameters; POST /api/segments with {"template", "params"} uses one.
func (s *Server) segmentTemplates(c *gin.Context) {
	c.PureJSON(http.StatusOK, listBody(s.d.Segments.Templates(), 0))
}
