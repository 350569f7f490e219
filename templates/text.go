package templates

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// htmlToText derives a readable plain-text template from an HTML template
// source: tags go, block elements become line breaks, links become
// "text (url)", and template actions pass through untouched so the result
// is itself a template. It runs at compile time, once per campaign.
func htmlToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
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
			return tidyText(b.String())
		case html.TextToken:
			if skip > 0 || len(hidden) > 0 {
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
					case strings.HasPrefix(strings.ToLower(href), "mailto:"):
						if addr := href[len("mailto:"):]; text != addr {
							b.WriteString(" (" + addr + ")")
						}
					case text != href:
						b.WriteString(" (" + href + ")")
					}
				}
			case "img":
				if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
					b.WriteString(alt)
				}
			}
		}
	}
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
