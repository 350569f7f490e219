package templates

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// htmlToText derives a readable plain-text template from an HTML template
// source: tags go, block elements become line breaks, links become
// "text (url)", and template actions pass through untouched so the result
// is itself a template. It runs at compile time, once per campaign.
//
// The actions are swapped for placeholders before the HTML is read and put
// back at the end, so that decoding the HTML's text cannot make new ones:
// "&#123;&#123;.Email&#125;&#125;" shows as {{.Email}} in the HTML and must
// show so in the text too, not print the address. Every brace the HTML's
// text holds is therefore written as a template string, {{"{"}}.
func htmlToText(src string) string {
	ph := newPlaceholders(src)
	z := html.NewTokenizer(strings.NewReader(ph.src))
	var (
		b       strings.Builder
		skip    int      // depth inside head, style, script, title
		hidden  []string // open tags of a display:none element (a preheader)
		linkURL []string
		linkTxt []int // b.Len() when the <a> opened
	)
	newline := func(n int) {
		s := b.String()
		trail := len(s) - len(strings.TrimRight(s, "\n"))
		for ; trail < n; trail++ {
			b.WriteByte('\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return ph.restore(tidyText(b.String()))
		case html.CommentToken, html.DoctypeToken:
			ph.keepControls(&b, string(z.Raw()))
		case html.TextToken:
			if skip > 0 || len(hidden) > 0 {
				ph.keepControls(&b, string(z.Text()))
				continue
			}
			b.WriteString(collapseSpace(string(z.Text())))
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			end := tt == html.EndTagToken
			attrs := map[string]string{}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attrs[string(k)] = string(v)
				// Only an <a>'s href and an <img>'s alt reach the text;
				// if and end in other attributes must still come along.
				ph.keepControls(&b, string(k))
				if !(tag == "a" && string(k) == "href") && !(tag == "img" && string(k) == "alt") {
					ph.keepControls(&b, string(v))
				}
			}
			switch tag {
			case "head", "style", "script", "title":
				if tt == html.StartTagToken {
					skip++
				} else if end && skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 {
				continue
			}
			if len(hidden) > 0 {
				switch {
				case tt == html.StartTagToken && !voidElements[tag]:
					hidden = append(hidden, tag)
				case end && hidden[len(hidden)-1] == tag:
					hidden = hidden[:len(hidden)-1]
				}
				continue
			}
			if tt == html.StartTagToken && !voidElements[tag] && isHidden(attrs["style"]) {
				hidden = append(hidden, tag)
				continue
			}
			switch tag {
			case "br":
				newline(1)
			case "p", "div", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "section", "header", "footer":
				newline(2)
			case "tr":
				newline(1)
			case "td", "th":
				if !end {
					b.WriteByte(' ')
				}
			case "li":
				if !end {
					newline(1)
					b.WriteString("- ")
				}
			case "hr":
				newline(1)
				b.WriteString("----")
				newline(1)
			case "a":
				if !end {
					linkURL = append(linkURL, strings.TrimSpace(attrs["href"]))
					linkTxt = append(linkTxt, b.Len())
				} else if n := len(linkURL); n > 0 {
					href, at := linkURL[n-1], linkTxt[n-1]
					linkURL, linkTxt = linkURL[:n-1], linkTxt[:n-1]
					text := strings.TrimSpace(b.String()[at:])
					switch {
					case href == "" || strings.HasPrefix(href, "#"):
						ph.keepControls(&b, href)
					case strings.HasPrefix(strings.ToLower(href), "mailto:"):
						if addr := href[len("mailto:"):]; text != addr {
							b.WriteString(" (" + addr + ")")
						} else {
							ph.keepControls(&b, href)
						}
					case text != href:
						b.WriteString(" (" + href + ")")
					default:
						ph.keepControls(&b, href)
					}
				}
			case "img":
				if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
					b.WriteString(alt)
				}
			default:
				if href, ok := attrs["href"]; ok { // <area>, <link>: not shown
					ph.keepControls(&b, href)
				}
			}
		}
	}
}

// placeholders stand for the template actions of a source while it is
// read as HTML. A placeholder is two private-use characters around the
// action's number, chosen so that the source holds neither.
type placeholders struct {
	src        string   // the source with placeholders for actions
	actions    []string // action i's source text
	open, shut rune
}

func newPlaceholders(src string) *placeholders {
	p := &placeholders{open: '\uE000', shut: '\uE001'}
	for strings.ContainsRune(src, p.open) || strings.ContainsRune(src, p.shut) {
		p.open, p.shut = p.open+2, p.shut+2
	}
	ids := map[string]int{}
	var b strings.Builder
	last := 0
	for _, span := range templateActions(src) {
		action := src[span[0]:span[1]]
		id, ok := ids[action]
		if !ok {
			id = len(p.actions)
			ids[action] = id
			p.actions = append(p.actions, action)
		}
		b.WriteString(src[last:span[0]])
		p.write(&b, id)
		last = span[1]
	}
	b.WriteString(src[last:])
	p.src = b.String()
	return p
}

