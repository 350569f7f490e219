package templates

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	htemplate "html/template"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	ttemplate "text/template"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"

	"herald/contacts"
)

// Content is the source of a message.
type Content struct {
	Subject string
	HTML    string
	Text    string // generated from HTML when empty
}

// Error is a template that cannot be used: which part, where, and why.
type Error struct {
	Part string // subject, html or text
	Line int
	Col  int
	Msg  string
	// Err is the cause when a function failed while rendering (an empty
	// coupon pool), so callers can test it with errors.Is.
	Err error
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Part, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Part, e.Line, e.Col, e.Msg)
}

// Limits on sources, so one campaign cannot exhaust a worker.
const (
	maxSubject = 998 // the longest line RFC 5322 allows
	maxBody    = 512 << 10
)

// MaxSubjectRunes caps a rendered subject: a long custom attribute must not
// make a header of a kilobyte. RFC 5322 sets no limit on a folded header,
// but Outlook and Exchange keep at most 255 characters of a subject and
// inboxes show far fewer, so anything longer only gets cut by the reader,
// and worse.
const MaxSubjectRunes = 255

// Compiled is a campaign's content ready to render per contact.
type Compiled struct {
	subject *ttemplate.Template
	html    *htemplate.Template // nil for text-only messages
	text    *ttemplate.Template
	// Links are the distinct tracked URLs; link i is Links[i-1].
	Links  []string
	fields []string
	// marker starts the placeholders of tracked links (marker + i + "-");
	// it holds a random nonce, so no content can forge one.
	marker string
	// pixel is the open pixel's tag as compiled into the HTML.
	pixel string
	// textFromHTML is set when the text part was derived from the HTML:
	// blocks a template leaves empty then need tidying after rendering.
	textFromHTML bool
}

// Rendered is one contact's message.
type Rendered struct {
	Subject string
	HTML    string
	Text    string
}

