package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/internal/db"
)

type flowView struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Status      string     `json:"status"`
	Trigger     db.JSONRaw `json:"trigger"`
	Steps       db.JSONRaw `json:"steps"`
	Exit        db.JSONRaw `json:"exit"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func viewFlow(f campaigns.Flow) flowView {
	exit := f.Exit
	if len(exit) == 0 {
		exit = db.JSONRaw("null")
	}
	return flowView{ID: f.ID, Name: f.Name, Description: f.Description, Status: string(f.Status), Trigger: f.Trigger,
		Steps: f.Steps, Exit: exit, CreatedAt: f.CreatedAt.UTC(), UpdatedAt: f.UpdatedAt.UTC()}
}

func (s *Server) listFlows(c *gin.Context) {
	fs, err := s.d.Campaigns.ListFlows(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]flowView, len(fs))
	for i, f := range fs {
		out[i] = viewFlow(f)
	}
	c.PureJSON(http.StatusOK, listBody(out, 0))
}

func (s *Server) createFlow(c *gin.Context) {
	var in campaigns.FlowInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	f, err := s.d.Campaigns.CreateFlow(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusCreated, viewFlow(f))
}

func (s *Server) getFlow(c *gin.Context) {
	s.flowAction(c, func(id int64) (campaigns.Flow, error) { return s.d.Campaigns.GetFlow(c.Request.Context(), id) })
}

func (s *Server) patchFlow(c *gin.Context) {
	var in campaigns.FlowInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	s.flowAction(c, func(id int64) (campaigns.Flow, error) { return s.d.Campaigns.UpdateFlow(c.Request.Context(), id, in) })
}

func (s *Server) enableFlow(c *gin.Context) {
	s.flowAction(c, func(id int64) (campaigns.Flow, error) { return s.d.Campaigns.EnableFlow(c.Request.Context(), id) })
}

func (s *Server) disableFlow(c *gin.Context) {
	s.flowAction(c, func(id int64) (campaigns.Flow, error) { return s.d.Campaigns.DisableFlow(c.Request.Context(), id) })
}

func (s *Server) flowAction(c *gin.Context, act func(int64) (campaigns.Flow, error)) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	f, err := act(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, viewFlow(f))
}

func (s *Server) deleteFlow(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.d.Campaigns.DeleteFlow(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) flowStats(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	st, err := s.d.Campaigns.FlowStatsOf(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, st)
}
