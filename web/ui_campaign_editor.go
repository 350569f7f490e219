package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	xhtml "golang.org/x/net/html"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
	"herald/templates"
)

// campaignEditorRoutes adds the campaign editor and its preview.
func (s *Server) campaignEditorRoutes(ui *gin.RouterGroup) {
	ui.GET("/campaigns/new", s.newCampaignPage)
	ui.POST("/campaigns/new", s.newCampaignPost)
	ui.GET("/campaigns/:id/edit", s.editCampaignPage)
	ui.POST("/campaigns/:id/edit", s.editCampaignPost)
	ui.GET("/campaigns/:id/preview", s.previewCampaignPage)
	ui.POST("/campaigns/:id/test", s.testCampaignPost)
}

// campaignForm is the editor's content: the values as typed (so a refused
// save shows them again) and what was wrong with them.
type campaignForm struct {
	Values     map[string]string
	Include    map[int64]bool
	Exclude    map[int64]bool
	TextCustom bool // the plain-text part is written by hand
	IgnoreCap  bool
	// ABOn is the A/B test switch; ABSlot[i] is the slot (1-4) variant i
	// was read from.
	ABOn   bool
	ABSlot []int
	// Errors are by form field; Template is a template error with its
	// position, shown on its line in the editor.
	Errors   map[string]string
	Template *templateError
}

// templateError is a template error the API reported at a line and column.
type templateError struct {
	Field     string // subject, html_body or text_body
	Line, Col int
	Msg       string
}

// Label names the part of the message the error is in.
func (e *templateError) Label() string {
	return map[string]string{"subject": "Subject", "html_body": "HTML body", "text_body": "Plain-text part"}[e.Field]
}

// templatePosRe reads the position campaigns.Service gives template errors.
var templatePosRe = regexp.MustCompile(`^line (\d+), column (\d+): (.*)$`)

func formOf(cp campaigns.Campaign) *campaignForm {
	f := &campaignForm{
		Values: map[string]string{
			"name": cp.Name, "from_name": cp.FromName, "from_email": cp.FromEmail, "reply_to": cp.ReplyTo,
			"subject": cp.Subject, "html_body": cp.HTMLBody, "text_body": cp.TextBody,
		},
		Include: map[int64]bool{}, Exclude: map[int64]bool{},
		TextCustom: cp.TextBody != "", IgnoreCap: cp.IgnoreFrequencyCap, Errors: map[string]string{},
	}
	for _, id := range cp.SegmentIDs {
		f.Include[id] = true
	}
	for _, id := range cp.ExcludeSegmentIDs {
		f.Exclude[id] = true
	}
	abFormOf(cp, f)
	return f
}

// readCampaignForm reads the editor's form into an Input. Every field is
// sent, so emptying one (the excluded segments) clears it.
func readCampaignForm(c *gin.Context) (campaigns.Input, *campaignForm, error) {
	f := &campaignForm{Values: map[string]string{}, Include: map[int64]bool{}, Exclude: map[int64]bool{}, Errors: map[string]string{}}
	var in campaigns.Input
	for name, dst := range map[string]**string{
		"name": &in.Name, "from_name": &in.FromName, "from_email": &in.FromEmail, "reply_to": &in.ReplyTo,
		"subject": &in.Subject, "html_body": &in.HTMLBody,
	} {
		v := c.PostForm(name)
		if name == "html_body" {
			// Browsers send textarea lines ending in CRLF; the template's
			// lines and columns are counted on what the marketer sees.
			v = strings.ReplaceAll(v, "\r\n", "\n")
		}
		f.Values[name] = v
		*dst = &v
	}
	f.TextCustom = c.PostForm("text_mode") == "custom"
	text := strings.ReplaceAll(c.PostForm("text_body"), "\r\n", "\n")
	f.Values["text_body"] = text
	if !f.TextCustom {
		text = "" // generated from the HTML
	}
	in.TextBody = &text
	f.IgnoreCap = c.PostForm("ignore_frequency_cap") == "on"
	in.IgnoreFrequencyCap = &f.IgnoreCap
	var firstErr error
	ids := func(name string, seen map[int64]bool) *[]int64 {
		out := []int64{}
		for i, v := range c.PostFormArray(name) {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				if firstErr == nil {
					firstErr = errs.Invalid(fmt.Sprintf("%s[%d]", name, i), "%q is not a segment", v)
				}
				continue
			}
			seen[id] = true
			out = append(out, id)
		}
		return &out
	}
	in.SegmentIDs = ids("segment_ids", f.Include)
	in.ExcludeSegmentIDs = ids("exclude_segment_ids", f.Exclude)
	readABForm(c, f, &in)
	return in, f, firstErr
}

