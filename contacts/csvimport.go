package contacts

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"herald/internal/errs"
)

// ImportError is one row that could not be imported, by its line in the
// file, with the column at fault when there is one. Record holds the row's
// cells as read, so that the failed rows can be fixed and imported again.
type ImportError struct {
	Line    int      `json:"line"`
	Column  string   `json:"column,omitempty"`
	Message string   `json:"message"`
	Record  []string `json:"record,omitempty"`
}

// ImportResult counts what an import did. Errors keeps the first
// MaxImportErrors problems; Failed counts them all. Incomplete, when set,
// says why the file was not read to its end (the upload was cut, or a
// quote never closed); the rows before that point are stored.
type ImportResult struct {
	Header     []string      `json:"header"`
	Rows       int           `json:"rows"`
	Created    int           `json:"created"`
	Updated    int           `json:"updated"`
	Skipped    int           `json:"skipped"`
	Failed     int           `json:"failed"`
	Bytes      int64         `json:"bytes"`
	Incomplete string        `json:"incomplete,omitempty"`
	Errors     []ImportError `json:"errors"`
}

// MaxImportErrors bounds the errors an import reports one by one.
const MaxImportErrors = 1000

// importBatch is the number of rows upserted together.
const importBatch = 500

// Existing-contact policies of an import.
const (
	// ExistingUpdate updates a contact that already exists with the
	// row's non-empty cells.
	ExistingUpdate = "update"
	// ExistingSkip leaves a contact that already exists as it is.
	ExistingSkip = "skip"
)

// ImportOptions tune an import.
type ImportOptions struct {
	// Columns maps the file's columns, by position, to contact fields
	// ("email", "first_name", ...) or attributes ("attr.NAME"); "" ignores
	// a column. Nil maps them by their header.
	Columns []string
	// Existing says what a row does to a contact that already exists:
	// ExistingUpdate (the default) or ExistingSkip.
	Existing string
	// Progress, when set, is called after each batch.
	Progress func(ImportResult)
}

// ImportFields are the contact fields a CSV column can fill, in the order
// a form lists them; any other column is a custom attribute.
var ImportFields = []string{
	"email", "first_name", "last_name", "city", "country", "language", "timezone", "birthday",
	"anniversary", "family_status", "source", "signup_at", "status",
}

var builtinColumns = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range ImportFields {
		m[f] = true
	}
	return m
}()

// columnAliases are the names spreadsheets commonly give the fields.
var columnAliases = map[string]string{
	"e-mail": "email", "email address": "email", "e-mail address": "email", "mail": "email",
	"first name": "first_name", "firstname": "first_name", "given name": "first_name",
	"last name": "last_name", "lastname": "last_name", "surname": "last_name", "family name": "last_name",
	"tz": "timezone", "time zone": "timezone", "date of birth": "birthday", "dob": "birthday",
	"family status": "family_status", "signup date": "signup_at", "signed up": "signup_at",
}

// ImportCSV upserts the contacts of a CSV file by email, its columns
// mapped by their header; see Import.
func (s *Store) ImportCSV(ctx context.Context, r io.Reader, progress func(ImportResult)) (ImportResult, error) {
	return s.Import(ctx, r, ImportOptions{Progress: progress})
}

