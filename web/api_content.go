package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"herald/internal/errs"
	"herald/templates"
)

type starterView struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Subject     string   `json:"subject"`
	HTML        string   `json:"html_body"`
	CouponPools []string `json:"coupon_pools"`
}

func viewStarter(s templates.Starter) starterView {
	pools := s.CouponPools
	if pools == nil {
		pools = []string{}
	}
	return starterView{Key: s.Key, Name: s.Name, Description: s.Description, Subject: s.Subject, HTML: s.HTML, CouponPools: pools}
}

// listTemplates shows the starter content a campaign can begin from
// (POST /api/campaigns with "template": KEY).
func (s *Server) listTemplates(c *gin.Context) {
	all := templates.Starters()
	out := make([]starterView, len(all))
	for i, st := range all {
		out[i] = viewStarter(st)
	}
	c.PureJSON(http.StatusOK, listBody(out, 0))
}

func (s *Server) getTemplate(c *gin.Context) {
	st, ok := templates.StarterByKey(c.Param("key"))
	if !ok {
		s.fail(c, errs.NotFound("template", c.Param("key")))
		return
	}
	c.PureJSON(http.StatusOK, viewStarter(st))
}

func (s *Server) listCouponPools(c *gin.Context) {
	pools, err := s.d.Campaigns.CouponPools(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, listBody(pools, 0))
}

// addCoupons uploads codes into a pool: {"codes": [...]}, or plain text
// with one code per line.
func (s *Server) addCoupons(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var codes []string
	if strings.HasPrefix(c.ContentType(), "text/plain") {
		for _, line := range strings.Split(string(body), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				codes = append(codes, line)
			}
		}
	} else {
		var in struct {
			Codes []string `json:"codes"`
		}
		if err := decodeBytes(c, body, &in); err != nil {
			s.fail(c, err)
			return
		}
		codes = in.Codes
	}
	added, dups, err := s.d.Campaigns.AddCoupons(c.Request.Context(), c.Param("pool"), codes)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"pool": c.Param("pool"), "added": added, "duplicates": dups})
}
