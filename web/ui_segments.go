package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/internal/errs"
	"herald/segments"
)

// segmentPageRoutes adds the segment pages: the list, the builder, a
// segment's page and the templates gallery. The builder saves through the
// JSON API (with the session), so its errors arrive with their path.
func (s *Server) segmentPageRoutes(ui *gin.RouterGroup) {
	ui.GET("/segments", s.segmentsPage)
	ui.GET("/segments/new", s.newSegmentPage)
	ui.GET("/segments/templates", s.segmentTemplatesPage)
	ui.GET("/segments/:id", s.segmentPage)
	ui.POST("/segments/:id/refresh", s.segmentRefreshPost)
	ui.POST("/segments/:id/delete", s.segmentDeletePost)
}

// segmentFields serves the field catalog that drives the segment builder,
// with the custom fields defined now.
func (s *Server) segmentFields(c *gin.Context) {
	cat, err := s.d.Segments.Catalog(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, cat)
}

// segmentUsers is who targets each segment.
func (s *Server) segmentUsers(c *gin.Context) (map[int64][]campaigns.SegmentUser, error) {
	switch {
	case s.d.Automations != nil:
		return s.d.Automations.AllSegmentUsers(c.Request.Context())
	case s.d.Campaigns != nil:
		return s.d.Campaigns.SegmentUsers(c.Request.Context())
	}
	return map[int64][]campaigns.SegmentUser{}, nil
}

type segmentRow struct {
	segments.Segment
	Users []campaigns.SegmentUser
}

func (s *Server) segmentsPage(c *gin.Context) {
	ctx := c.Request.Context()
	cursor, _ := strconv.ParseInt(c.Query("cursor"), 10, 64)
	segs, next, err := s.d.Segments.List(ctx, max(cursor, 0), 100)
	if err != nil {
		s.pageError(c, err)
		return
	}
	users, err := s.segmentUsers(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	rows := make([]segmentRow, len(segs))
	for i, sg := range segs {
		rows[i] = segmentRow{Segment: sg, Users: users[sg.ID]}
	}
	s.render(c, http.StatusOK, "segments", gin.H{"Title": "Segments", "Nav": "segments", "Segments": rows, "Next": next, "Cursor": cursor})
}

// builderData is what the builder page needs besides the segment itself.
func builderData(title string, def json.RawMessage) gin.H {
	return gin.H{"Title": title, "Nav": "segments", "Scripts": []string{"segment-builder.js", "segment-page.js"}, "Definition": string(def)}
}

// newSegmentPage opens the builder on an empty definition, or on the
// result of a template (?template=KEY&p.NAME=VALUE...) so that it can be
// adjusted before saving. Bad parameters go back to the gallery, with the
// values as typed and the error beside the parameter.
func (s *Server) newSegmentPage(c *gin.Context) {
	def := json.RawMessage(`{"all":[]}`)
	data := builderData("New segment", def)
	if key := c.Query("template"); key != "" {
		params := templateParams(c.Request.URL.Query())
		raw, _ := json.Marshal(params)
		t, built, err := s.d.Segments.FromTemplate(key, raw)
		if err != nil {
			if ie, ok := errs.AsInvalid(err); ok {
				s.renderTemplates(c, http.StatusBadRequest, key, params, ie)
				return
			}
			s.pageError(c, err)
			return
		}
		data = builderData("New segment", built)
		data["Name"], data["Description"], data["FromTemplate"] = t.Name, t.Description, t.Name
	}
	s.render(c, http.StatusOK, "segment", data)
}

// templateParams reads p.NAME query values, numbers as numbers; empty ones
// are left out so that the template's default applies.
func templateParams(q url.Values) map[string]any {
	out := map[string]any{}
	for k, vs := range q {
		name, ok := strings.CutPrefix(k, "p.")
		if !ok || len(vs) == 0 || strings.TrimSpace(vs[0]) == "" {
			continue
		}
		v := strings.TrimSpace(vs[0])
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = json.Number(strconv.FormatFloat(n, 'f', -1, 64))
		} else {
			out[name] = v
		}
	}
	return out
}

func (s *Server) segmentTemplatesPage(c *gin.Context) {
	s.renderTemplates(c, http.StatusOK, "", nil, nil)
}

// templateCard is one card of the gallery with what the user typed.
type templateCard struct {
	segments.Template
	Inputs []paramInput
	// Error is a refusal that names no parameter.
	Error string
}

type paramInput struct {
	segments.Param
	Label, Value, Error string
	// Options make a select: months, or the campaigns to pick from.
	Options []monthOption
}

type monthOption struct{ Value, Label string }

var monthOptions = func() []monthOption {
	out := []monthOption{{segments.MonthCurrent, "This month (at each refresh)"}, {segments.MonthNext, "Next month (at each refresh)"}}
	for m := time.January; m <= time.December; m++ {
		out = append(out, monthOption{strconv.Itoa(int(m)), m.String()})
	}
	return out
}()