// Compile parses and checks the content: syntax, unknown fields (against
// Data and the custom fields named in fields) and a trial render on a full
// and an empty contact. Errors are *Error with the part, line and column.
func Compile(c Content, fields []string) (*Compiled, error) {
	if strings.TrimSpace(c.Subject) == "" {
		return nil, &Error{Part: "subject", Msg: "is required"}
	}
	if len(c.Subject) > maxSubject {
		return nil, &Error{Part: "subject", Msg: fmt.Sprintf("is longer than %d bytes", maxSubject)}
	}
	if strings.ContainsAny(c.Subject, "\r\n") {
		return nil, &Error{Part: "subject", Msg: "must be a single line"}
	}
	if strings.TrimSpace(c.HTML) == "" && strings.TrimSpace(c.Text) == "" {
		return nil, &Error{Part: "html", Msg: "give an HTML or a text body"}
	}
	for part, src := range map[string]string{"html": c.HTML, "text": c.Text} {
		if len(src) > maxBody {
			return nil, &Error{Part: part, Msg: fmt.Sprintf("is longer than %d KB", maxBody>>10)}
		}
		if !utf8.ValidString(src) {
			return nil, &Error{Part: part, Msg: "is not valid UTF-8"}
		}
	}
	if !utf8.ValidString(c.Subject) {
		return nil, &Error{Part: "subject", Msg: "is not valid UTF-8"}
	}
	fieldSet := map[string]bool{}
	for _, f := range fields {
		fieldSet[f] = true
	}
	out := &Compiled{fields: append([]string(nil), fields...)}

	// Check every part as the marketer wrote it, so positions are theirs.
	var err error
	if out.subject, err = parseText("subject", c.Subject, fieldSet); err != nil {
		return nil, err
	}
	if c.Text != "" {
		if out.text, err = parseText("text", c.Text, fieldSet); err != nil {
			return nil, err
		}
	}
	if c.HTML != "" {
		orig, err := parseHTML("html", c.HTML, fieldSet)
		if err != nil {
			return nil, err
		}
		if err := trial("html", func(d *Data) error { return orig.Execute(discard{}, d) }, fields); err != nil {
			return nil, locateUnclosed(err, c.HTML)
		}
		out.marker = "hl" + nonce() + "-"
		rewritten, links := rewriteLinks(c.HTML, out.markerFor)
		out.Links = links
		out.pixel = `<img src="` + out.markerFor(0) + `" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`
		tracked := addPixel(rewritten, out.pixel)
		if out.html, err = parseHTML("html", tracked, fieldSet); err != nil {
			return nil, fmt.Errorf("templates: rewritten HTML does not parse: %w", err)
		}
		if c.Text == "" {
			if out.text, err = parseText("text", htmlToText(rewritten), fieldSet); err != nil {
				return nil, fmt.Errorf("templates: text generated from HTML does not parse: %w", err)
			}
			out.textFromHTML = true
		}
	}
	if err := trial("subject", func(d *Data) error { return out.subject.Execute(discard{}, d) }, fields); err != nil {
		return nil, err
	}
	if c.Text != "" {
		if err := trial("text", func(d *Data) error { return out.text.Execute(discard{}, d) }, fields); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (c *Compiled) markerFor(i int) string { return c.marker + strconv.Itoa(i) + "-" }

func nonce() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// expand swaps link placeholders for the message's URLs: tracked ones, or
// the original links (HTML-escaped in HTML) when the message is not
// tracked. Placeholder 0 is the open pixel, dropped with its tag when
// untracked.
func (c *Compiled) expand(src []byte, d *Data, inHTML bool) string {
	marker := []byte(c.marker)
	if len(marker) == 0 {
		return string(src)
	}
	if inHTML && !d.tracked() {
		if i := bytes.Index(src, []byte(c.pixel)); i >= 0 {
			src = append(src[:i:i], src[i+len(c.pixel):]...)
		}
	}
	var b strings.Builder
	// Each placeholder grows into a URL of about the base URL plus 45
	// bytes of token; growing once avoids copying the message again.
	b.Grow(len(src) + (len(d.links.BaseURL)+48)*(len(c.Links)+1))
	for {
		i := bytes.Index(src, marker)
		if i < 0 {
			break
		}
		b.Write(src[:i])
		rest := src[i+len(marker):]
		j := bytes.IndexByte(rest, '-')
		n, err := strconv.Atoi(string(rest[:max(j, 0)]))
		if j < 0 || err != nil {
			b.Write(marker)
			src = rest
			continue
		}
		switch {
		case n == 0:
			b.WriteString(d.openURL())
		case inHTML && !d.tracked():
			b.WriteString(html.EscapeString(d.clickURL(n, c.Links)))
		default:
			b.WriteString(d.clickURL(n, c.Links))
		}
		src = rest[j+1:]
	}
	b.Write(src)
	return b.String()
}

var bodyClose = regexp.MustCompile(`(?i)</body\s*>`)

// addPixel puts the open pixel just before </body>, or at the end.
func addPixel(src, pixel string) string {
	locs := bodyClose.FindAllStringIndex(src, -1)
	if len(locs) == 0 {
		return src + pixel
	}
	at := locs[len(locs)-1][0]
	return src[:at] + pixel + src[at:]
}

func parseText(part, src string, fields map[string]bool) (*ttemplate.Template, error) {
	t, err := ttemplate.New(part).Funcs(funcs()).Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, syntaxError(part, src, err)
	}
	if err := checkTree(part, src, t.Tree, fields); err != nil {
		return nil, err
	}
	if err := onlyOneTemplate(part, src, len(t.Templates())); err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		bindCoupons(tt.Tree.Root)
	}
	return t, nil
}

func parseHTML(part, src string, fields map[string]bool) (*htemplate.Template, error) {
	t, err := htemplate.New(part).Funcs(funcs()).Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, syntaxError(part, src, err)
	}
	if err := checkTree(part, src, t.Tree, fields); err != nil {
		return nil, err
	}
	if err := onlyOneTemplate(part, src, len(t.Templates())); err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		bindCoupons(tt.Tree.Root)
	}
	return t, nil
}

// onlyOneTemplate refuses {{define}}: a message is one template, and
// templates calling each other could recurse without end.
func onlyOneTemplate(part, src string, n int) error {
	if n <= 1 {
		return nil
	}
	line, col := 0, 0
	if i := strings.Index(src, "define"); i >= 0 {
		line, col = position(src, i)
	}
	return &Error{Part: part, Line: line, Col: col, Msg: "{{define}} is not available in messages"}
}

