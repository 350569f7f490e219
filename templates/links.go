package templates

import (
	"html"
	"net/url"
	"strings"
)

// NoTrackAttr on an <a> keeps its link out of click tracking.
const NoTrackAttr = "data-herald-notrack"

// rewriteLinks replaces the href of every <a> whose target is a literal
// http(s) URL with marker(i), a placeholder that rendering swaps for the
// tracked URL, and returns the distinct URLs in order (link i is
// urls[i-1]). Placeholders are plain text to the template engine, so
// tracking costs no template call per link. It reads the template
// source, not its output, so it runs once per campaign: template actions
// ({{...}}) are skipped over whole, hrefs built by actions are left alone,
// as are mailto: links, links in comments and links marked NoTrackAttr.
func rewriteLinks(src string, marker func(int) string) (string, []string) {
	var (
		b     strings.Builder
		urls  []string
		index = map[string]int{}
	)
	b.Grow(len(src) + 64)
	i := 0
	for i < len(src) {
		switch {
		case strings.HasPrefix(src[i:], "{{"):
			end := actionEnd(src, i)
			b.WriteString(src[i:end])
			i = end
		case strings.HasPrefix(src[i:], "<!--"):
			end := strings.Index(src[i+4:], "-->")
			if end < 0 {
				b.WriteString(src[i:])
				return b.String(), urls
			}
			end += i + 4 + 3
			b.WriteString(src[i:end])
			i = end
		case src[i] == '<' && i+2 < len(src) && (src[i+1] == 'a' || src[i+1] == 'A') && isSpace(src[i+2]):
			end, out, u := rewriteAnchor(src, i, marker, func(u string) int {
				if n, ok := index[u]; ok {
					return n
				}
				urls = append(urls, u)
				index[u] = len(urls)
				return len(urls)
			})
			b.WriteString(out)
			_ = u
			i = end
		default:
			b.WriteByte(src[i])
			i++
		}
	}
	return b.String(), urls
}

// actionEnd returns the index just past the "}}" closing the action that
// starts at i, or len(src) if it is not closed.
func actionEnd(src string, i int) int {
	if end := actionClose(src, i); end >= 0 {
		return end
	}
	return len(src)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

type attr struct {
	name               string
	valStart, valEnd   int // value span in src (without quotes); -1 when no value
	quoted             bool
	hasAction          bool
	nameStart, fullEnd int
}

// rewriteAnchor parses the <a ...> tag starting at start and returns the
// index past it and its (possibly rewritten) text.
func rewriteAnchor(src string, start int, marker func(int) string, add func(string) int) (int, string, string) {
	i := start + 2
	var attrs []attr
	for i < len(src) {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return len(src), src[start:], ""
		}
		if src[i] == '>' {
			i++
			break
		}
		if strings.HasPrefix(src[i:], "/>") {
			i += 2
			break
		}
		if strings.HasPrefix(src[i:], "{{") { // an action inside the tag: {{if}} class="x" {{end}}
			i = actionEnd(src, i)
			continue
		}
		a := attr{nameStart: i, valStart: -1, valEnd: -1}
		for i < len(src) && !isSpace(src[i]) && src[i] != '=' && src[i] != '>' && !strings.HasPrefix(src[i:], "{{") && !strings.HasPrefix(src[i:], "/>") {
			i++
		}
		a.name = strings.ToLower(src[a.nameStart:i])
		if a.name == "" { // a stray character such as '/'
			i++
			continue
		}
		j := i
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j < len(src) && src[j] == '=' {
			j++
			for j < len(src) && isSpace(src[j]) {
				j++
			}
			if j < len(src) && (src[j] == '"' || src[j] == '\'') {
				q := src[j]
				a.quoted = true
				a.valStart = j + 1
				k := j + 1
				for k < len(src) && src[k] != q {
					if strings.HasPrefix(src[k:], "{{") {
						a.hasAction = true
						k = actionEnd(src, k)
						continue
					}
					k++
				}
				a.valEnd = min(k, len(src))
				i = min(k+1, len(src))
			} else {
				a.valStart = j
				k := j
				for k < len(src) && !isSpace(src[k]) && src[k] != '>' {
					if strings.HasPrefix(src[k:], "{{") {
						a.hasAction = true
						k = actionEnd(src, k)
						continue
					}
					k++
				}
				a.valEnd = k
				i = k
			}
		}
		a.fullEnd = i
		attrs = append(attrs, a)
	}
	tag := src[start:i]
	var href *attr
	for k := range attrs {
		switch attrs[k].name {
		case NoTrackAttr:
			return i, tag, ""
		case "href":
			if href == nil {
				href = &attrs[k]
			}
		}
	}
	if href == nil || href.valStart < 0 || href.hasAction {
		return i, tag, ""
	}
	raw := html.UnescapeString(strings.TrimSpace(src[href.valStart:href.valEnd]))
	if !trackable(raw) {
		return i, tag, ""
	}
	n := add(raw)
	call := marker(n)
	if !href.quoted {
		call = `"` + call + `"`
	}
	return i, src[start:href.valStart] + call + src[href.valEnd:i], raw
}

// trackable reports whether a literal href is an absolute http(s) URL.
func trackable(raw string) bool {
	l := strings.ToLower(raw)
	if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && !strings.ContainsAny(raw, " \t\r\n<>\"")
}