// refuse puts an input error on the form: a template error at its line and
// column, anything else by its field.
func (f *campaignForm) refuse(ie *errs.InvalidError) {
	if strings.HasPrefix(ie.Path, "ab_test") {
		f.refuseAB(ie)
		return
	}
	field := ie.Path
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	switch field {
	case "subject", "html_body", "text_body":
		if m := templatePosRe.FindStringSubmatch(ie.Message); m != nil {
			line, _ := strconv.Atoi(m[1])
			col, _ := strconv.Atoi(m[2])
			f.Template = &templateError{Field: field, Line: line, Col: col, Msg: m[3]}
			return
		}
		if field == "text_body" {
			f.TextCustom = true
		}
	case "":
		field = "_"
	}
	f.Errors[field] = ie.Message
}

// snippet is an insertable piece of template: HTML is what goes into the
// HTML body when it differs from Code (links become <a> elements).
type snippet struct {
	Label, Code, HTML, Hint string
}

type snippetGroup struct {
	Name  string
	Items []snippet
}

// snippets lists what a message can use, with this install's custom fields
// and coupon pools.
func (s *Server) snippets(c *gin.Context) ([]snippetGroup, error) {
	ctx := c.Request.Context()
	fields, err := s.d.Contacts.ListFields(ctx)
	if err != nil {
		return nil, err
	}
	pools, err := s.d.Campaigns.CouponPools(ctx)
	if err != nil {
		return nil, err
	}
	const day = `"2 January 2006"`
	groups := []snippetGroup{
		{Name: "Contact", Items: []snippet{
			{Label: "First name, or “friend”", Code: `{{.FirstName | default "friend"}}`, Hint: "The fallback shows when the contact has no first name."},
			{Label: "Full name", Code: `{{.FullName | default "friend"}}`},
			{Label: "Last name", Code: `{{.LastName}}`},
			{Label: "Email", Code: `{{.Email}}`},
			{Label: "City", Code: `{{.City}}`},
			{Label: "Country", Code: `{{.Country}}`},
			{Label: "Birthday (day and month)", Code: `{{date "2 January" .Birthday}}`},
		}},
	}
	if len(fields) > 0 {
		g := snippetGroup{Name: "Custom fields"}
		for _, fd := range fields {
			code := "{{.Attr." + fd.Name + "}}"
			if fd.Type == contacts.FieldDate {
				code = "{{date " + day + " .Attr." + fd.Name + "}}"
			}
			g.Items = append(g.Items, snippet{Label: fd.Name, Code: code, Hint: string(fd.Type)})
		}
		groups = append(groups, g)
	}
	groups = append(groups,
		snippetGroup{Name: "Money and dates", Items: []snippet{
			{Label: "Total spent", Code: `{{money .TotalSpent}}`, Hint: "In the store currency."},
			{Label: "An amount", Code: `{{money 10 "USD"}}`, Hint: "A number in major units and a currency code."},
			{Label: "Orders", Code: `{{.OrdersCount}} {{plural .OrdersCount "order" "orders"}}`},
			{Label: "Last purchase date", Code: `{{date ` + day + ` .LastPurchaseAt}}`},
			{Label: "Today's date", Code: `{{date ` + day + ` .Now}}`, Hint: "In the contact's time zone."},
		}},
	)
	cg := snippetGroup{Name: "Coupon codes"}
	for _, p := range pools {
		cg.Items = append(cg.Items, snippet{Label: p.Pool, Code: fmt.Sprintf(`{{coupon %q}}`, p.Pool), Hint: fmt.Sprintf("%d of %d codes left", p.Available, p.Total)})
	}
	if len(pools) == 0 {
		cg.Items = append(cg.Items, snippet{Label: "A code from a pool", Code: `{{coupon "WINBACK10"}}`, Hint: "No pool has codes yet: add them on the Coupons page before sending."})
	}
	groups = append(groups, cg, snippetGroup{Name: "Links", Items: []snippet{
		{Label: "Unsubscribe link", Code: `{{.UnsubscribeURL}}`, HTML: `<a href="{{.UnsubscribeURL}}">Unsubscribe</a>`},
		{Label: "View in browser link", Code: `{{.WebViewURL}}`, HTML: `<a href="{{.WebViewURL}}">View in your browser</a>`},
	}})
	return groups, nil
}

