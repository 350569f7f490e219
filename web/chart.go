package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// chart is a small SVG chart drawn on the server: no script, no library.
// It must read without colour: each series has its own line pattern and
// marker (or a hatched fill for bars), the legend shows them, and the
// numbers are in a table under the chart.
type chart struct {
	// Title names the chart for screen readers and heads the data table.
	Title  string
	Labels []string // one per point, along the bottom
	Series []chartSeries
	// Unit formats the values (axis, table); whole numbers when nil.
	Unit func(float64) string
}

type chartSeries struct {
	Name   string
	Values []float64
	Bars   bool // drawn as bars; otherwise a line
}

const (
	chartW, chartH                                  = 720, 260
	chartMinLeft, chartRight, chartTop, chartBottom = 56, 16, 34, 44
)

// seriesStyle gives each series a colour and, for readers without colour,
// a dash pattern and a marker shape.
var seriesStyle = []struct{ color, dash, marker string }{
	{"#3157d5", "", "circle"},
	{"#c2410c", "7 4", "square"},
	{"#6b7385", "2 3", "triangle"},
	{"#1a7f37", "10 3 2 3", "diamond"},
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so that
// the axis reads in round steps.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func wholeNumber(v float64) string {
	if v == math.Trunc(v) {
		return groupThousands(strconv.FormatFloat(v, 'f', 0, 64))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// groupThousands puts commas in a whole number: 12345 -> 12,345.
func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// HTML draws the chart and its data table.
func (c chart) HTML() template.HTML {
	unit := c.Unit
	if unit == nil {
		unit = wholeNumber
	}
	esc := template.HTMLEscapeString
	n := len(c.Labels)
	maxV, whole := 0.0, true
	for _, s := range c.Series {
		for _, v := range s.Values {
			maxV = math.Max(maxV, v)
			whole = whole && v == math.Trunc(v)
		}
	}
	top := niceMax(maxV)
	if whole && top < 20 && math.Mod(top, 4) != 0 {
		// Counts step by whole numbers: 0, 2, 4, 6, 8 rather than 1.25s.
		top = math.Ceil(top/4) * 4
	}
	// The left margin fits the widest axis label (money takes more room
	// than a count).
	chartLeft := chartMinLeft
	for i := 0; i <= 4; i++ {
		chartLeft = max(chartLeft, 10+len([]rune(unit(top*float64(i)/4)))*7)
	}
	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBottom)
	y := func(v float64) float64 { return float64(chartTop) + plotH - v/top*plotH }
	band := plotW / math.Max(float64(n), 1)
	x := func(i int) float64 { return float64(chartLeft) + band*(float64(i)+0.5) }

	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><div class="chart-scroll scroll-x"><svg viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	b.WriteString(`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#dfe6fb"/><line x1="0" y1="0" x2="0" y2="6" stroke="#3157d5" stroke-width="2"/></pattern></defs>`)
	// Grid and axis labels: five steps from zero to the top.
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e6ee"/>`, chartLeft, chartW-chartRight, yy, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11" fill="#5f677a">%s</text>`, chartLeft-6, yy+4, esc(unit(v)))
	}
	// At most about ten labels along the bottom, evenly spaced.
	step := max(1, (n+9)/10)
	for i := 0; i < n; i += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#5f677a">%s</text>`, x(i), chartH-chartBottom+16, esc(c.Labels[i]))
	}
	// Bars first, so lines are drawn over them.
	for si, s := range c.Series {
		if !s.Bars {
			continue
		}
		bw := math.Max(1, band*0.7)
		for i, v := range s.Values {
			if i >= n || v <= 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#hatch)" stroke="%s" stroke-width="1"><title>%s, %s: %s</title></rect>`,
				x(i)-bw/2, y(v), bw, y(0)-y(v), seriesStyle[si%len(seriesStyle)].color, esc(s.Name), esc(c.Labels[i]), esc(unit(v)))
		}
	}
	for si, s := range c.Series {
		if s.Bars {
			continue
		}
		st := seriesStyle[si%len(seriesStyle)]
		var pts []string
		for i, v := range s.Values {
			if i < n {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
		}
		dash := ""
		if st.dash != "" {
			dash = ` stroke-dasharray="` + st.dash + `"`
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, st.color, dash, strings.Join(pts, " "))
		if n <= 72 {
			for i, v := range s.Values {
				if i < n {
					fmt.Fprintf(&b, `<g>%s<title>%s, %s: %s</title></g>`, marker(st.marker, x(i), y(v), st.color), esc(s.Name), esc(c.Labels[i]), esc(unit(v)))
				}
			}
		}
	}
	// Legend along the top: the same pattern and marker as the series.
	lx := float64(chartLeft)
	for si, s := range c.Series {
		st := seriesStyle[si%len(seriesStyle)]
		if s.Bars {
			fmt.Fprintf(&b, `<rect x="%.1f" y="10" width="22" height="12" fill="url(#hatch)" stroke="%s"/>`, lx, st.color)
		} else {
			dash := ""
			if st.dash != "" {
				dash = ` stroke-dasharray="` + st.dash + `"`
			}
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="16" y2="16" stroke="%s" stroke-width="2"%s/>%s`, lx, lx+22, st.color, dash, marker(st.marker, lx+11, 16, st.color))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="20" font-size="12" fill="#1d2433">%s</text>`, lx+28, esc(s.Name))
		lx += 28 + float64(len([]rune(s.Name)))*7 + 24
	}
	b.WriteString(`</svg></div>`)
	// The numbers, for screen readers and for anyone who wants them.
	fmt.Fprintf(&b, `<details class="chart-data"><summary>%s as a table</summary><div class="table-wrap"><table><thead><tr><th></th>`, esc(c.Title))
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<th class="num">%s</th>`, esc(s.Name))
	}
	b.WriteString(`</tr></thead><tbody>`)
	for i, l := range c.Labels {
		fmt.Fprintf(&b, `<tr><td>%s</td>`, esc(l))
		for _, s := range c.Series {
			v := 0.0
			if i < len(s.Values) {
				v = s.Values[i]
			}
			fmt.Fprintf(&b, `<td class="num">%s</td>`, esc(unit(v)))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table></div></details></figure>`)
	return template.HTML(b.String()) // every text above went through esc
}

func marker(shape string, cx, cy float64, color string) string {
	switch shape {
	case "square":
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="7" height="7" fill="#fff" stroke="%s" stroke-width="1.5"/>`, cx-3.5, cy-3.5, color)
	case "triangle":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="#fff" stroke="%s" stroke-width="1.5"/>`, cx, cy-4.5, cx+4.5, cy+3.5, cx-4.5, cy+3.5, color)
	case "diamond":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="#fff" stroke="%s" stroke-width="1.5"/>`, cx, cy-4.5, cx+4.5, cy, cx, cy+4.5, cx-4.5, cy, color)
	}
	return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="#fff" stroke="%s" stroke-width="1.5"/>`, cx, cy, color)
}
