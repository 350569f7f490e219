package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"herald/automations"
	"herald/internal/errs"
)

// automationPageRoutes adds the automations list, the flow builder and a
// flow's page with its stats and runs. The builder edits through the
// JSON API (/api/automations), so these handlers only read and switch a
// flow on and off.
func (s *Server) automationPageRoutes(ui *gin.RouterGroup) {
	ui.GET("/automations", s.automationsPage)
	ui.GET("/automations/new", s.automationPage)
	ui.GET("/automations/:id", s.automationPage)
	ui.POST("/automations/:id/enable", s.automationSwitchPost)
	ui.POST("/automations/:id/disable", s.automationSwitchPost)
}

// automationRow is an automation with its run counts.
type automationRow struct {
	Automation automations.Automation
	Stats      automations.Stats
	Enrolled   int64
}

// automationsPage lists the automations and how their runs stand.
func (s *Server) automationsPage(c *gin.Context) {
	ctx := c.Request.Context()
	fs, err := s.d.Automations.List(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	rows := make([]automationRow, 0, len(fs))
	for _, f := range fs {
		st, err := s.d.Automations.Stats(ctx, f.ID)
		if err != nil {
			s.pageError(c, err)
			return
		}
		rows = append(rows, automationRow{Automation: f, Stats: st, Enrolled: st.Active + st.Done + st.Exited})
	}
	s.render(c, http.StatusOK, "automations", gin.H{"Title": "Automations", "Nav": "automations", "Automations": rows})
}

// runFilters are the run lists a flow's page offers.
var runFilters = []string{"", string(automations.RunActive), string(automations.RunDone), string(automations.RunExited), automations.RunsDeferred, automations.RunsFailing}

// automationPage is the flow builder: empty at /automations/new, loaded
// by the script from the API for an existing flow, whose page also shows
// its stats and its runs (?runs= filters them, ?before= pages).
func (s *Server) automationPage(c *gin.Context) {
	groups, err := s.snippets(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	data := gin.H{"Title": "New automation", "Nav": "automations", "Snippets": groups,
		"Scripts": []string{"segment-builder.js", "message-editor.js", "automation-builder.js"}}
	if c.Param("id") == "" {
		s.render(c, http.StatusOK, "automation", data)
		return
	}
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	ctx := c.Request.Context()
	f, err := s.d.Automations.Get(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	st, err := s.d.Automations.Stats(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	filter := c.Query("runs")
	valid := false
	for _, f := range runFilters {
		valid = valid || f == filter
	}
	if !valid {
		filter = ""
	}
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	runs, next, err := s.d.Automations.Runs(ctx, id, filter, before, 50)
	if err != nil {
		s.pageError(c, err)
		return
	}
	views, err := s.runViews(ctx, runs)
	if err != nil {
		s.pageError(c, err)
		return
	}
	data["Title"] = f.Name
	data["Automation"] = f
	data["Stats"] = st
	data["Enrolled"] = st.Active + st.Done + st.Exited
	data["Runs"] = views
	data["RunFilter"] = filter
	data["RunFilters"] = runFilters
	data["Next"] = next
	s.render(c, http.StatusOK, "automation", data)
}

// automationSwitchPost enables or disables a flow (the page confirms it
// first); a flow that cannot be enabled says why on its page.
func (s *Server) automationSwitchPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	ctx := c.Request.Context()
	enable := c.FullPath() == "/automations/:id/enable"
	var f automations.Automation
	if enable {
		f, err = s.d.Automations.Enable(ctx, id)
	} else {
		f, err = s.d.Automations.Disable(ctx, id)
	}
	switch {
	case err == nil && enable:
		s.flash(c, f.Name+" is on: contacts who meet its trigger from now on enter it.")
	case err == nil:
		s.flash(c, f.Name+" is paused: runs stay where they are until it is enabled again.")
	case errors.Is(err, errs.ErrNotFound):
		s.pageError(c, err)
		return
	default:
		if _, ok := errs.AsInvalid(err); ok || errors.Is(err, errs.ErrConflict) {
			s.flash(c, "Not changed: "+errs.Message(err))
		} else {
			s.pageError(c, err)
			return
		}
	}
	seeOther(c, "/automations/"+strconv.FormatInt(id, 10))
}

// flowStep is the automation and step (from 1) that send an automation
// message campaign.
type flowStep struct {
	Automation automations.Automation
	Step       int
}

// flowOfMessage finds which automation step sends campaign id; ok is false
// when none does (its automation was changed to a new message meanwhile).
func (s *Server) flowOfMessage(ctx context.Context, id int64) (flowStep, bool, error) {
	fs, err := s.d.Automations.List(ctx)
	if err != nil {
		return flowStep{}, false, err
	}
	for _, f := range fs {
		steps, err := automations.StepsOf(f)
		if err != nil {
			continue // a flow whose steps cannot be read sends nothing
		}
		for i, st := range steps {
			if st.CampaignID == id {
				return flowStep{Automation: f, Step: i + 1}, true, nil
			}
		}
	}
	return flowStep{}, false, nil
}
