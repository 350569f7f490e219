package web

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestNiceMaxRoundsUpToAReadableStep(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {0.3, 0.5}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {19, 20}, {23, 25}, {240, 250}, {1001, 2000},
	}
	for _, tc := range tests {
		if got := niceMax(tc.in); got != tc.want {
			t.Errorf("niceMax(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestGroupThousands(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "999": "999", "1000": "1,000", "1234567": "1,234,567", "-12345": "-12,345"} {
		if got := groupThousands(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestPageCountGroupsEveryWholeNumberTypeAndRefusesOthers(t *testing.T) {
	count := pageFuncs["count"].(func(any) (string, error))
	for _, tc := range []struct {
		in      any
		want    string
		refused bool
	}{{int64(2000), "2,000", false}, {1234567, "1,234,567", false}, {int64(-1500), "-1,500", false}, {0, "0", false}, {2.5, "", true}, {"2000", "", true}} {
		got, err := count(tc.in)
		if got != tc.want || (err != nil) != tc.refused {
			t.Errorf("count(%#v) = %q, %v; want %q, refused %v", tc.in, got, err, tc.want, tc.refused)
		}
	}
}

// elements counts the elements of a well-formed document by name; it
// fails the test if the chart is not well-formed.
func elements(t *testing.T, doc string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	out := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok {
			out[se.Name.Local]++
		}
	}
}

func TestChartDrawsEachSeriesDistinctlyAndEscapesText(t *testing.T) {
	c := chart{
		Title:  `Opens & clicks <by hour>`,
		Labels: []string{"09:00", "10:00", "11:00", `<script>`},
		Series: []chartSeries{
			{Name: "Opens", Values: []float64{4, 9, 2, 0}},
			{Name: "Clicks", Values: []float64{1, 3, 0, 1}},
			{Name: "Sent", Values: []float64{10, 0, 5, 2}, Bars: true},
		},
	}
	html := string(c.HTML())
	if strings.Contains(html, "<script>") || strings.Contains(html, "<by hour>") {
		t.Fatal("text was not escaped")
	}
	el := elements(t, html)
	if el["polyline"] != 2 {
		t.Errorf("%d lines, want one per line series", el["polyline"])
	}
	// Three bars with values above zero, plus the legend's swatch and the pattern's rect.
	if el["rect"] < 3+1 {
		t.Errorf("%d rects, want the bars and the legend", el["rect"])
	}
	if !strings.Contains(html, `stroke-dasharray="7 4"`) {
		t.Error("the second series has no dash pattern of its own")
	}
	if el["tr"] != 1+4 {
		t.Errorf("data table has %d rows, want a header and one per label", el["tr"])
	}
	for _, name := range []string{"Opens", "Clicks", "Sent"} {
		if strings.Count(html, ">"+name+"<") < 2 {
			t.Errorf("%s is not named in both the legend and the table", name)
		}
	}
}

func TestChartWithoutDataStillDraws(t *testing.T) {
	html := string(chart{Title: "Nothing yet"}.HTML())
	elements(t, html)
	if !strings.Contains(html, "<svg") {
		t.Fatal("no svg")
	}
}
