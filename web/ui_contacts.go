package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"herald/contacts"
	"herald/internal/errs"
	"herald/segments"
)

// contactsPage lists contacts with search (a prefix of the email or a
// name), a status filter and a segment filter, 50 to a page.
func (s *Server) contactsPage(c *gin.Context) {
	ctx := c.Request.Context()
	cursor, _ := strconv.ParseInt(c.Query("cursor"), 10, 64)
	segID, _ := strconv.ParseInt(c.Query("segment"), 10, 64)
	q := contacts.ListQuery{After: max(cursor, 0), Limit: 50, Search: strings.TrimSpace(c.Query("q"))}
	status := c.Query("status")
	if status != "" && !contacts.Status(status).Valid() {
		status = ""
	}
	q.Status = contacts.Status(status)
	var (
		cs   []contacts.Contact
		next int64
		err  error
	)
	if segID > 0 {
		cs, next, err = s.d.Segments.ListMembers(ctx, segID, q)
	} else {
		cs, next, err = s.d.Contacts.List(ctx, q)
	}
	if err != nil {
		s.pageError(c, err)
		return
	}
	segs, _, err := s.d.Segments.List(ctx, 0, 1000)
	if err != nil {
		s.pageError(c, err)
		return
	}
	total, err := s.d.Contacts.Count(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, http.StatusOK, "contacts", gin.H{
		"Title": "Contacts", "Nav": "contacts", "Contacts": cs, "Next": next, "Cursor": q.After,
		"Q": q.Search, "Status": status, "SegmentID": segID, "Segments": segs, "Statuses": allStatuses,
		"Total": total, "Currency": s.d.Contacts.Currency(), "Filtered": q.Search != "" || status != "" || segID > 0,
	})
}

var allStatuses = []contacts.Status{contacts.Subscribed, contacts.Unsubscribed, contacts.Bounced, contacts.Complained}

// contactForm is what the contact form shows: the values as typed and
// the API's errors by field path.
type contactForm struct {
	Values map[string]string
	Errors map[string]string
	Attrs  []attrInput
}

// attrInput is one custom attribute's input on the contact form.
type attrInput struct {
	Name    string
	Type    contacts.FieldType
	Value   string
	Defined bool // has a custom field definition
}

var contactTextFields = []string{"email", "first_name", "last_name", "city", "country", "language", "timezone",
	"birthday", "anniversary", "family_status", "source", "signup_at"}