func (s *Server) renderTemplates(c *gin.Context, status int, key string, params map[string]any, ie *errs.InvalidError) {
	list := s.d.Segments.Templates()
	var campaignOptions []monthOption
	if s.d.Campaigns != nil {
		cs, _, err := s.d.Campaigns.List(c.Request.Context(), 0, 200)
		if err != nil {
			s.pageError(c, err)
			return
		}
		for _, cp := range cs {
			campaignOptions = append(campaignOptions, monthOption{strconv.FormatInt(cp.ID, 10), fmt.Sprintf("%s (%s)", cp.Name, cp.Status)})
		}
	}
	cards := make([]templateCard, len(list))
	for i, t := range list {
		card := templateCard{Template: t}
		mine := t.Key == key && ie != nil
		for _, p := range t.Params {
			label := strings.ReplaceAll(strings.TrimSuffix(p.Name, "_id"), "_", " ")
			in := paramInput{Param: p, Label: strings.ToUpper(label[:1]) + label[1:]}
			if p.Default != nil {
				in.Value = fmt.Sprint(p.Default)
			}
			switch p.Type {
			case segments.ParamMonth:
				// The options say what the long description does.
				in.Options, in.Description = monthOptions, ""
			case segments.ParamCampaign:
				in.Options = campaignOptions
			}
			if t.Key == key {
				if v, ok := params[p.Name]; ok {
					in.Value = fmt.Sprint(v)
				}
				if mine && ie.Path == "params."+p.Name {
					in.Error = ie.Message
				}
			}
			card.Inputs = append(card.Inputs, in)
		}
		if mine && !strings.HasPrefix(ie.Path, "params.") {
			card.Error = ie.Message
		}
		cards[i] = card
	}
	s.render(c, status, "segment_templates", gin.H{"Title": "Segment templates", "Nav": "segments", "Cards": cards,
		"Countries": countryOptions()})
}

func (s *Server) segmentPage(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	flash := ""
	switch {
	case c.Query("created") == "1":
		flash = "Segment created."
	case c.Query("saved") == "1":
		flash = "Segment saved."
	}
	s.renderSegment(c, http.StatusOK, id, "", flash)
}

func (s *Server) renderSegment(c *gin.Context, status int, id int64, deleteError, flash string) {
	ctx := c.Request.Context()
	sg, err := s.d.Segments.Get(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	after, _ := strconv.ParseInt(c.Query("after"), 10, 64)
	members, next, err := s.d.Segments.Members(ctx, id, max(after, 0), 50)
	if err != nil {
		s.pageError(c, err)
		return
	}
	users, err := s.segmentUsers(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	data := builderData(sg.Name, json.RawMessage(sg.Definition))
	data["Segment"], data["Name"], data["Description"] = sg, sg.Name, sg.Description
	data["Members"], data["Next"], data["After"] = members, next, after
	data["Users"], data["Currency"], data["DeleteError"] = users[id], s.d.Contacts.Currency(), deleteError
	if flash != "" {
		data["Flash"] = flash
	}
	s.render(c, status, "segment", data)
}

func (s *Server) segmentRefreshPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	res, err := s.d.Segments.Refresh(c.Request.Context(), id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	noun := "members"
	if res.Members == 1 {
		noun = "member"
	}
	s.flash(c, fmt.Sprintf("Refreshed: %d %s now (%d entered, %d left).", res.Members, noun, res.Entered, res.Exited))
	seeOther(c, fmt.Sprintf("/segments/%d", id))
}

func (s *Server) segmentDeletePost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	sg, err := s.d.Segments.Get(c.Request.Context(), id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	if err := s.deleteSegmentChecked(c, id); err != nil {
		if errors.Is(err, errs.ErrConflict) {
			s.renderSegment(c, http.StatusConflict, id, errs.Message(err), "")
			return
		}
		s.pageError(c, err)
		return
	}
	s.flash(c, fmt.Sprintf("Segment %q deleted.", sg.Name))
	seeOther(c, "/segments")
}

// deleteSegmentChecked deletes a segment unless a campaign or an
// automation targets it.
func (s *Server) deleteSegmentChecked(c *gin.Context, id int64) error {
	if s.d.Automations != nil {
		return s.d.Automations.DeleteSegment(c.Request.Context(), id)
	}
	users, err := s.segmentUsers(c)
	if err != nil {
		return err
	}
	if us := users[id]; len(us) > 0 {
		sg, err := s.d.Segments.Get(c.Request.Context(), id)
		if err != nil {
			return err
		}
		return errs.Conflict("segment %q is used by %s; change or delete them first", sg.Name, campaigns.DescribeUsers(us))
	}
	return s.d.Segments.Delete(c.Request.Context(), id)
}