func (p *placeholders) write(b *strings.Builder, id int) {
	b.WriteRune(p.open)
	b.WriteString(strconv.Itoa(id))
	b.WriteRune(p.shut)
}

// each calls f for the text between placeholders and for each action.
func (p *placeholders) each(s string, text func(string), action func(id int)) {
	for {
		i := strings.IndexRune(s, p.open)
		if i < 0 {
			break
		}
		j := strings.IndexRune(s[i:], p.shut)
		if j < 0 {
			break
		}
		id, err := strconv.Atoi(s[i+utf8.RuneLen(p.open) : i+j])
		if err != nil || id < 0 || id >= len(p.actions) {
			break
		}
		text(s[:i])
		action(id)
		s = s[i+j+utf8.RuneLen(p.shut):]
	}
	text(s)
}

// keepControls writes the placeholders of the control actions (if, else,
// end, range, with...) found in text that does not reach the text part,
// so that a block opened there still closes where it should.
func (p *placeholders) keepControls(b *strings.Builder, s string) {
	p.each(s, func(string) {}, func(id int) {
		if controlAction.MatchString(p.actions[id]) {
			p.write(b, id)
		}
	})
}

var controlAction = regexp.MustCompile(`^\{\{-?\s*(if|else|end|range|with|block|define|break|continue)\b`)

// restore puts the actions back and turns every brace of the text into a
// template string, so that only the marketer's own actions run.
func (p *placeholders) restore(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	p.each(s, func(t string) {
		for {
			i := strings.IndexByte(t, '{')
			if i < 0 {
				break
			}
			b.WriteString(t[:i])
			b.WriteString(`{{"{"}}`)
			t = t[i+1:]
		}
		b.WriteString(t)
	}, func(id int) { b.WriteString(p.actions[id]) })
	return b.String()
}

// templateActions returns the byte spans of the actions ({{...}}) of a
// template source that parses.
func templateActions(src string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(src); {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			break
		}
		end := actionClose(src, i+j)
		if end < 0 {
			break
		}
		spans = append(spans, [2]int{i + j, end})
		i = end
	}
	return spans
}

// actionClose returns the index just past the "}}" that closes the action
// starting at start, or -1 if there is none. It reads as text/template's
// lexer does: a "}}" inside a quoted string, raw string or character
// constant does not end an action, and a comment runs to its "*/".
func actionClose(src string, start int) int {
	k := start + 2
	if len(src) > k+1 && src[k] == '-' && isSpace(src[k+1]) {
		k += 2
	}
	if strings.HasPrefix(src[k:], "/*") {
		c := strings.Index(src[k+2:], "*/")
		if c < 0 {
			return -1
		}
		k += 2 + c + 2
		if e := strings.Index(src[k:], "}}"); e >= 0 {
			return k + e + 2
		}
		return -1
	}
	for k < len(src) {
		switch c := src[k]; c {
		case '"', '\'':
			k++
			for k < len(src) && src[k] != c && src[k] != '\n' {
				if src[k] == '\\' {
					k++
				}
				k++
			}
			k++
		case '`':
			e := strings.IndexByte(src[k+1:], '`')
			if e < 0 {
				return -1
			}
			k += e + 2
		case '}':
			if strings.HasPrefix(src[k:], "}}") {
				return k + 2
			}
			k++
		default:
			k++
		}
	}
	return -1
}

var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// isHidden reports a style that hides an element (display:none,
// mso-hide:all), as preheaders have: its text is not for the text part.
func isHidden(style string) bool {
	st := strings.ReplaceAll(strings.ToLower(style), " ", "")
	return strings.Contains(st, "display:none") || strings.Contains(st, "mso-hide:all")
}

var spaceRun = regexp.MustCompile(`[ \t\r\n\f]+`)

func collapseSpace(s string) string { return spaceRun.ReplaceAllString(s, " ") }

// tidyText trims each line and keeps at most one blank line in a row. It
// runs on every generated text part, so it is a single pass.
func tidyText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	blank := 0
	started := false
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		line = strings.TrimSpace(line)
		if line == "" {
			blank++
			continue
		}
		if started {
			b.WriteByte('\n')
			if blank > 0 {
				b.WriteByte('\n')
			}
		}
		b.WriteString(line)
		started, blank = true, 0
	}
	b.WriteByte('\n')
	return b.String()
}