func contactValues(ct contacts.Contact) map[string]string {
	v := map[string]string{
		"email": ct.Email, "first_name": ct.FirstName, "last_name": ct.LastName, "city": ct.City,
		"country": ct.Country, "language": ct.Language, "timezone": ct.Timezone, "birthday": ct.Birthday,
		"anniversary": ct.Anniversary, "family_status": ct.FamilyStatus, "source": ct.Source,
	}
	if ct.SignupAt != nil {
		v["signup_at"] = ct.SignupAt.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	return v
}

// attrInputs lists the custom fields, then attributes the contact has
// without a definition, each with its value as text.
func attrInputs(fields []contacts.CustomField, attrs map[string]any) []attrInput {
	var out []attrInput
	seen := map[string]bool{}
	for _, f := range fields {
		seen[f.Name] = true
		out = append(out, attrInput{Name: f.Name, Type: f.Type, Value: attrText(attrs[f.Name]), Defined: true})
	}
	var extra []string
	for k := range attrs {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		t := contacts.FieldText
		switch attrs[k].(type) {
		case float64:
			t = contacts.FieldNumber
		case bool:
			t = contacts.FieldBool
		}
		out = append(out, attrInput{Name: k, Type: t, Value: attrText(attrs[k])})
	}
	return out
}

func attrText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// formInput reads the contact form into an Input. Every field on the form
// is sent, so clearing one clears it; a cleared attribute is removed.
// Values that cannot be typed (a number field holding words) are errors
// with the same paths the API uses.
func formInput(c *gin.Context, attrs []attrInput) (contacts.Input, map[string]string, error) {
	var in contacts.Input
	values := map[string]string{}
	ptrs := map[string]**string{
		"email": &in.Email, "first_name": &in.FirstName, "last_name": &in.LastName, "city": &in.City,
		"country": &in.Country, "language": &in.Language, "timezone": &in.Timezone, "birthday": &in.Birthday,
		"anniversary": &in.Anniversary, "family_status": &in.FamilyStatus, "source": &in.Source, "signup_at": &in.SignupAt,
	}
	for _, name := range contactTextFields {
		v, ok := c.GetPostForm(name)
		if !ok {
			continue
		}
		values[name] = v
		*ptrs[name] = &v
	}
	var firstErr error
	for _, a := range attrs {
		key := "attr." + a.Name
		raw, ok := c.GetPostForm(key)
		if !ok {
			continue
		}
		values[key] = raw
		if in.Attributes == nil {
			in.Attributes = map[string]any{}
		}
		v := strings.TrimSpace(raw)
		if v == "" {
			in.Attributes[a.Name] = nil
			continue
		}
		switch a.Type {
		case contacts.FieldNumber:
			n, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
			if err != nil && firstErr == nil {
				firstErr = errs.Invalid("attributes."+a.Name, "%q is not a number", v)
			}
			in.Attributes[a.Name] = n
		case contacts.FieldBool:
			in.Attributes[a.Name] = v == "true"
		default:
			in.Attributes[a.Name] = v
		}
	}
	return in, values, firstErr
}

func (s *Server) contactPage(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	ct, err := s.d.Contacts.Get(c.Request.Context(), id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.renderContact(c, http.StatusOK, ct, nil)
}

// renderContact shows a contact's page; form, when set, is a refused edit
// to show again as typed, with its error.
func (s *Server) renderContact(c *gin.Context, status int, ct contacts.Contact, form *contactForm) {
	ctx := c.Request.Context()
	fields, err := s.d.Contacts.ListFields(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	if form == nil {
		form = &contactForm{Values: contactValues(ct), Errors: map[string]string{}, Attrs: attrInputs(fields, ct.Attributes)}
	}
	segs, err := s.d.Segments.OfContact(ctx, ct.ID)
	if err != nil {
		s.pageError(c, err)
		return
	}
	tl, err := s.timeline(c, ct.ID, c.Query("before"))
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, status, "contact", gin.H{
		"Title": cmp.Or(strings.TrimSpace(ct.FirstName+" "+ct.LastName), ct.Email), "Nav": "contacts",
		"Contact": ct, "Form": form, "Segments": segs, "Timeline": tl, "Currency": s.d.Contacts.Currency(),
		"Countries": countryOptions(),
	})
}

func (s *Server) contactPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	ctx := c.Request.Context()
	ct, err := s.d.Contacts.Get(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	fields, err := s.d.Contacts.ListFields(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	attrs := attrInputs(fields, ct.Attributes)
	in, values, err := formInput(c, attrs)
	if err == nil {
		_, err = s.d.Contacts.Update(ctx, id, in)
	}
	if err != nil {
		ie, ok := errs.AsInvalid(err)
		if !ok {
			s.pageError(c, err)
			return
		}
		for i := range attrs {
			attrs[i].Value = values["attr."+attrs[i].Name]
		}
		form := &contactForm{Values: values, Errors: map[string]string{formPath(ie.Path): ie.Message}, Attrs: attrs}
		s.renderContact(c, http.StatusBadRequest, ct, form)
		return
	}
	s.flash(c, "Contact saved.")
	seeOther(c, fmt.Sprintf("/contacts/%d", id))
}

// formPath turns an API error path into the form's field name: an
// attribute's "attributes.size" is the input "attr.size".
func formPath(p string) string {
	if name, ok := strings.CutPrefix(p, "attributes."); ok {
		return "attr." + name
	}
	if p == "" {
		return "_"
	}
	return p
}

func (s *Server) newContactPage(c *gin.Context) {
	fields, err := s.d.Contacts.ListFields(c.Request.Context())
	if err != nil {
		s.pageError(c, err)
		return
	}
	form := &contactForm{Values: map[string]string{}, Errors: map[string]string{}, Attrs: attrInputs(fields, nil)}
	s.render(c, http.StatusOK, "contact_new", gin.H{"Title": "New contact", "Nav": "contacts", "Form": form, "Countries": countryOptions()})
}

func (s *Server) newContactPost(c *gin.Context) {
	ctx := c.Request.Context()
	fields, err := s.d.Contacts.ListFields(ctx)
	if err != nil {
		s.pageError(c, err)
		return
	}
	attrs := attrInputs(fields, nil)
	in, values, err := formInput(c, attrs)
	for k, v := range in.Attributes {
		if v == nil {
			delete(in.Attributes, k)
		}
	}
	if err == nil && in.Email != nil {
		// The form creates: an address that is already a contact is
		// refused rather than silently updated.
		if existing, gerr := s.d.Contacts.GetByEmail(ctx, *in.Email); gerr == nil {
			err = errs.Invalid("email", "is already the contact %s (open it to edit)", existing.Email)
		}
	}
	var ct contacts.Contact
	if err == nil {
		ct, _, err = s.d.Contacts.Upsert(ctx, in)
	}
	if err != nil {
		ie, ok := errs.AsInvalid(err)
		if !ok {
			s.pageError(c, err)
			return
		}
		for i := range attrs {
			attrs[i].Value = values["attr."+attrs[i].Name]
		}
		form := &contactForm{Values: values, Errors: map[string]string{formPath(ie.Path): ie.Message}, Attrs: attrs}
		s.render(c, http.StatusBadRequest, "contact_new", gin.H{"Title": "New contact", "Nav": "contacts", "Form": form, "Countries": countryOptions()})
		return
	}
	s.flash(c, "Contact created.")
	seeOther(c, fmt.Sprintf("/contacts/%d", ct.ID))
}

// contactStatusPost unsubscribes or resubscribes a contact by hand, after
// the page's confirmation. Bounced and complained addresses are not
// resubscribed from here: mail to them failed or was reported as spam.
func (s *Server) contactStatusPost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	ctx := c.Request.Context()
	ct, err := s.d.Contacts.Get(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	var to contacts.Status
	switch c.PostForm("action") {
	case "unsubscribe":
		to = contacts.Unsubscribed
	case "resubscribe":
		if ct.Status != contacts.Unsubscribed {
			s.pageError(c, errs.Invalid("action", "only an unsubscribed contact can be subscribed again here; this one is %s", ct.Status))
			return
		}
		to = contacts.Subscribed
	default:
		s.pageError(c, errs.Invalid("action", "unknown action"))
		return
	}
	if to == contacts.Subscribed {
		// Subscribing someone who opted out is a decision on record: the
		// reason goes on their timeline.
		if _, err := s.d.Contacts.Resubscribe(ctx, id, "page", c.PostForm("reason")); err != nil {
			s.pageError(c, err)
			return
		}
	} else if _, err := s.d.Contacts.SetStatusBy(ctx, id, to, "page", ""); err != nil {
		s.pageError(c, err)
		return
	}
	if to == contacts.Subscribed {
		s.flash(c, "Contact subscribed again.")
	} else {
		s.flash(c, "Contact unsubscribed: Herald sends them nothing more.")
	}
	seeOther(c, fmt.Sprintf("/contacts/%d", id))
}

func (s *Server) contactDeletePost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	if err := s.d.Contacts.Delete(c.Request.Context(), id); err != nil && !errors.Is(err, errs.ErrNotFound) {
		s.pageError(c, err)
		return
	}
	s.flash(c, "Contact deleted.")
	seeOther(c, "/contacts")
}

// contactErasePost forgets the person (a GDPR erasure): see
// privacy.Service.Erase for what goes and what stays.
func (s *Server) contactErasePost(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	if s.d.Privacy == nil {
		s.pageError(c, errors.New("web: no privacy service"))
		return
	}
	if err := s.d.Privacy.Erase(c.Request.Context(), id); err != nil && !errors.Is(err, errs.ErrNotFound) {
		s.pageError(c, err)
		return
	}
	s.flash(c, "Contact erased: their data is gone, and their address stays suppressed so they are never written to again.")
	seeOther(c, "/contacts")
}

// segmentNames is for pages that name segments by id.
func segmentNames(segs []segments.Segment) map[int64]string {
	m := make(map[int64]string, len(segs))
	for _, sg := range segs {
		m[sg.ID] = sg.Name
	}
	return m
}