// Import upserts the contacts of a CSV file by email. The first row names
// the columns: the contact fields (email is required), and any other column
// is a custom attribute (typed by its custom field when one is defined),
// unless opts.Columns maps them. Empty cells leave a field as it is. Comma,
// semicolon and tab separators are recognised, as is a UTF-8 byte order
// mark. Bad rows, including rows the reader cannot use, are reported by
// line and the good ones are stored. An error is returned only when the
// file cannot be imported at all or the import is cancelled.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	var res ImportResult
	switch opts.Existing {
	case "", ExistingUpdate, ExistingSkip:
	default:
		return res, errs.Invalid("existing", "%q is neither %q nor %q", opts.Existing, ExistingUpdate, ExistingSkip)
	}
	counted := &countingReader{r: r}
	cr, err := openCSV(counted)
	if err != nil {
		return res, err
	}
	head, err := cr.read()
	if err == io.EOF {
		return res, errs.Invalid("file", "is empty: the first line must name the columns (email, first_name, ...)")
	}
	if err != nil {
		return res, fmt.Errorf("contacts: read CSV header: %w", err)
	}
	if head.problem != "" {
		return res, errs.Invalid("line 1", "%s", head.problem)
	}
	header := slices.Clone(head.fields)
	res.Header = header
	fields, err := s.Fields(ctx)
	if err != nil {
		return res, err
	}
	var cols *columns
	if opts.Columns != nil {
		cols, err = chosenColumns(header, opts.Columns, fields)
	} else {
		cols, err = mapColumns(header, fields)
	}
	if err != nil {
		return res, err
	}
	var (
		batch   []Input
		lines   []int
		records [][]string
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var out []BatchResult
		var err error
		if opts.Existing == ExistingSkip {
			out, err = s.CreateMissing(ctx, batch)
		} else {
			out, err = s.UpsertMany(ctx, batch)
		}
		if err != nil {
			return err
		}
		for i, r := range out {
			switch {
			case r.Err != nil:
				res.fail(lines[i], r.Err, records[i])
			case r.Skipped:
				res.Skipped++
			case r.Created:
				res.Created++
			default:
				res.Updated++
			}
		}
		batch, lines, records = batch[:0], lines[:0], records[:0]
		res.Bytes = counted.n
		if opts.Progress != nil {
			opts.Progress(res)
		}
		return nil
	}
	for {
		row, err := cr.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return res, cerr
			}
			// The upload was cut: what came before is kept, and the
			// result says where the file stopped.
			res.Incomplete = fmt.Sprintf("the file stopped after line %d: %v", cr.line-1, err)
			break
		}
		if row.problem != "" {
			res.Rows++
			res.fail(row.line, errs.Invalid("", "%s", row.problem), nil)
			if row.unclosed {
				res.Incomplete = fmt.Sprintf("a quote opened on line %d is never closed, so the rest of the file (to line %d) was read as one cell", row.line, row.endLine)
			}
			continue
		}
		if isBlank(row.fields) {
			continue
		}
		res.Rows++
		rec := slices.Clone(row.fields)
		in, err := cols.input(rec)
		if err != nil {
			res.fail(row.line, err, rec)
			continue
		}
		batch = append(batch, in)
		lines = append(lines, row.line)
		records = append(records, rec)
		if len(batch) >= importBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	res.Bytes = counted.n
	if res.Errors == nil {
		res.Errors = []ImportError{}
	}
	sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].Line < res.Errors[j].Line })
	return res, nil
}

// CSVPreview is the start of a CSV file as the import would read it, with
// the field each column would fill when mapped by its header.
type CSVPreview struct {
	Header []string `json:"header"`
	// Columns holds, per column, the field its header matches ("email",
	// "attr.NAME", ...) or "" when the header names nothing importable.
	Columns []string   `json:"columns"`
	Sample  [][]string `json:"sample"`
}

// PreviewCSV reads the header and up to n rows of a CSV file, so that its
// columns can be mapped before the whole file is imported. A row cut short
// at the end of r (a preview is usually the head of a larger file) is left
// out.
func (s *Store) PreviewCSV(r io.Reader, n int) (CSVPreview, error) {
	var p CSVPreview
	cr, err := openCSV(r)
	if err != nil {
		return p, err
	}
	head, err := cr.read()
	if err == io.EOF {
		return p, errs.Invalid("file", "is empty: the first line must name the columns (email, first_name, ...)")
	}
	if err != nil {
		return p, fmt.Errorf("contacts: read CSV header: %w", err)
	}
	if head.problem != "" {
		return p, errs.Invalid("line 1", "%s", head.problem)
	}
	p.Header = slices.Clone(head.fields)
	p.Columns = make([]string, len(p.Header))
	seen := map[string]bool{}
	for i, h := range p.Header {
		if name, err := headerColumn(h); err == nil && name != "" && !seen[name] {
			p.Columns[i] = name
			seen[name] = true
		}
	}
	p.Sample = [][]string{}
	for len(p.Sample) < n {
		row, err := cr.read()
		if err != nil {
			break
		}
		if row.atEOF && len(p.Sample) > 0 {
			break // maybe cut short: the head of a larger file
		}
		if row.problem != "" || isBlank(row.fields) {
			continue
		}
		p.Sample = append(p.Sample, slices.Clone(row.fields))
	}
	return p, nil
}

// openCSV skips a byte order mark and picks the separator.
func openCSV(r io.Reader) (*csvReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	first, err := br.Peek(4096)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull && len(first) == 0 {
		return nil, fmt.Errorf("contacts: read CSV: %w", err)
	}
	return newCSVReader(br, byte(detectSeparator(first))), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (r *ImportResult) fail(line int, err error, record []string) {
	r.Failed++
	if len(r.Errors) >= MaxImportErrors {
		return
	}
	e := ImportError{Line: line, Message: err.Error(), Record: record}
	if ie, ok := errs.AsInvalid(err); ok {
		e.Column, e.Message = ie.Path, ie.Message
	}
	r.Errors = append(r.Errors, e)
}

func isBlank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// detectSeparator picks the separator the header line uses most.
func detectSeparator(head []byte) rune {
	line := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		line = head[:i]
	}
	best, bestN := ',', bytes.Count(line, []byte{','})
	for _, c := range []rune{';', '\t'} {
		if n := bytes.Count(line, []byte(string(c))); n > bestN {
			best, bestN = c, n
		}
	}
	return best
}

