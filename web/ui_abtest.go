package web

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/internal/errs"
	"herald/reports"
)

// abSlot is one variant slot of the editor's A/B test section.
type abSlot struct {
	N     int
	Label string
}

// abSlots are the editor's variant slots, A to D.
func abSlots() []abSlot {
	out := make([]abSlot, campaigns.MaxVariants)
	for i := range out {
		out[i] = abSlot{i + 1, campaigns.Label(i + 1)}
	}
	return out
}

// abFormOf fills the editor's A/B test fields from cp's test.
func abFormOf(cp campaigns.Campaign, f *campaignForm) {
	f.Values["ab_test_percent"], f.Values["ab_winner_metric"], f.Values["ab_test_hours"] = "20", "opens", "4"
	t := cp.ABTest
	if t == nil {
		return
	}
	f.ABOn = true
	f.Values["ab_test_percent"] = strconv.Itoa(t.TestPercent)
	f.Values["ab_winner_metric"] = string(t.WinnerMetric)
	f.Values["ab_test_hours"] = strconv.Itoa(t.TestHours)
	for i, v := range t.Variants {
		n := strconv.Itoa(i + 1)
		f.Values["ab_subject_"+n], f.Values["ab_from_name_"+n], f.Values["ab_html_body_"+n] = v.Subject, v.FromName, v.HTMLBody
	}
}

// readABForm reads the editor's A/B test section into in: the filled
// slots, in order, become the variants; with the test switched off, any
// test is removed. f.ABSlot keeps which slot each variant came from, so
// an error about a variant is shown at its slot.
func readABForm(c *gin.Context, f *campaignForm, in *campaigns.Input) {
	for _, k := range []string{"ab_test_percent", "ab_winner_metric", "ab_test_hours"} {
		f.Values[k] = strings.TrimSpace(c.PostForm(k))
	}
	f.ABOn = c.PostForm("ab_on") == "on"
	t := &campaigns.ABTest{WinnerMetric: campaigns.Metric(f.Values["ab_winner_metric"])}
	f.ABSlot = nil
	for _, slot := range abSlots() {
		n := slot.N
		k := strconv.Itoa(n)
		v := campaigns.Variant{Subject: c.PostForm("ab_subject_" + k), FromName: c.PostForm("ab_from_name_" + k),
			HTMLBody: strings.ReplaceAll(c.PostForm("ab_html_body_"+k), "\r\n", "\n")}
		f.Values["ab_subject_"+k], f.Values["ab_from_name_"+k], f.Values["ab_html_body_"+k] = v.Subject, v.FromName, v.HTMLBody
		if strings.TrimSpace(v.Subject+v.FromName+v.HTMLBody) == "" {
			continue
		}
		t.Variants = append(t.Variants, v)
		f.ABSlot = append(f.ABSlot, n)
	}
	if !f.ABOn {
		in.ABTest = &campaigns.ABTest{}
		return
	}
	// A number that does not parse is sent as 0, the default, unless it
	// was typed: then it is refused as out of range.
	num := func(k string) int {
		v := f.Values[k]
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return -1
		}
		return n
	}
	t.TestPercent, t.TestHours = num("ab_test_percent"), num("ab_test_hours")
	in.ABTest = t
}

// refuseAB puts an error about the A/B test at its place in the section:
// a variant's field at its slot, the rest by setting.
func (f *campaignForm) refuseAB(ie *errs.InvalidError) {
	path := strings.TrimPrefix(ie.Path, "ab_test")
	path = strings.TrimPrefix(path, ".")
	if rest, ok := strings.CutPrefix(path, "variants["); ok {
		i, tail, _ := strings.Cut(rest, "]")
		idx, _ := strconv.Atoi(i)
		slot := idx + 1
		if idx >= 0 && idx < len(f.ABSlot) {
			slot = f.ABSlot[idx]
		}
		field := strings.TrimPrefix(tail, ".")
		if field == "text_body" {
			field = "html_body"
		}
		if field == "" {
			field = "subject"
		}
		f.Errors[fmt.Sprintf("ab_%s_%d", field, slot)] = ie.Message
		return
	}
	switch path {
	case "test_percent", "winner_metric", "test_hours":
		f.Errors["ab_"+path] = ie.Message
	default:
		f.Errors["ab_test"] = ie.Message
	}
}

// abPanel is the report page's A/B test section.
type abPanel struct {
	Report  *reports.ABReport
	Rows    []abRow
	Metric  string
	Testing bool
	EndsAt  *time.Time
	Held    int64
}

type abRow struct {
	reports.VariantFigures
	Open, Click, Revenue, PerMessage string
	Leader, Winner                   bool
}

func abPanelOf(cp campaigns.Campaign, st reports.Stats) *abPanel {
	r := st.ABTest
	if r == nil {
		return nil
	}
	p := &abPanel{Report: r, Testing: r.State == string(campaigns.ABTesting) && cp.Status != campaigns.CampaignCancelled,
		EndsAt: r.TestEndsAt, Held: st.Held,
		Metric: map[campaigns.Metric]string{campaigns.MetricOpens: "unique opens", campaigns.MetricClicks: "unique clicks", campaigns.MetricRevenue: "revenue"}[r.WinnerMetric]}
	for _, v := range r.Variants {
		p.Rows = append(p.Rows, abRow{VariantFigures: v, Open: percent(v.OpenRate), Click: percent(v.ClickRate),
			Revenue: formatMajor(v.Revenue, st.Currency), PerMessage: formatMajor(v.RevenuePerMessage, st.Currency),
			Leader: v.Label == r.Leader, Winner: v.Label == r.Winner})
	}
	return p
}

// campaignWinnerPost records the A/B test winner a person picked on the
// campaign page, with their name.
func (s *Server) campaignWinnerPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	n := campaigns.ParseLabel(c.PostForm("variant"))
	released, err := s.d.Campaigns.DecideWinner(c.Request.Context(), id, n, s.actor(c))
	if err != nil {
		if errors.Is(err, errs.ErrConflict) {
			s.flash(c, errs.Message(err))
			seeOther(c, fmt.Sprintf("/campaigns/%d", id))
			return
		}
		if ie, ok := errs.AsInvalid(err); ok {
			s.flash(c, ie.Message)
			seeOther(c, fmt.Sprintf("/campaigns/%d", id))
			return
		}
		s.pageError(c, err)
		return
	}
	s.flash(c, fmt.Sprintf("%s is the winner: it goes to the other %s %s.", campaigns.Label(n), strconv.FormatInt(released, 10),
		map[bool]string{true: "recipient", false: "recipients"}[released == 1]))
	seeOther(c, fmt.Sprintf("/campaigns/%d", id))
}