// renderEditor shows the editor for cp (ID 0 for a new campaign) with form.
func (s *Server) renderEditor(c *gin.Context, status int, cp campaigns.Campaign, form *campaignForm) {
	ctx := c.Request.Context()
	segs, _, err := s.d.Segments.List(ctx, 0, 1000)
	if err != nil {
		s.pageError(c, err)
		return
	}
	groups, err := s.snippets(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	var include, exclude []int64
	for _, sg := range segs {
		if form.Include[sg.ID] {
			include = append(include, sg.ID)
		}
		if form.Exclude[sg.ID] {
			exclude = append(exclude, sg.ID)
		}
	}
	audience, err := s.d.Campaigns.AudienceOfCampaign(ctx, campaigns.Campaign{SegmentIDs: include, ExcludeSegmentIDs: exclude, ResendOf: cp.ResendOf})
	if err != nil {
		s.pageError(c, err)
		return
	}
	var original *campaigns.Campaign
	if cp.ResendOf != nil {
		if o, err := s.d.Campaigns.Get(ctx, *cp.ResendOf); err == nil {
			original = &o
		} else if !errors.Is(err, errs.ErrNotFound) {
			s.pageError(c, err)
			return
		}
	}
	readOnly := ""
	var flow *flowStep
	switch {
	case cp.Kind == campaigns.KindAutomation:
		// Its content is saved with its automation, which also chooses
		// who gets it and when: the editor shows it and leads there.
		readOnly = "This message is a step of an automation: change it in its automation."
		fl, ok, err := s.flowOfMessage(ctx, cp.ID)
		if err != nil {
			s.pageError(c, err)
			return
		}
		if ok {
			flow = &fl
			readOnly = fmt.Sprintf("This message is step %d of an automation: change it in its automation.", fl.Step)
		}
	case cp.ID != 0 && cp.Status != campaigns.CampaignDraft && cp.Status != campaigns.CampaignScheduled:
		readOnly = fmt.Sprintf("This campaign is %s, so its content can no longer be changed. It is shown here as it was sent.", cp.Status)
	}
	title, action := "New campaign", "/campaigns/new"
	if cp.ID != 0 {
		title, action = "Edit "+cp.Name, fmt.Sprintf("/campaigns/%d/edit", cp.ID)
	}
	s.render(c, status, "campaign_edit", gin.H{
		"Title": title, "Nav": "campaigns", "Scripts": []string{"message-editor.js", "campaign-editor.js"},
		"Campaign": cp, "Form": form, "Segments": segs, "Audience": audience, "Snippets": groups,
		"Starters": templates.Starters(), "Starter": c.Query("template"), "ReadOnly": readOnly,
		"Action": action, "Flow": flow, "ABSlots": abSlots(), "Original": original,
	})
}

// withStarter fills the subject and HTML of the starter ?template= names
// (and the name of a new campaign), keeping everything else.
func withStarter(c *gin.Context, form *campaignForm) {
	st, ok := templates.StarterByKey(c.Query("template"))
	if !ok {
		return
	}
	form.Values["subject"], form.Values["html_body"] = st.Subject, st.HTML
	if form.Values["name"] == "" {
		form.Values["name"] = st.Name
	}
}

func (s *Server) newCampaignPage(c *gin.Context) {
	form := formOf(campaigns.Campaign{})
	form.Values["from_email"] = s.cfg.AdminEmail
	withStarter(c, form)
	s.renderEditor(c, http.StatusOK, campaigns.Campaign{Status: campaigns.CampaignDraft}, form)
}

func (s *Server) newCampaignPost(c *gin.Context) {
	in, form, err := readCampaignForm(c)
	var cp campaigns.Campaign
	if err == nil {
		cp, err = s.d.Campaigns.Create(c.Request.Context(), in)
	}
	if err != nil {
		ie, ok := errs.AsInvalid(err)
		if !ok {
			s.pageError(c, err)
			return
		}
		form.refuse(ie)
		s.renderEditor(c, http.StatusBadRequest, campaigns.Campaign{Status: campaigns.CampaignDraft}, form)
		return
	}
	s.savedCampaign(c, cp)
}

// savedCampaign goes on from a save: to the preview when asked, or back to
// the editor.
func (s *Server) savedCampaign(c *gin.Context, cp campaigns.Campaign) {
	if c.PostForm("then") == "preview" {
		seeOther(c, fmt.Sprintf("/campaigns/%d/preview", cp.ID))
		return
	}
	s.flash(c, "Campaign saved.")
	seeOther(c, fmt.Sprintf("/campaigns/%d/edit", cp.ID))
}

func (s *Server) editCampaignPage(c *gin.Context) {
	cp, ok := s.pageCampaign(c)
	if !ok {
		return
	}
	form := formOf(cp)
	if cp.Status == campaigns.CampaignDraft || cp.Status == campaigns.CampaignScheduled {
		withStarter(c, form)
	}
	s.renderEditor(c, http.StatusOK, cp, form)
}

func (s *Server) editCampaignPost(c *gin.Context) {
	cp, ok := s.pageCampaign(c)
	if !ok {
		return
	}
	in, form, err := readCampaignForm(c)
	if err == nil {
		cp, err = s.d.Campaigns.Update(c.Request.Context(), cp.ID, in)
	}
	if err != nil {
		ie, ok := errs.AsInvalid(err)
		if !ok {
			if errors.Is(err, errs.ErrConflict) {
				// Started sending meanwhile: show what was typed with why.
				form.Errors["_"] = errs.Message(err)
				s.renderEditor(c, http.StatusConflict, cp, form)
				return
			}
			s.pageError(c, err)
			return
		}
		form.refuse(ie)
		s.renderEditor(c, http.StatusBadRequest, cp, form)
		return
	}
	s.savedCampaign(c, cp)
}

func (s *Server) pageCampaign(c *gin.Context) (campaigns.Campaign, bool) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return campaigns.Campaign{}, false
	}
	cp, err := s.d.Campaigns.Get(c.Request.Context(), id)
	if err != nil {
		s.pageError(c, err)
		return campaigns.Campaign{}, false
	}
	return cp, true
}

