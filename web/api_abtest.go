package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/internal/errs"
)

// abTestView is a campaign's A/B test in its JSON: what was set, and how
// far the test went.
type abTestView struct {
	campaigns.ABTest
	State          string     `json:"state"`
	TestEndsAt     *time.Time `json:"test_ends_at"`
	Winner         string     `json:"winner"`
	WinnerPickedAt *time.Time `json:"winner_picked_at"`
	WinnerPickedBy string     `json:"winner_picked_by"`
}

func viewABTest(c campaigns.Campaign) *abTestView {
	if c.ABTest == nil {
		return nil
	}
	v := &abTestView{ABTest: *c.ABTest, State: string(c.ABState), TestEndsAt: utc(c.ABTestEndsAt),
		WinnerPickedAt: utc(c.ABWinnerAt), WinnerPickedBy: c.ABWinnerBy}
	if v.State == "" {
		v.State = "waiting"
	}
	if c.ABWinner > 0 {
		v.Winner = campaigns.Label(c.ABWinner)
	}
	return v
}

// variantParam reads the variant letter a preview or test send asks for
// ("" is the campaign's own content).
func variantParam(label string) (int, error) {
	if strings.TrimSpace(label) == "" {
		return 0, nil
	}
	n := campaigns.ParseLabel(label)
	if n == 0 {
		return 0, errs.Invalid("variant", "%q is not a variant: use A, B, C or D", label)
	}
	return n, nil
}

// pickCampaignWinner records the winner of a campaign's A/B test before
// its time is up and sends it to the rest: POST
// /api/campaigns/:id/winner with {"variant": "B"}. The pick is recorded
// as the API key's, or the signed-in user's.
func (s *Server) pickCampaignWinner(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		Variant string `json:"variant"`
	}
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	n := campaigns.ParseLabel(in.Variant)
	if n == 0 {
		s.fail(c, errs.Invalid("variant", "give the winning variant's letter (A, B, C or D), not %q", in.Variant))
		return
	}
	released, err := s.d.Campaigns.DecideWinner(c.Request.Context(), id, n, s.actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	cp, err := s.d.Campaigns.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusAccepted, gin.H{"campaign": viewCampaign(cp), "released": released})
}
