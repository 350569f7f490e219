package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
	"herald/reports"
	"herald/templates"
)

// campaignStatuses are the choices of the campaign list's status filter.
var campaignStatuses = []campaigns.Status{campaigns.CampaignDraft, campaigns.CampaignScheduled, campaigns.CampaignSending, campaigns.CampaignPaused, campaigns.CampaignSent, campaigns.CampaignCancelled}

func (s *Server) campaignsPage(c *gin.Context) {
	cursor, _ := strconv.ParseInt(c.Query("cursor"), 10, 64)
	status := campaigns.Status(c.Query("status"))
	valid := status == ""
	for _, st := range campaignStatuses {
		valid = valid || st == status
	}
	if !valid {
		status = ""
	}
	cs, next, err := s.d.Reports.Overview(c.Request.Context(), status, cursor, 50)
	if err != nil {
		s.pageError(c, err)
		return
	}
	rows := make([]campaignRow, len(cs))
	for i, sm := range cs {
		rows[i] = campaignRow{Summary: sm, Revenue: formatMajor(sm.Revenue, sm.Currency)}
	}
	s.render(c, http.StatusOK, "campaigns", gin.H{
		"Title": "Campaigns", "Nav": "campaigns", "Campaigns": rows, "Next": next, "Cursor": cursor,
		"Status": string(status), "Statuses": campaignStatuses,
	})
}

// campaignRow is a line of the campaign list.
type campaignRow struct {
	reports.Summary
	Revenue string
}