// previewSubject is who a preview shows the message to.
type previewSubject struct {
	Contact  contacts.Contact
	Fallback bool   // a contact with no details, to show the fallbacks
	Why      string // how this contact was chosen
}

// Name is the contact's name, or their address without one.
func (p previewSubject) Name() string {
	return cmp.Or(strings.TrimSpace(p.Contact.FirstName+" "+p.Contact.LastName), p.Contact.Email)
}

// previewCampaignPage renders the campaign as one contact:
// ?contact=ID, ?contact=none for the fallbacks, or by default the first
// member of its audience. ?q= searches for another contact.
func (s *Server) previewCampaignPage(c *gin.Context) {
	cp, ok := s.pageCampaign(c)
	if !ok {
		return
	}
	s.renderPreview(c, http.StatusOK, cp, c.Query("contact"), "", "")
}

// renderPreview shows the preview page; emails and testMsg are a refused
// test send, shown again as typed with the reason.
func (s *Server) renderPreview(c *gin.Context, status int, cp campaigns.Campaign, contactParam, emails, testMsg string) {
	ctx := c.Request.Context()
	who := previewSubject{Fallback: true}
	switch id, _ := strconv.ParseInt(contactParam, 10, 64); {
	case contactParam == "none":
		who.Why = "A contact with no name or other details, so that every fallback shows."
	case id > 0:
		ct, err := s.d.Contacts.Get(ctx, id)
		if err != nil {
			s.pageError(c, err)
			return
		}
		who = previewSubject{Contact: ct}
	case cp.Kind == campaigns.KindAutomation:
		who.Why = "An automation's message goes to whoever its trigger brings in: choose a contact below. Until then, a contact with no details shows every fallback."
	default:
		a, err := s.d.Campaigns.AudienceOfCampaign(ctx, cp)
		if err != nil {
			s.pageError(c, err)
			return
		}
		if a.FirstContactID == 0 {
			who.Why = "Nobody is in this campaign's audience yet, so this is a contact with no details: every fallback shows."
			break
		}
		ct, err := s.d.Contacts.Get(ctx, a.FirstContactID)
		if err != nil {
			s.pageError(c, err)
			return
		}
		who = previewSubject{Contact: ct, Why: fmt.Sprintf("The first of the %d %s in the audience.", a.Count, map[bool]string{true: "contact", false: "contacts"}[a.Count == 1])}
	}
	// An A/B tested campaign is previewed as one of its variants (A by
	// default): every recipient gets one of them, none the campaign's own
	// content as it stands.
	variant := 0
	if cp.ABTest != nil && len(cp.ABTest.Variants) > 0 {
		variant = min(max(campaigns.ParseLabel(cmp.Or(c.Query("variant"), c.PostForm("variant"))), 1), len(cp.ABTest.Variants))
	}
	shown := cp.AsVariant(variant)
	var renderErr string
	r, err := s.d.Campaigns.PreviewVariant(ctx, cp.ID, who.Contact.ID, variant)
	if err != nil {
		ie, ok := errs.AsInvalid(err)
		if !ok {
			s.pageError(c, err)
			return
		}
		renderErr = ie.Message
		if ie.Path != "" && ie.Path != "contact_id" {
			renderErr = ie.Path + ": " + ie.Message
		}
	}
	q := strings.TrimSpace(c.Query("q"))
	var found []contacts.Contact
	if q != "" {
		if found, _, err = s.d.Contacts.List(ctx, contacts.ListQuery{Search: q, Limit: 10}); err != nil {
			s.pageError(c, err)
			return
		}
	}
	if emails == "" {
		emails = s.cfg.AdminEmail
	}
	editable := cp.Kind == campaigns.KindCampaign && (cp.Status == campaigns.CampaignDraft || cp.Status == campaigns.CampaignScheduled)
	// An automation's message belongs to its flow: the page leads back there.
	var flow *flowStep
	if cp.Kind == campaigns.KindAutomation {
		fl, ok, err := s.flowOfMessage(ctx, cp.ID)
		if err != nil {
			s.pageError(c, err)
			return
		}
		if ok {
			flow = &fl
		}
	}
	title, nav := "Preview "+cp.Name, "campaigns"
	if flow != nil {
		title, nav = fmt.Sprintf("Preview of step %d of %s", flow.Step, flow.Automation.Name), "automations"
	}
	s.render(c, status, "campaign_preview", gin.H{
		"Title":        title,
		"Nav":          nav,
		"Scripts":      []string{"campaign-editor.js"},
		"Campaign":     cp,
		"Who":          who,
		"Rendered":     r,
		"Editable":     editable,
		"Initial":      initial(cmp.Or(shown.FromName, cp.FromEmail)),
		"Preheader":    inboxSnippet(r),
		"RenderError":  renderErr,
		"Q":            q,
		"Found":        found,
		"ContactParam": contactParam,
		"Emails":       emails,
		"TestError":    testMsg,
		"CanTest":      s.d.Mailer != nil,
		"Outbox":       s.d.Outbox != nil,
		"Flow":         flow,
		"Variant":      variantLabel(variant),
		"Variants":     variantLabels(cp),
		"FromName":     shown.FromName,
	})
}

