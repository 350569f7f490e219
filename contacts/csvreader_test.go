package contacts

import (
	"bufio"
	"encoding/csv"
	"io"
	"reflect"
	"strings"
	"testing"
)

func readAll(t *testing.T, text string) []csvRow {
	t.Helper()
	r := newCSVReader(bufio.NewReader(strings.NewReader(text)), ',')
	var rows []csvRow
	for {
		row, err := r.read()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		row.fields = append([]string(nil), row.fields...)
		rows = append(rows, row)
	}
}

func TestCSVReaderReadsWellFormedFilesAsEncodingCSVDoes(t *testing.T) {
	for _, text := range []string{
		"a,b,c\n1,2,3\n",
		"a,b\r\n\"x, y\",\"he said \"\"hi\"\"\"\r\n",
		"a,b\n\"two\nlines\",z\n\"crlf\r\ninside\",w\n",
		"a\n\n\nb\n",
		"a,b\n,\n\"\",\"\"\n",
		"no newline at the end,x",
		"ünïcødé,מרים,ليلى\n",
	} {
		want, err := csv.NewReader(strings.NewReader(text)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, row := range readAll(t, text) {
			if row.problem != "" {
				t.Fatalf("%q: %s", text, row.problem)
			}
			if len(row.fields) == 1 && row.fields[0] == "" {
				continue // encoding/csv skips empty lines
			}
			got = append(got, row.fields)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", text, got, want)
		}
	}
}

func TestCSVReaderNumbersRowsByTheLineTheyStartOn(t *testing.T) {
	rows := readAll(t, "h\r\n\"a\nb\nc\"\r\nd\n\ne\n")
	var lines []int
	for _, r := range rows {
		lines = append(lines, r.line)
	}
	if !reflect.DeepEqual(lines, []int{1, 2, 5, 6, 7}) {
		t.Fatalf("lines = %v", lines)
	}
}