// percent formats a share (0..1) for people: "12.5%", and "0.15%" below
// one percent, where one decimal would round a few people away.
func percent(f float64) string {
	p := f * 100
	if p > 0 && p < 1 {
		return strconv.FormatFloat(p, 'f', 2, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// formatMajor formats an amount in major units of currency, as the
// money page function does for minor ones.
func formatMajor(v float64, currency string) string {
	return templates.FormatMinor(contacts.ToMinor(v, currency), currency)
}

// sendForm is what the send form holds: kept when the server refuses
// it.
type sendForm struct {
	When    string // "now", "schedule" or "local"
	LocalAt string // the datetime-local value as the user typed it
	Error   string
	// The hour, day and missed choice of a send at a local time.
	LocalTime, LocalDate, Missed string
	// FollowUp is the resend-to-non-openers form of a sent campaign.
	FollowUp followUpForm
}

func (s *Server) campaignPage(c *gin.Context) {
	s.renderCampaign(c, http.StatusOK, sendForm{When: "now", FollowUp: followUpForm{Suggest: true}})
}

// renderCampaign draws a campaign's page: its send panel while it is a
// draft or scheduled, its progress once it has deliveries, and its report.
func (s *Server) renderCampaign(c *gin.Context, status int, form sendForm) {
	ctx := c.Request.Context()
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	cp, err := s.d.Campaigns.Get(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	st, err := s.d.Reports.Stats(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	form.FollowUp = form.FollowUp.withDefaults(cp, time.Now())
	data := gin.H{
		"Title": cp.Name, "Nav": "campaigns", "Campaign": cp, "PausedByUser": cp.PauseReason == campaigns.PausedByUser, "Stats": st, "Form": form,
		"Scripts":   []string{"campaign.js"},
		"OpenRate":  percent(st.OpenRate),
		"ClickRate": percent(st.ClickRate),
		"Revenue":   formatMajor(st.Revenue, st.Currency),
		"Progress":  progressOf(cp, st),
		"Bounced":   st.Bounced + st.BouncedAfterSend,
		"ABTest":    abPanelOf(cp, st),
	}
	localSendData(s.d.Campaigns.Zone(), &form, data)
	data["Form"] = form
	data["ShowDelivery"] = st.Total > 0 || cp.Status == campaigns.CampaignSending || cp.Status == campaigns.CampaignPaused
	if err := s.followUpData(ctx, cp, data); err != nil {
		s.pageError(c, err)
		return
	}
	switch cp.Status {
	case campaigns.CampaignDraft, campaigns.CampaignScheduled:
		if r, err := s.d.Campaigns.Preview(ctx, id, 0); err == nil {
			data["PreviewHTML"] = r.HTML
		}
		data["SegmentIDs"] = idList(cp.SegmentIDs)
		data["ExcludeSegmentIDs"] = idList(cp.ExcludeSegmentIDs)
	}
	if st.Total > 0 {
		if err := s.campaignReport(c, cp, st, data); err != nil {
			s.pageError(c, err)
			return
		}
	}
	s.render(c, status, "campaign", data)
}

// campaignReport adds the report's chart, lists and actions to data.
func (s *Server) campaignReport(c *gin.Context, cp campaigns.Campaign, st reports.Stats, data gin.H) error {
	ctx := c.Request.Context()
	buckets, err := s.d.Reports.Activity(ctx, cp.ID)
	if err != nil {
		return err
	}
	if len(buckets) > 0 {
		data["Chart"] = activityChart(buckets).HTML()
	}
	kind := reports.PeopleKind(c.DefaultQuery("list", string(reports.PeopleOpened)))
	known := false
	for _, k := range reports.PeopleKinds {
		known = known || k == kind
	}
	if !known {
		kind = reports.PeopleOpened
	}
	after, _ := strconv.ParseInt(c.Query("after"), 10, 64)
	people, next, err := s.d.Reports.People(ctx, cp.ID, kind, after, 50)
	if err != nil {
		return err
	}
	resendable, err := s.d.Reports.UnknownResendable(ctx, cp.ID)
	if err != nil {
		return err
	}
	actions, err := s.d.Reports.Actions(ctx, cp.ID)
	if err != nil {
		return err
	}
	links := make([]linkRow, len(st.Links))
	for i, l := range st.Links {
		links[i] = linkRow{LinkStats: l, Short: clip(l.URL, 90)}
	}
	data["List"], data["People"], data["After"], data["NextAfter"] = string(kind), people, after, next
	data["Lists"] = reports.PeopleKinds
	data["Resendable"], data["Actions"], data["Links"] = resendable, actions, links
	return nil
}

type linkRow struct {
	reports.LinkStats
	Short string
}

// activityChart draws opens and clicks by people as lines and the
// machines' as hatched bars, by the hour after the send and then by the
// day.
func activityChart(bs []reports.ActivityBucket) chart {
	ch := chart{Title: "Opens and clicks after the send"}
	opens := chartSeries{Name: "Opens by people"}
	clicks := chartSeries{Name: "Clicks by people"}
	machines := chartSeries{Name: "Machine opens and clicks", Bars: true}
	start := bs[0].Start
	for _, b := range bs {
		label := fmt.Sprintf("%dh", int(b.Start.Sub(start)/time.Hour))
		if !b.Hourly {
			label = fmt.Sprintf("day %d", int(b.Start.Sub(start)/(24*time.Hour))+1)
		}
		ch.Labels = append(ch.Labels, label)
		opens.Values = append(opens.Values, float64(b.Opens))
		clicks.Values = append(clicks.Values, float64(b.Clicks))
		machines.Values = append(machines.Values, float64(b.OpensMachine+b.ClicksMachine))
	}
	ch.Series = []chartSeries{machines, opens, clicks}
	return ch
}

// progress is what a campaign's progress bar shows; the page draws it and
// campaign.js refreshes it from /campaigns/:id/progress.
type progress struct {
	Status   campaigns.Status `json:"status"`
	Total    int64            `json:"total"`
	Queued   int64            `json:"queued"` // waiting or in a worker's hands
	Sent     int64            `json:"sent"`
	Failed   int64            `json:"failed"` // failed, bounced or skipped
	Unknown  int64            `json:"unknown"`
	Deferred int64            `json:"deferred"` // by the frequency cap
	Waiting  int64            `json:"waiting"`  // for their local time
	Held     int64            `json:"held"`     // waiting for an A/B test's winner
	// ABTesting is true once an A/B test's share is out and its winner not
	// yet picked: the page then has figures and pick buttons to show.
	ABTesting bool    `json:"ab_testing"`
	Done      int64   `json:"done"`
	Percent   int     `json:"percent"`
	Rate      float64 `json:"rate"`
	ETA       string  `json:"eta"` // "" when unknown
}

func progressOf(cp campaigns.Campaign, st reports.Stats) progress {
	p := progress{
		Status: cp.Status, Total: st.Total, Queued: st.Queued + st.InFlight, Sent: st.Sent,
		Failed: st.Failed + st.Bounced + st.Skipped, Unknown: st.Unknown, Deferred: st.Deferred - st.WaitingLocalTime, Rate: st.Rate,
		Waiting: st.WaitingLocalTime, Held: st.Held, ABTesting: cp.ABState == campaigns.ABTesting,
	}
	p.Done = p.Total - p.Queued - p.Deferred - p.Waiting - p.Held
	if p.Total > 0 {
		p.Percent = int(p.Done * 100 / p.Total)
	}
	// With nothing queued there is nothing to finish at this rate: what is
	// left waits for an A/B winner, a local hour or the frequency cap, and
	// a time left of "1 second" would say the campaign is about done.
	if st.ETASeconds != nil && p.Queued > 0 {
		p.ETA = roundUp(time.Duration(*st.ETASeconds) * time.Second)
	}
	return p
}

// campaignProgress answers the progress bar's poll.
func (s *Server) campaignProgress(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cp, st, err := s.d.Reports.Progress(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.PureJSON(http.StatusOK, progressOf(cp, st))
}

func idList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// campaignSendPost sends a campaign now or schedules it. The browser
// turns the date and time typed in the reader's zone into scheduled_at
// (RFC 3339) before posting; the confirmation it shows first states the
// audience.
func (s *Server) campaignSendPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	form := sendForm{When: c.PostForm("when"), LocalAt: c.PostForm("local_at"),
		LocalTime: c.PostForm("local_time"), LocalDate: c.PostForm("local_date"), Missed: c.PostForm("missed")}
	if form.When == "local" {
		s.campaignSendLocal(c, id, form)
		return
	}
	var at *time.Time
	if form.When == "schedule" {
		raw := strings.TrimSpace(c.PostForm("scheduled_at"))
		t, err := time.Parse(time.RFC3339, raw)
		switch {
		case raw == "" || form.LocalAt == "":
			form.Error = "Choose the date and time to send it at."
		case err != nil:
			form.Error = "That date and time could not be read; choose it again."
		case !t.After(time.Now()):
			form.Error = "That time has passed; choose a later one, or send it now."
		}
		if form.Error != "" {
			s.renderCampaign(c, http.StatusBadRequest, form)
			return
		}
		at = &t
	} else {
		form.When = "now"
	}
	cp, err := s.d.Campaigns.Send(c.Request.Context(), id, at)
	if err != nil {
		var inv *errs.InvalidError
		if errors.As(err, &inv) || errors.Is(err, errs.ErrConflict) {
			form.Error = errs.Message(err)
			s.renderCampaign(c, http.StatusBadRequest, form)
			return
		}
		s.pageError(c, err)
		return
	}
	if cp.Status == campaigns.CampaignScheduled {
		s.flash(c, "Scheduled. It starts at the time shown below.")
	} else {
		s.flash(c, "Sending started.")
	}
	seeOther(c, fmt.Sprintf("/campaigns/%d", id))
}

// campaignActionPost pauses, resumes or cancels a campaign from its page.
func (s *Server) campaignActionPost(act func(*gin.Context, int64) (campaigns.Campaign, error), done string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := pathID(c)
		if err != nil {
			s.pageError(c, err)
			return
		}
		if _, err := act(c, id); err != nil {
			if errors.Is(err, errs.ErrConflict) {
				s.flash(c, errs.Message(err))
				seeOther(c, fmt.Sprintf("/campaigns/%d", id))
				return
			}
			s.pageError(c, err)
			return
		}
		s.flash(c, done)
		seeOther(c, fmt.Sprintf("/campaigns/%d", id))
	}
}

// campaignResendPost sends the campaign's unknown deliveries once more,
// recording who chose it.
func (s *Server) campaignResendPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	act, err := s.d.Campaigns.ResendUnknown(c.Request.Context(), id, s.actor(c))
	if err != nil {
		if errors.Is(err, errs.ErrConflict) {
			s.flash(c, errs.Message(err))
			seeOther(c, fmt.Sprintf("/campaigns/%d", id))
			return
		}
		s.pageError(c, err)
		return
	}
	s.flash(c, fmt.Sprintf("Sending %d %s once more.", act.Count, map[bool]string{true: "message", false: "messages"}[act.Count == 1]))
	seeOther(c, fmt.Sprintf("/campaigns/%d", id))
}

// actor names who made a request, for the record of a decision: the
// signed-in user's email, or the API key.
func (s *Server) actor(c *gin.Context) string {
	v, ok := c.Get("session")
	if !ok || s.d.Sessions == nil {
		return "the API key"
	}
	sess, ok, err := s.d.Sessions.Check(c.Request.Context(), v.(string))
	if err != nil || !ok {
		return "a signed-in user"
	}
	return sess.Email
}

// campaignPageRoutes adds the actions of a campaign's page (send,
// schedule, pause, resume, cancel, send the unknown once more) and the
// progress bar's poll.
func (s *Server) campaignPageRoutes(ui *gin.RouterGroup) {
	ui.GET("/campaigns/:id/progress", s.campaignProgress)
	ui.POST("/campaigns/:id/send", s.campaignSendPost)
	ui.POST("/campaigns/:id/pause", s.campaignActionPost(func(c *gin.Context, id int64) (campaigns.Campaign, error) {
		return s.d.Campaigns.Pause(c.Request.Context(), id, campaigns.PausedByUser)
	}, "Paused. Nothing more goes out until you resume."))
	ui.POST("/campaigns/:id/resume", s.campaignActionPost(func(c *gin.Context, id int64) (campaigns.Campaign, error) {
		return s.d.Campaigns.Resume(c.Request.Context(), id)
	}, "Resumed."))
	ui.POST("/campaigns/:id/cancel", s.campaignActionPost(func(c *gin.Context, id int64) (campaigns.Campaign, error) {
		return s.d.Campaigns.Cancel(c.Request.Context(), id)
	}, "Cancelled. Messages not yet sent will not go out."))
	ui.POST("/campaigns/:id/resend-unknown", s.campaignResendPost)
	ui.POST("/campaigns/:id/winner", s.campaignWinnerPost)
	ui.POST("/campaigns/:id/resend", s.campaignFollowUpPost)
}