// variantLabel is the letter of variant n, or "" for the campaign's own
// content.
func variantLabel(n int) string {
	if n == 0 {
		return ""
	}
	return campaigns.Label(n)
}

// variantLabels are the letters of cp's A/B test variants.
func variantLabels(cp campaigns.Campaign) []string {
	if cp.ABTest == nil {
		return nil
	}
	out := make([]string, len(cp.ABTest.Variants))
	for i := range out {
		out[i] = campaigns.Label(i + 1)
	}
	return out
}

// testCampaignPost sends the campaign to a few addresses (each rendered as
// the contact with that address when there is one) and says where.
func (s *Server) testCampaignPost(c *gin.Context) {
	cp, ok := s.pageCampaign(c)
	if !ok {
		return
	}
	raw := c.PostForm("emails")
	contactParam := c.PostForm("contact")
	emails := strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if s.d.Mailer == nil {
		s.renderPreview(c, http.StatusServiceUnavailable, cp, contactParam, raw, "Test sends need a mail server in this process: set HERALD_SMTP_URL.")
		return
	}
	variant := 0
	if cp.ABTest != nil {
		variant = min(campaigns.ParseLabel(c.PostForm("variant")), len(cp.ABTest.Variants))
	}
	if err := s.d.Campaigns.TestSendVariant(c.Request.Context(), cp.ID, emails, s.d.Mailer, variant); err != nil {
		var se *campaigns.SendError
		ie, invalid := errs.AsInvalid(err)
		switch {
		case errors.As(err, &se):
			s.renderPreview(c, http.StatusBadGateway, cp, contactParam, raw, "The mail server refused the test message: "+se.Error())
		case invalid:
			msg := ie.Message
			if n, ok := strings.CutPrefix(ie.Path, "emails["); ok {
				i, _ := strconv.Atoi(strings.TrimSuffix(n, "]"))
				msg = fmt.Sprintf("Address %d (%s): %s", i+1, emails[min(i, len(emails)-1)], ie.Message)
			}
			s.renderPreview(c, http.StatusBadRequest, cp, contactParam, raw, msg)
		default:
			s.pageError(c, err)
		}
		return
	}
	msg := fmt.Sprintf("Test sent to %s.", strings.Join(emails, ", "))
	if s.d.Outbox != nil {
		msg += " Herald keeps it in the Outbox."
	}
	s.flash(c, msg)
	q := url.Values{}
	if contactParam != "" {
		q.Set("contact", contactParam)
	}
	if variant > 0 {
		q.Set("variant", campaigns.Label(variant))
	}
	target := fmt.Sprintf("/campaigns/%d/preview", cp.ID)
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	seeOther(c, target)
}

