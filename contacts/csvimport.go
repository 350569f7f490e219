package contacts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"herald/internal/errs"
)

// ImportError is one row that could not be imported, by its line in the
// file, with the column at fault when there is one.
type ImportError struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// ImportResult counts what an import did. Errors keeps the first
// MaxImportErrors problems; Failed counts them all.
type ImportResult struct {
	Rows    int           `json:"rows"`
	Created int           `json:"created"`
	Updated int           `json:"updated"`
	Failed  int           `json:"failed"`
	Errors  []ImportError `json:"errors"`
}

// MaxImportErrors bounds the errors an import reports one by one.
const MaxImportErrors = 1000

// importBatch is the number of rows upserted together.
const importBatch = 500

var builtinColumns = map[string]bool{
	"email": true, "first_name": true, "last_name": true, "city": true, "country": true, "language": true,
	"timezone": true, "birthday": true, "anniversary": true, "family_status": true, "source": true,
	"signup_at": true, "status": true,
}

// columnAliases are the names spreadsheets commonly give the fields.
var columnAliases = map[string]string{
	"e-mail": "email", "email address": "email", "e-mail address": "email", "mail": "email",
	"first name": "first_name", "firstname": "first_name", "given name": "first_name",
	"last name": "last_name", "lastname": "last_name", "surname": "last_name", "family name": "last_name",
	"tz": "timezone", "time zone": "timezone", "date of birth": "birthday", "dob": "birthday",
	"family status": "family_status", "signup date": "signup_at", "signed up": "signup_at",
}

// ImportCSV upserts the contacts of a CSV file by email. The first row
// names the columns: the contact fields (email is required), and any other
// column is a custom attribute (typed by its custom field when one is
// defined). Empty cells leave a field as it is. Comma, semicolon and tab
// separators are recognised, as is a UTF-8 byte order mark. Bad rows are
// reported by line and the good ones are stored. progress, when set, is
// called after each batch.
func (s *Store) ImportCSV(ctx context.Context, r io.Reader, progress func(ImportResult)) (ImportResult, error) {
	var res ImportResult
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	first, _ := br.Peek(4096)
	cr := csv.NewReader(br)
	cr.Comma = detectSeparator(first)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return res, errs.Invalid("file", "is empty: the first line must name the columns (email, first_name, ...)")
	}
	if err != nil {
		return res, errs.Invalid("line 1", "%v", csvMessage(err))
	}
	fields, err := s.Fields(ctx)
	if err != nil {
		return res, err
	}
	cols, err := mapColumns(header, fields)
	if err != nil {
		return res, err
	}
	var (
		batch []Input
		lines []int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := s.UpsertMany(ctx, batch)
		if err != nil {
			return err
		}
		for i, r := range out {
			switch {
			case r.Err != nil:
				res.fail(lines[i], r.Err)
			case r.Created:
				res.Created++
			default:
				res.Updated++
			}
		}
		batch, lines = batch[:0], lines[:0]
		if progress != nil {
			progress(res)
		}
		return nil
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return res, fmt.Errorf("contacts: read CSV: %w", err)
			}
			// A broken quote can swallow the rest of the file; the
			// reader cannot resynchronise, so the import stops there.
			res.Rows++
			res.fail(pe.StartLine, errs.Invalid("", "%s", csvMessage(pe.Err)))
			break
		}
		if isBlank(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		res.Rows++
		in, err := cols.input(rec)
		if err != nil {
			res.fail(line, err)
			continue
		}
		batch = append(batch, in)
		lines = append(lines, line)
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
	if res.Errors == nil {
		res.Errors = []ImportError{}
	}
	sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].Line < res.Errors[j].Line })
	return res, nil
}

func (r *ImportResult) fail(line int, err error) {
	r.Failed++
	if len(r.Errors) >= MaxImportErrors {
		return
	}
	e := ImportError{Line: line, Message: err.Error()}
	if ie, ok := errs.AsInvalid(err); ok {
		e.Column, e.Message = ie.Path, ie.Message
	}
	r.Errors = append(r.Errors, e)
}

func csvMessage(err error) string {
	switch {
	case errors.Is(err, csv.ErrQuote), errors.Is(err, csv.ErrBareQuote):
		return "a quote is not closed or stands inside an unquoted field"
	}
	return err.Error()
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

func mapColumns(header []string, fields map[string]CustomField) (*columns, error) {
	c := &columns{names: make([]string, len(header)), fields: fields}
	seen := map[string]bool{}
	hasEmail := false
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if alias, ok := columnAliases[name]; ok {
			name = alias
		}
		switch {
		case name == "":
			c.names[i] = "" // an unnamed column is ignored
			continue
		case builtinColumns[name]:
		case strings.HasPrefix(name, "attr."):
			if !ValidAttrName(strings.TrimPrefix(name, "attr.")) {
				return nil, errs.Invalid("line 1", "column %d (%q) is not a valid attribute name", i+1, h)
			}
		default:
			attr := strings.ReplaceAll(name, " ", "_")
			if !ValidAttrName(attr) {
				return nil, errs.Invalid("line 1", "column %d (%q) is neither a contact field nor a valid attribute name (letters, digits and _)", i+1, h)
			}
			name = "attr." + attr
		}
		if seen[name] {
			return nil, errs.Invalid("line 1", "column %q appears twice", h)
		}
		seen[name] = true
		hasEmail = hasEmail || name == "email"
		c.names[i] = name
	}
	if !hasEmail {
		return nil, errs.Invalid("line 1", "no email column: the first line must name the columns, one of them email")
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