// sampleContacts are a complete and an empty contact, rendered at save time
// so that runtime errors (a date of the wrong type) show before sending.
func sampleContacts() []contacts.Contact {
	t := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	avg := 30.5
	full := contacts.Contact{
		ID: 1, Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", City: "London",
		Country: "GB", Language: "en", Timezone: "Europe/London", Birthday: "1815-12-10",
		Anniversary: "--06-08", FamilyStatus: "married", Source: "website", Status: contacts.Subscribed,
		SignupAt: &t, OrdersCount: 3, TotalSpent: 12345, FirstPurchaseAt: &t, LastPurchaseAt: &t,
		LastVisitAt: &t, LastOpenAt: &t, LastClickAt: &t, AvgDaysBetweenPurchases: &avg,
	}
	return []contacts.Contact{full, {ID: 2, Email: "x@example.com", Status: contacts.Subscribed}}
}

func trial(part string, run func(*Data) error, fields []string) error {
	for _, c := range sampleContacts() {
		d := NewData(c, fields, CampaignInfo{ID: 1, Name: "Preview"}, Links{BaseURL: "https://herald.invalid", Untracked: true}, time.Now())
		if err := run(d); err != nil {
			return execError(part, err)
		}
	}
	return nil
}

var (
	lineRe     = regexp.MustCompile(`^template: [^:]+:(\d+):(?:(\d+):)? ?(.*)$`)
	execPosRe  = regexp.MustCompile(`^template: [^:]+:(\d+):(\d+): executing "[^"]*" at <[^>]*>: (.*)$`)
	htmlLineRe = regexp.MustCompile(`^html/template:[^:]+:(\d+):(\d+): (.*)$`)
)

// syntaxError turns a parse error into an Error with a line and a column.
// Go's parser reports only the line, so the column is found by parsing the
// actions of that line one by one: the first that fails alone is the culprit.
func syntaxError(part, src string, err error) error {
	msg := err.Error()
	m := lineRe.FindStringSubmatch(msg)
	if m == nil {
		return &Error{Part: part, Msg: strings.TrimPrefix(msg, "template: ")}
	}
	line, _ := strconv.Atoi(m[1])
	text := m[3]
	if m[2] != "" {
		col, _ := strconv.Atoi(m[2])
		return &Error{Part: part, Line: line, Col: col, Msg: text}
	}
	return &Error{Part: part, Line: line, Col: findColumn(src, line, text), Msg: text}
}

func findColumn(src string, line int, msg string) int {
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) {
		return 1
	}
	if strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "unclosed action") {
		if col := unclosed(lines, line); col > 0 {
			return col
		}
	}
	l := lines[line-1]
	first := 0
	for i := 0; i < len(l); {
		j := strings.Index(l[i:], "{{")
		if j < 0 {
			break
		}
		start := i + j
		if first == 0 {
			first = start + 1
		}
		end := strings.Index(l[start+2:], "}}")
		action := l[start:]
		if end >= 0 {
			action = l[start : start+2+end+2]
		}
		if actionFails(action) {
			return utf8.RuneCountInString(l[:start]) + 1
		}
		if end < 0 {
			break
		}
		i = start + 2 + end + 2
	}
	if first > 0 {
		return utf8.RuneCountInString(l[:first-1]) + 1
	}
	return 1
}

var controlRe = regexp.MustCompile(`^\{\{-?\s*(if|range|with|block|define)\b`)
var closingRe = regexp.MustCompile(`^\{\{-?\s*(end|else)\b`)

func actionFails(action string) bool {
	if closingRe.MatchString(action) {
		return false
	}
	probe := action
	if controlRe.MatchString(action) {
		probe += "{{end}}"
	}
	_, err := ttemplate.New("probe").Funcs(funcs()).Parse(probe)
	return err != nil
}

// unclosed finds the column of the last block action that has no {{end}}
// when the parser ran off the end of the text.
func unclosed(lines []string, errLine int) int {
	type open struct{ line, col int }
	var stack []open
	for li, l := range lines {
		for i := 0; i < len(l); {
			j := strings.Index(l[i:], "{{")
			if j < 0 {
				break
			}
			start := i + j
			rest := l[start:]
			switch {
			case controlRe.MatchString(rest):
				stack = append(stack, open{li + 1, utf8.RuneCountInString(l[:start]) + 1})
			case strings.HasPrefix(strings.TrimLeft(strings.TrimPrefix(rest, "{{-"), "{ "), "end"):
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			}
			i = start + 2
		}
	}
	if len(stack) > 0 && stack[len(stack)-1].line <= errLine {
		return stack[len(stack)-1].col
	}
	return 0
}

