package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"herald/automations"
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
	// LastError is what last stopped the flow (a rule that no longer
	// compiles, a missing message), empty while nothing fails.
	LastError   string     `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func viewFlow(f automations.Automation) flowView {
	exit := f.Exit
	if len(exit) == 0 {
		exit = db.JSONRaw("null")
	}
	var errAt *time.Time
	if f.LastErrorAt != nil {
		t := f.LastErrorAt.UTC()
		errAt = &t
	}
	return flowView{ID: f.ID, Name: f.Name, Description: f.Description, Status: string(f.Status), Trigger: f.Trigger,
		Steps: f.Steps, Exit: exit, LastError: f.LastError, LastErrorAt: errAt, CreatedAt: f.CreatedAt.UTC(), UpdatedAt: f.UpdatedAt.UTC()}
}

func (s *Server) listFlows(c *gin.Context) {
	fs, err := s.d.Automations.List(c.Request.Context())
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
	var in automations.Input
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	f, err := s.d.Automations.Create(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusCreated, viewFlow(f))
}

func (s *Server) getFlow(c *gin.Context) {
	s.flowAction(c, func(id int64) (automations.Automation, error) { return s.d.Automations.Get(c.Request.Context(), id) })
}

func (s *Server) patchFlow(c *gin.Context) {
	var in automations.Input
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	s.flowAction(c, func(id int64) (automations.Automation, error) {
		return s.d.Automations.Update(c.Request.Context(), id, in)
	})
}

func (s *Server) enableFlow(c *gin.Context) {
	s.flowAction(c, func(id int64) (automations.Automation, error) { return s.d.Automations.Enable(c.Request.Context(), id) })
}

func (s *Server) disableFlow(c *gin.Context) {
	s.flowAction(c, func(id int64) (automations.Automation, error) {
		return s.d.Automations.Disable(c.Request.Context(), id)
	})
}

func (s *Server) flowAction(c *gin.Context, act func(int64) (automations.Automation, error)) {
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
	if err := s.d.Automations.Delete(c.Request.Context(), id); err != nil {
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
	st, err := s.d.Automations.Stats(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, st)
}

// runView is one contact's walk through a flow.
type runView struct {
	ID         int64  `json:"id"`
	ContactID  int64  `json:"contact_id"`
	Email      string `json:"email"`
	Occurrence string `json:"occurrence"`
	Status     string `json:"status"`
	// State refines an active run: due, waiting (a wait step), deferred
	// (the frequency cap) or failing (a step failed; it is tried again).
	// A finished run's state is its status.
	State        string     `json:"state"`
	StepsDone    int        `json:"steps_done"`
	NextAt       *time.Time `json:"next_at"`
	StartedAt    time.Time  `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	Note         string     `json:"note"`
	LastDeferral string     `json:"last_deferral"`
}

func viewRun(r automations.Run, email string, now time.Time) runView {
	v := runView{ID: r.ID, ContactID: r.ContactID, Email: email, Occurrence: r.Occurrence, Status: string(r.Status),
		State: r.State(now), StepsDone: r.Step, StartedAt: r.StartedAt.UTC(), Note: r.Note, LastDeferral: r.LastDeferral}
	if r.FinishedAt != nil {
		t := r.FinishedAt.UTC()
		v.FinishedAt = &t
	}
	if r.Status == automations.RunActive {
		next := r.NextAt.UTC()
		v.NextAt = &next
	}
	return v
}

// flowRuns lists a flow's runs, newest first; ?status= narrows to active,
// done, exited, deferred or failing ones.
func (s *Server) flowRuns(c *gin.Context) {
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
	ctx := c.Request.Context()
	runs, next, err := s.d.Automations.Runs(ctx, id, c.Query("status"), cursor, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.runViews(ctx, runs)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, listBody(out, next))
}

// runViews shows runs with their contacts' addresses, read in one query.
func (s *Server) runViews(ctx context.Context, runs []automations.Run) ([]runView, error) {
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ContactID
	}
	cs, err := s.d.Contacts.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	emails := make(map[int64]string, len(cs))
	for _, ct := range cs {
		emails[ct.ID] = ct.Email
	}
	now := time.Now()
	out := make([]runView, len(runs))
	for i, r := range runs {
		out[i] = viewRun(r, emails[r.ContactID], now)
	}
	return out, nil
}
