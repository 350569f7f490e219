package contacts

import (
	"bufio"
	"fmt"
	"io"
)

// Limits on what one CSV row may hold. They keep an import's memory small
// whatever the file: a row over a limit is read to its end without being
// kept, and reported as a failed row.
const (
	// MaxCSVField is the longest cell, in bytes.
	MaxCSVField = 64 << 10
	// MaxCSVRow is the longest row, in bytes, its cells together.
	MaxCSVRow = 1 << 20
	// MaxCSVCells is the most cells a row may have.
	MaxCSVCells = 4096
)

// csvRow is one record of the file, or why it could not be read.
type csvRow struct {
	line    int // the line the row starts on
	endLine int // the line it ends on (a quoted cell may span lines)
	fields  []string
	problem string // set when the row cannot be used; fields is nil then
	// unclosed is set when a quote opened in this row never closed, so
	// the rest of the file was read as one cell.
	unclosed bool
	// atEOF is set when the file ended the row rather than a line break.
	atEOF bool
}

// csvReader reads CSV the way spreadsheet tools do: a quote inside an
// unquoted cell is just a character, a quote inside a quoted cell that
// neither doubles nor closes it is kept, and CRLF or LF end a row. Unlike
// encoding/csv it never holds more than one row within its limits, and it
// keeps reading after a row it cannot use, so one bad row never hides the
// rest of the file.
type csvReader struct {
	br       *bufio.Reader
	comma    byte
	line     int
	maxField int
	maxRow   int
	buf      []byte
	fields   []string
}

func newCSVReader(br *bufio.Reader, comma byte) *csvReader {
	return &csvReader{br: br, comma: comma, line: 1, maxField: MaxCSVField, maxRow: MaxCSVRow}
}

// read returns the next row; io.EOF at the end of the file, or the error
// of the underlying reader (a cut upload). The row's fields are valid until
// the next call.
func (r *csvReader) read() (csvRow, error) {
	if _, err := r.br.Peek(1); err != nil {
		return csvRow{}, err
	}
	row := csvRow{line: r.line}
	r.fields = r.fields[:0]
	r.buf = r.buf[:0]
	size := 0
	quoted, fieldStart := false, true
	tooLong := func(what string, limit int) {
		if row.problem == "" {
			row.problem = fmt.Sprintf("the %s is longer than %s: the row was skipped", what, byteSize(limit))
		}
	}
	add := func(b byte) {
		switch {
		case row.problem != "":
		case len(r.buf) >= r.maxField:
			tooLong(fmt.Sprintf("cell in column %d", len(r.fields)+1), r.maxField)
		default:
			r.buf = append(r.buf, b)
		}
	}
	endField := func() {
		if row.problem == "" && len(r.fields) >= MaxCSVCells {
			row.problem = fmt.Sprintf("the row has more than %d cells: it was skipped", MaxCSVCells)
		}
		if row.problem == "" {
			r.fields = append(r.fields, string(r.buf))
		}
		r.buf = r.buf[:0]
		fieldStart, quoted = true, false
	}
	finish := func() (csvRow, error) {
		endField()
		row.endLine = r.line
		if row.problem == "" {
			row.fields = r.fields
		}
		return row, nil
	}
	for {
		b, err := r.br.ReadByte()
		if err == io.EOF {
			row.atEOF = true
			if quoted {
				row.unclosed = true
				row.problem = fmt.Sprintf("a quote opened on line %d is never closed: lines %d to %d were read as one cell, and the file ends inside it", row.line, row.line, r.line)
			}
			return finish()
		}
		if err != nil {
			return csvRow{}, err
		}
		if size++; size > r.maxRow {
			tooLong("row", r.maxRow)
		}
		if fieldStart {
			fieldStart = false
			if b == '"' {
				quoted = true
				continue
			}
		}
		if quoted {
			switch b {
			case '"':
				next, err := r.br.ReadByte()
				switch {
				case err == io.EOF:
					row.atEOF = true
					return finish()
				case err != nil:
					return csvRow{}, err
				case next == '"':
					add('"')
				case next == r.comma:
					endField()
				case next == '\n':
					r.line++
					return finish()
				case next == '\r' && r.peekIs('\n'):
					r.br.ReadByte()
					r.line++
					return finish()
				default:
					// A stray quote: kept, and the rest of the cell is
					// read as unquoted text, as spreadsheets do.
					add('"')
					quoted = false
					_ = r.br.UnreadByte()
				}
			case '\r':
				if r.peekIs('\n') {
					continue // CRLF inside a cell reads as LF
				}
				add(b)
			case '\n':
				r.line++
				add(b)
			default:
				add(b)
			}
			continue
		}
		switch b {
		case r.comma:
			endField()
		case '\n':
			r.line++
			return finish()
		case '\r':
			if r.peekIs('\n') {
				r.br.ReadByte()
				r.line++
				return finish()
			}
			add(b)
		default:
			add(b)
		}
	}
}

func (r *csvReader) peekIs(c byte) bool {
	b, err := r.br.Peek(1)
	return err == nil && b[0] == c
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