// initial is the first letter of a sender's name, for the inbox's avatar.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// inboxSnippet is the line of text an inbox shows after the subject: the
// start of the HTML body's text, hidden preheader included (that is what
// a preheader is for), or of the plain text without HTML.
func inboxSnippet(r templates.Rendered) string {
	if r.HTML == "" {
		return clip(strings.Join(strings.Fields(r.Text), " "), 140)
	}
	z := xhtml.NewTokenizer(strings.NewReader(r.HTML))
	var b strings.Builder
	skip := 0 // inside head, style, script or title
	for b.Len() < 400 {
		switch z.Next() {
		case xhtml.ErrorToken:
			return clip(strings.Join(strings.Fields(b.String()), " "), 140)
		case xhtml.StartTagToken:
			if name, _ := z.TagName(); skipped[string(name)] {
				skip++
			}
		case xhtml.EndTagToken:
			if name, _ := z.TagName(); skipped[string(name)] && skip > 0 {
				skip--
			}
		case xhtml.TextToken:
			if skip == 0 {
				b.WriteString(xhtml.UnescapeString(string(z.Text())))
				b.WriteByte(' ')
			}
		}
	}
	return clip(strings.Join(strings.Fields(b.String()), " "), 140)
}

var skipped = map[string]bool{"head": true, "style": true, "script": true, "title": true}