func execError(part string, err error) error {
	msg := err.Error()
	if m := execPosRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		return &Error{Part: part, Line: line, Col: col + 1, Msg: m[3], Err: err}
	}
	var he *htemplate.Error
	if errors.As(err, &he) {
		e := &Error{Part: part, Line: he.Line, Col: 1, Msg: he.Description, Err: he}
		if m := htmlLineRe.FindStringSubmatch(msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Col, _ = strconv.Atoi(m[2])
			e.Col++
		}
		return e
	}
	return &Error{Part: part, Msg: strings.TrimPrefix(msg, "template: "), Err: err}
}

// locateUnclosed gives a position to html/template's "ends in a non-text
// context", which has none: the comment, tag or script that is never
// closed, found by reading the source as HTML.
func locateUnclosed(err error, src string) error {
	var te *Error
	var he *htemplate.Error
	if !errors.As(err, &te) || te.Line != 0 || !errors.As(err, &he) || he.ErrorCode != htemplate.ErrEndContext {
		return err
	}
	z := xhtml.NewTokenizer(strings.NewReader(src))
	off, last := 0, xhtml.TextToken
	var lastRaw string
	lastStart, rawElem, rawStart := 0, "", -1
	for {
		tt := z.Next()
		raw := string(z.Raw())
		start := off
		off += len(raw)
		switch tt {
		case xhtml.StartTagToken:
			if name, _ := z.TagName(); rawTextElements[string(name)] {
				rawElem, rawStart = string(name), start
			}
		case xhtml.EndTagToken:
			if name, _ := z.TagName(); string(name) == rawElem {
				rawElem, rawStart = "", -1
			}
		}
		if tt != xhtml.ErrorToken {
			last, lastRaw, lastStart = tt, raw, start
			continue
		}
		at, what := -1, ""
		switch {
		case raw != "":
			at, what = start, "this tag, or a quoted value in it, is not closed"
		case last == xhtml.CommentToken && !strings.HasSuffix(lastRaw, "-->"):
			at, what = lastStart, "this comment is not closed with -->"
		case rawStart >= 0:
			at, what = rawStart, fmt.Sprintf("this <%s> has no </%s>", rawElem, rawElem)
		}
		if at < 0 {
			return err
		}
		line, col := position(src, at)
		return &Error{Part: te.Part, Line: line, Col: col, Msg: what + ": the HTML ends inside it", Err: te.Err}
	}
}

// rawTextElements are the elements whose content HTML does not parse as
// markup: html/template follows their script or CSS inside.
var rawTextElements = map[string]bool{"script": true, "style": true, "textarea": true, "title": true, "xmp": true, "iframe": true, "noembed": true, "noframes": true, "noscript": true, "plaintext": true}