type columns struct {
	names  []string // contact field or "attr.NAME" per position
	fields map[string]CustomField
}

// headerColumn is the field a header names: a contact field (or one of
// its common spellings), "attr.NAME", or "" for an unnamed column.
func headerColumn(h string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(h))
	if alias, ok := columnAliases[name]; ok {
		name = alias
	}
	switch {
	case name == "", builtinColumns[name]:
		return name, nil
	case strings.HasPrefix(name, "attr."):
		if !ValidAttrName(strings.TrimPrefix(name, "attr.")) {
			return "", fmt.Errorf("is not a valid attribute name")
		}
		return name, nil
	}
	attr := strings.ReplaceAll(name, " ", "_")
	if !ValidAttrName(attr) {
		return "", fmt.Errorf("is neither a contact field nor a valid attribute name (letters, digits and _)")
	}
	return "attr." + attr, nil
}

func mapColumns(header []string, fields map[string]CustomField) (*columns, error) {
	c := &columns{names: make([]string, len(header)), fields: fields}
	seen := map[string]bool{}
	for i, h := range header {
		name, err := headerColumn(h)
		if err != nil {
			return nil, errs.Invalid("line 1", "column %d (%q) %v", i+1, h, err)
		}
		if name == "" {
			continue // an unnamed column is ignored
		}
		if seen[name] {
			return nil, errs.Invalid("line 1", "column %q appears twice", h)
		}
		seen[name] = true
		c.names[i] = name
	}
	if !seen["email"] {
		return nil, errs.Invalid("line 1", "no email column: the first line must name the columns, one of them email")
	}
	return c, nil
}

// chosenColumns checks a mapping chosen for the file's columns.
func chosenColumns(header, chosen []string, fields map[string]CustomField) (*columns, error) {
	if len(chosen) != len(header) {
		return nil, errs.Invalid("columns", "the file has %d columns but the mapping names %d", len(header), len(chosen))
	}
	c := &columns{names: make([]string, len(header)), fields: fields}
	seen := map[string]bool{}
	for i, name := range chosen {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case builtinColumns[name]:
		case strings.HasPrefix(name, "attr.") && ValidAttrName(strings.TrimPrefix(name, "attr.")):
		default:
			return nil, errs.Invalid("columns", "column %d (%q): %q is neither a contact field nor attr.NAME", i+1, header[i], name)
		}
		if seen[name] {
			return nil, errs.Invalid("columns", "%s is chosen for two columns", name)
		}
		seen[name] = true
		c.names[i] = name
	}
	if !seen["email"] {
		return nil, errs.Invalid("columns", "no column is mapped to email")
	}
	return c, nil
}

// input turns a record into an Input; empty cells are left out.
func (c *columns) input(rec []string) (Input, error) {
	var in Input
	for i, raw := range rec {
		if i >= len(c.names) || c.names[i] == "" {
			continue
		}
		v := strings.TrimSpace(raw)
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			return in, errs.Invalid(c.names[i], "is not valid UTF-8 (save the file as UTF-8)")
		}
		val := v
		switch name := c.names[i]; name {
		case "email":
			in.Email = &val
		case "first_name":
			in.FirstName = &val
		case "last_name":
			in.LastName = &val
		case "city":
			in.City = &val
		case "country":
			in.Country = &val
		case "language":
			in.Language = &val
		case "timezone":
			in.Timezone = &val
		case "birthday":
			in.Birthday = &val
		case "anniversary":
			in.Anniversary = &val
		case "family_status":
			in.FamilyStatus = &val
		case "source":
			in.Source = &val
		case "signup_at":
			in.SignupAt = &val
		case "status":
			in.Status = &val
		default:
			attr := strings.TrimPrefix(name, "attr.")
			typed, err := typedCell(v, c.fields[attr])
			if err != nil {
				return in, errs.Invalid(name, "%v", err)
			}
			if in.Attributes == nil {
				in.Attributes = map[string]any{}
			}
			in.Attributes[attr] = typed
		}
	}
	if in.Email == nil {
		return in, errs.Invalid("email", "is empty")
	}
	return in, nil
}

// typedCell reads a cell as its custom field's type (text without one).
func typedCell(v string, f CustomField) (any, error) {
	switch f.Type {
	case FieldNumber:
		n, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		return n, nil
	case FieldBool:
		switch strings.ToLower(v) {
		case "true", "yes", "y", "1", "ja", "oui", "sí", "si":
			return true, nil
		case "false", "no", "n", "0", "nee", "non":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", v)
	}
	return v, nil
}
