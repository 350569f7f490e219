package web

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/contacts"
	"herald/reports"
	"herald/templates"
)

// dashboardDays is how far back the dashboard's charts look.
const dashboardDays = 30

// campaignFigures is a campaign with the stats a list shows.
type campaignFigures struct {
	Campaign campaigns.Campaign
	Stats    reports.Stats
	// Percent is how much of the send is done (sent, failed, bounced or
	// skipped), 0-100.
	Percent int
	Revenue string
	// OpenRate and ClickRate are the human rates as percentages.
	OpenRate, ClickRate string
}

func figures(c campaigns.Campaign, st reports.Stats) campaignFigures {
	f := campaignFigures{Campaign: c, Stats: st, Revenue: templates.FormatMinor(contacts.ToMinor(st.Revenue, st.Currency), st.Currency),
		OpenRate: fmt.Sprintf("%.1f%%", st.OpenRate*100), ClickRate: fmt.Sprintf("%.1f%%", st.ClickRate*100)}
	if total := max(c.Total, st.Total); total > 0 {
		left := st.Queued + st.InFlight + st.Deferred
		f.Percent = int(math.Floor(float64(st.Total-left) / float64(total) * 100))
	}
	return f
}

// dashboardPage shows what a marketer looks at first: the audience, the
// sends under way, how the last campaigns did, what the automations did
// this week, and the messages and revenue of the last 30 days.
func (s *Server) dashboardPage(c *gin.Context) {
	ctx := c.Request.Context()
	now := time.Now().UTC()
	week := now.AddDate(0, 0, -7)
	total, err := s.d.Contacts.Count(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	subscribed, err := s.d.Contacts.CountStatus(ctx, contacts.Subscribed)
	if err != nil {
		s.pageError(c, err)
		return
	}
	newThisWeek, err := s.d.Contacts.CountCreatedSince(ctx, week)
	if err != nil {
		s.pageError(c, err)
		return
	}
	withStats := func(cs []campaigns.Campaign) ([]campaignFigures, error) {
		out := make([]campaignFigures, 0, len(cs))
		for _, cp := range cs {
			st, err := s.d.Reports.Stats(ctx, cp.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, figures(cp, st))
		}
		return out, nil
	}
	inProgress, err := s.d.Reports.InProgress(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	sending, err := withStats(inProgress)
	if err != nil {
		s.pageError(c, err)
		return
	}
	recentCs, err := s.d.Reports.RecentlyStarted(ctx, 5)
	if err != nil {
		s.pageError(c, err)
		return
	}
	recent, err := withStats(recentCs)
	if err != nil {
		s.pageError(c, err)
		return
	}
	flows, err := s.d.Automations.ActivitySince(ctx, week)
	if err != nil {
		s.pageError(c, err)
		return
	}
	from := now.Truncate(24*time.Hour).AddDate(0, 0, 1-dashboardDays)
	sent, err := s.d.Reports.SentPerDay(ctx, from, dashboardDays)
	if err != nil {
		s.pageError(c, err)
		return
	}
	revenue, err := s.d.Contacts.RevenuePerDay(ctx, from, dashboardDays)
	if err != nil {
		s.pageError(c, err)
		return
	}
	labels := make([]string, dashboardDays)
	sentF := make([]float64, dashboardDays)
	var sentSum, revenueSum float64
	for i := range labels {
		labels[i] = from.AddDate(0, 0, i).Format("Jan 2")
		sentF[i] = float64(sent[i])
		sentSum += sentF[i]
		revenueSum += revenue[i]
	}
	cur := s.d.Contacts.Currency()
	major := func(v float64) string { return templates.FormatMinor(contacts.ToMinor(v, cur), cur) }
	s.render(c, http.StatusOK, "dashboard", gin.H{
		"Title": "Dashboard", "Nav": "dashboard", "Scripts": []string{"dashboard.js"},
		"Total": total, "Subscribed": subscribed, "NewThisWeek": newThisWeek,
		"Sending": sending, "Recent": recent, "Flows": flows,
		"SentTotal": int64(sentSum), "RevenueTotal": major(revenueSum),
		"SentChart": chart{Title: "Messages sent per day (UTC), last 30 days", Labels: labels,
			Series: []chartSeries{{Name: "Messages sent", Values: sentF, Bars: true}}}.HTML(),
		"RevenueChart": chart{Title: "Revenue per day (UTC), last 30 days", Labels: labels, Unit: major,
			Series: []chartSeries{{Name: "Revenue (" + cur + ")", Values: revenue}}}.HTML(),
	})
}