// checkTree walks a parsed template and rejects field references that
// Data does not have, so {{.FirstNmae}} fails at save time instead of
// printing nothing at send time. Inside range and with the dot is another
// value; only $-rooted references are checked there.
func checkTree(part, src string, tree *parse.Tree, fields map[string]bool) error {
	if tree == nil || tree.Root == nil {
		return nil
	}
	dataType := reflect.TypeOf(&Data{})
	// iter is how often the node being walked repeats: the product of the
	// bounds of the ranges around it.
	iter := 1
	var walk func(n parse.Node, dotIsData bool) error
	fail := func(node parse.Node, err error) error {
		line, col := position(src, int(node.Position()))
		return &Error{Part: part, Line: line, Col: col, Msg: err.Error()}
	}
	check := func(node parse.Node, idents []string) error {
		if err := checkChain(dataType, idents, fields); err != nil {
			line, col := position(src, int(node.Position()))
			return &Error{Part: part, Line: line, Col: col, Msg: err.Error()}
		}
		return nil
	}
	walkPipe := func(p *parse.PipeNode, dotIsData bool) error {
		if p == nil {
			return nil
		}
		for _, cmd := range p.Cmds {
			if err := checkCommand(cmd); err != nil {
				return fail(cmd, err)
			}
			if key := attrIndex(cmd, dotIsData); key != nil {
				if err := check(key, []string{"Attr", key.Text}); err != nil {
					return err
				}
			}
			for _, arg := range cmd.Args {
				if err := walk(arg, dotIsData); err != nil {
					return err
				}
			}
		}
		return nil
	}
	walk = func(n parse.Node, dotIsData bool) error {
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return nil
			}
			for _, c := range x.Nodes {
				if err := walk(c, dotIsData); err != nil {
					return err
				}
			}
		case *parse.ActionNode:
			return walkPipe(x.Pipe, dotIsData)
		case *parse.PipeNode:
			return walkPipe(x, dotIsData)
		case *parse.CommandNode:
			for _, arg := range x.Args {
				if err := walk(arg, dotIsData); err != nil {
					return err
				}
			}
		case *parse.FieldNode:
			if dotIsData {
				return check(x, x.Ident)
			}
		case *parse.VariableNode:
			if len(x.Ident) > 1 && x.Ident[0] == "$" {
				return check(x, x.Ident[1:])
			}
		case *parse.ChainNode:
			return walk(x.Node, dotIsData)
		case *parse.IfNode:
			if err := walkPipe(x.Pipe, dotIsData); err != nil {
				return err
			}
			if err := walk(x.List, dotIsData); err != nil {
				return err
			}
			if x.ElseList != nil {
				return walk(x.ElseList, dotIsData)
			}
		case *parse.RangeNode:
			if err := walkPipe(x.Pipe, dotIsData); err != nil {
				return err
			}
			bound, err := rangeBound(x.Pipe, dotIsData)
			if err != nil {
				return fail(x, err)
			}
			if iter*max(bound, 1) > MaxIterations {
				return fail(x, fmt.Errorf("the ranges nested here could repeat their body more than %d times", MaxIterations))
			}
			outer := iter
			iter *= max(bound, 1)
			err = walk(x.List, false)
			iter = outer
			if err != nil {
				return err
			}
			if x.ElseList != nil {
				return walk(x.ElseList, dotIsData)
			}
		case *parse.WithNode:
			if err := walkPipe(x.Pipe, dotIsData); err != nil {
				return err
			}
			if err := walk(x.List, false); err != nil {
				return err
			}
			if x.ElseList != nil {
				return walk(x.ElseList, dotIsData)
			}
		case *parse.TemplateNode:
			return fail(x, errors.New("{{template}} and {{block}} are not available in messages"))
		}
		return nil
	}
	return walk(tree.Root, true)
}

// attrIndex returns the key of {{index .Attr "shoe_size"}}, so that it is
// checked as {{.Attr.shoe_size}} is: a custom field given by a constant
// name must exist. A name computed while rendering cannot be checked (nil
// is returned); it prints nothing when the field is missing.
func attrIndex(cmd *parse.CommandNode, dotIsData bool) *parse.StringNode {
	if len(cmd.Args) < 3 {
		return nil
	}
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "index" {
		return nil
	}
	switch m := cmd.Args[1].(type) {
	case *parse.FieldNode:
		if !dotIsData || len(m.Ident) != 1 || m.Ident[0] != "Attr" {
			return nil
		}
	case *parse.VariableNode:
		if len(m.Ident) != 2 || m.Ident[0] != "$" || m.Ident[1] != "Attr" {
			return nil
		}
	default:
		return nil
	}
	key, _ := cmd.Args[2].(*parse.StringNode)
	return key
}

// checkChain follows .A.B.C through struct fields, methods and the Attr map.
func checkChain(t reflect.Type, idents []string, fields map[string]bool) error {
	for i, name := range idents {
		switch {
		case t.Kind() == reflect.Map:
			if i == 1 && idents[0] == "Attr" && !fields[name] {
				return fmt.Errorf("unknown custom field %q: define it at /api/custom-fields first%s", name, suggest(name, keys(fields)))
			}
			return nil // values of the map are untyped
		case t.Kind() == reflect.Interface:
			return nil
		}
		if m, ok := t.MethodByName(name); ok && isExported(name) {
			if m.Type.NumOut() == 0 {
				return fmt.Errorf("%s cannot be used in a template", name)
			}
			t = m.Type.Out(0)
			continue
		}
		st := t
		if st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		if st.Kind() == reflect.Struct {
			if f, ok := st.FieldByName(name); ok && f.IsExported() {
				t = f.Type
				continue
			}
		}
		where := "the contact"
		if i > 0 {
			where = "." + strings.Join(idents[:i], ".")
		}
		return fmt.Errorf("unknown field %q in %s%s", name, where, suggest(name, memberNames(t)))
	}
	return nil
}

func isExported(name string) bool {
	r, _ := utf8.DecodeRuneInString(name)
	return r >= 'A' && r <= 'Z'
}

var memberCache sync.Map

func memberNames(t reflect.Type) []string {
	if v, ok := memberCache.Load(t); ok {
		return v.([]string)
	}
	var names []string
	for i := 0; i < t.NumMethod(); i++ {
		names = append(names, t.Method(i).Name)
	}
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() == reflect.Struct {
		for i := 0; i < st.NumField(); i++ {
			if st.Field(i).IsExported() {
				names = append(names, st.Field(i).Name)
			}
		}
	}
	sort.Strings(names)
	memberCache.Store(t, names)
	return names
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest names the closest known name, for typos such as FirstNmae.
func suggest(name string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := distance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			// transposition (FirstNmae -> FirstName)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev[j-1]) // approximate Damerau distance
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// position converts a byte offset into a 1-based line and column (in runes).
func position(src string, off int) (int, int) {
	if off > len(src) {
		off = len(src)
	}
	before := src[:off]
	line := 1 + strings.Count(before, "\n")
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCountInString(before[lineStart:]) + 1
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Render produces one contact's message. The subject loses any line break
// a contact value might carry, so no value can add a header.
func (c *Compiled) Render(d *Data) (Rendered, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	var r Rendered
	deadline := time.Now().Add(RenderTimeout)
	out := func(max int) *boundedWriter {
		buf.Reset()
		return &boundedWriter{buf: buf, max: max, deadline: deadline}
	}

	if err := c.subject.Execute(out(maxSubjectOut), d); err != nil {
		return Rendered{}, fmt.Errorf("templates: render subject: %w", execError("subject", err))
	}
	r.Subject = capSubject(strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, buf.String())))

	if c.html != nil {
		if err := c.html.Execute(out(MaxHTMLBytes), d); err != nil {
			return Rendered{}, fmt.Errorf("templates: render html: %w", execError("html", err))
		}
		r.HTML = c.expand(buf.Bytes(), d, true)
	}
	if c.text != nil {
		if err := c.text.Execute(out(MaxTextBytes), d); err != nil {
			return Rendered{}, fmt.Errorf("templates: render text: %w", execError("text", err))
		}
		r.Text = c.expand(buf.Bytes(), d, false)
		if c.textFromHTML {
			r.Text = tidyText(r.Text)
		}
	}
	return r, nil
}

// capSubject cuts s to MaxSubjectRunes, ending in "…". The cut falls
// between characters and not inside a combined one: marks, joiners and
// variation selectors go with the character they belong to.
func capSubject(s string) string {
	if len(s) <= MaxSubjectRunes || utf8.RuneCountInString(s) <= MaxSubjectRunes {
		return s
	}
	cut, n := 0, 0
	for i := range s {
		if n == MaxSubjectRunes-1 {
			cut = i
			break
		}
		n++
	}
	for cut > 0 {
		r, _ := utf8.DecodeRuneInString(s[cut:])
		prev, size := utf8.DecodeLastRuneInString(s[:cut])
		if !bindsToPrevious(r) && !isJoiner(prev) {
			break
		}
		cut -= size
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + "…"
}

// bindsToPrevious reports characters that are part of the one before:
// combining marks, joiners, variation selectors and skin tones.
func bindsToPrevious(r rune) bool {
	return unicode.In(r, unicode.M, unicode.Variation_Selector) || isJoiner(r) || (r >= 0x1F3FB && r <= 0x1F3FF)
}

// isJoiner reports the zero-width (non-)joiners that bind the characters
// either side of them (Persian uses U+200C inside words).
func isJoiner(r rune) bool { return r == '\u200c' || r == '\u200d' }

// Fields returns the custom field names the content was compiled against.
func (c *Compiled) Fields() []string { return c.fields }
