package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/contacts"
	"herald/internal/errs"
)

func (s *Server) listContacts(c *gin.Context) {
	cursor, limit, err := page(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := contacts.ListQuery{After: cursor, Limit: limit, Search: c.Query("q")}
	if st := c.Query("status"); st != "" {
		if !contacts.Status(st).Valid() {
			s.fail(c, errs.Invalid("status", "%q is not a status", st))
			return
		}
		q.Status = contacts.Status(st)
	}
	cs, next, err := s.d.Contacts.List(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, listBody(s.viewContacts(cs), next))
}

// createContacts upserts one contact (an object) or many (an array),
// keyed by email. One answers 201 when created and 200 when updated; many
// answer 200 with a result per item.
func (s *Server) createContacts(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if isArray(body) {
		// Each item is decoded on its own: a wrong type or an unknown
		// field is that item's error, and the others are still stored.
		raws, err := decodeItems(c, body)
		if err != nil {
			s.fail(c, err)
			return
		}
		out := make([]gin.H, len(raws))
		created, updated, failed := 0, 0, 0
		ins := make([]contacts.Input, 0, len(raws))
		index := make([]int, 0, len(raws))
		for i, raw := range raws {
			var in contacts.Input
			if err := decodeItem(c, raw, &in, true); err != nil {
				failed++
				out[i] = s.itemError(c, i, err, true)
				continue
			}
			ins = append(ins, in)
			index = append(index, i)
		}
		res, err := s.d.Contacts.UpsertMany(c.Request.Context(), ins)
		if err != nil {
			s.fail(c, err)
			return
		}
		for k, r := range res {
			i := index[k]
			switch {
			case r.Err != nil:
				failed++
				out[i] = s.itemError(c, i, r.Err, true)
			case r.Created:
				created++
				out[i] = gin.H{"index": i, "status": http.StatusCreated, "contact": s.viewContact(r.Contact)}
			default:
				updated++
				out[i] = gin.H{"index": i, "status": http.StatusOK, "contact": s.viewContact(r.Contact)}
			}
		}
		c.Render(http.StatusOK, batchJSON{items: out, counts: map[string]int{"created": created, "updated": updated, "failed": failed}})
		return
	}
	var in contacts.Input
	if err := decodeBytes(c, body, &in); err != nil {
		s.fail(c, err)
		return
	}
	ct, created, err := s.d.Contacts.Upsert(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.PureJSON(status, s.viewContact(ct))
}

func itemPath(i int, path string) string {
	if path == "" {
		return fmt.Sprintf("[%d]", i)
	}
	return fmt.Sprintf("[%d].%s", i, path)
}

func (s *Server) getContact(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ct, err := s.d.Contacts.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, s.viewContact(ct))
}

func (s *Server) patchContact(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in contacts.Input
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ct, err := s.d.Contacts.Update(c.Request.Context(), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, s.viewContact(ct))
}

func (s *Server) deleteContact(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.d.Contacts.Delete(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// resubscribeContact subscribes a contact that unsubscribed, complained
// or bounced, with the reason the caller gives, which the contact's
// timeline keeps. PATCH and imports cannot do this.
func (s *Server) resubscribeContact(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ct, err := s.d.Contacts.Resubscribe(c.Request.Context(), id, "api", in.Reason)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, s.viewContact(ct))
}

type eventView struct {
	ID         int64          `json:"id"`
	ContactID  int64          `json:"contact_id"`
	Type       string         `json:"type"`
	OccurredAt string         `json:"occurred_at"`
	CampaignID *int64         `json:"campaign_id"`
	Amount     float64        `json:"amount"`
	Currency   string         `json:"currency"`
	OrderID    string         `json:"order_id"`
	Properties map[string]any `json:"properties"`
	Machine    bool           `json:"machine"`
}

func (s *Server) contactEvents(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, err := s.d.Contacts.Get(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	evs, err := s.d.Contacts.Events(c.Request.Context(), id, 200)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, listBody(s.viewEvents(evs), 0))
}

func (s *Server) viewEvents(evs []contacts.Event) []eventView {
	store := s.d.Contacts.Currency()
	out := make([]eventView, len(evs))
	for i, e := range evs {
		props := map[string]any(e.Properties)
		if props == nil {
			props = map[string]any{}
		}
		out[i] = eventView{ID: e.ID, ContactID: e.ContactID, Type: e.Type, OccurredAt: e.OccurredAt.UTC().Format("2006-01-02T15:04:05.999Z07:00"),
			CampaignID: e.CampaignID, Amount: contacts.ToMajor(e.Amount, cmp.Or(e.Currency, store)), Currency: e.Currency, OrderID: e.OrderID, Properties: props, Machine: e.Machine}
	}
	return out
}

func (s *Server) listFields(c *gin.Context) {
	fs, err := s.d.Contacts.ListFields(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, listBody(fs, 0))
}

func (s *Server) createField(c *gin.Context) {
	var in struct {
		Name string             `json:"name"`
		Type contacts.FieldType `json:"type"`
	}
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	f, err := s.d.Contacts.CreateField(c.Request.Context(), in.Name, in.Type)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusCreated, f)
}

func (s *Server) deleteField(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.d.Contacts.DeleteField(c.Request.Context(), id, s.d.Segments); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// importContacts upserts the contacts of a CSV body (text/csv, or a
// multipart form whose "file" field is the CSV). ?columns= maps the file's
// columns by position (comma-separated field names, empty to ignore one)
// and ?existing=skip leaves existing contacts alone. With ?progress=1 it
// streams one JSON line per batch and the result as the last line, so a
// client can show progress on large files; otherwise it answers the result
// when done. The body is read as it arrives, never buffered whole.
func (s *Server) importContacts(c *gin.Context) {
	opts := contacts.ImportOptions{Existing: c.Query("existing")}
	if cols, ok := c.GetQuery("columns"); ok {
		opts.Columns = strings.Split(cols, ",")
	}
	// A large file on a slow link takes longer than the server's read
	// timeout: the upload may take as long as it needs while data keeps
	// arriving, and the import as long as it needs to write its answer.
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetWriteDeadline(time.Time{})
	// Progress is written while the file still arrives. Without full
	// duplex, net/http ends the request body once the response starts,
	// and the import would stop short without an error.
	_ = rc.EnableFullDuplex()
	body := &uploadReader{r: c.Request.Body, rc: rc, idle: importIdleTimeout, want: c.Request.ContentLength}
	var r io.Reader = body
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		_, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
		if err != nil || params["boundary"] == "" {
			s.fail(c, errs.Invalid("file", "the multipart form has no boundary"))
			return
		}
		part, err := fileField(multipart.NewReader(body, params["boundary"]))
		if err != nil {
			s.fail(c, err)
			return
		}
		defer part.Close()
		r = part
	}
	stream := c.Query("progress") == "1"
	if stream {
		c.Header("Content-Type", "application/x-ndjson")
		c.Status(http.StatusOK)
		enc := json.NewEncoder(c.Writer)
		opts.Progress = func(p contacts.ImportResult) {
			_ = enc.Encode(gin.H{"progress": gin.H{"rows": p.Created + p.Updated + p.Skipped + p.Failed, "created": p.Created, "updated": p.Updated, "skipped": p.Skipped, "failed": p.Failed, "bytes": body.n}})
			_ = rc.Flush()
		}
	}
	res, err := s.d.Contacts.Import(c.Request.Context(), r, opts)
	if stream {
		if err != nil {
			_, body := s.errorResponse(c, err)
			_ = json.NewEncoder(c.Writer).Encode(body)
			return
		}
		_ = json.NewEncoder(c.Writer).Encode(gin.H{"result": res})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, res)
}

// previewImport reads the head of a CSV file (the body, up to the first
// rows a person needs to see) and answers its columns, the field each
// header matches, and a few rows, so that a client can map the columns
// before sending the whole file to importContacts.
func (s *Server) previewImport(c *gin.Context) {
	p, err := s.d.Contacts.PreviewCSV(io.LimitReader(c.Request.Body, maxPreviewBytes), 5)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, p)
}

// maxPreviewBytes is as much of a file as a preview reads.
const maxPreviewBytes = 1 << 20

// importIdleTimeout is how long an import upload may send nothing before
// it is cut.
const importIdleTimeout = 2 * time.Minute

// uploadReader reads a request body with a deadline that moves on with
// every read, and turns its errors into ones a person can act on.
type uploadReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	want int64 // the declared length, or -1
	n    int64
}

func (u *uploadReader) Read(p []byte) (int, error) {
	_ = u.rc.SetReadDeadline(time.Now().Add(u.idle))
	n, err := u.r.Read(p)
	u.n += int64(n)
	var mbe *http.MaxBytesError
	switch {
	case err == io.EOF && u.want > 0 && u.n < u.want:
		// A body that ends before its declared length was cut, even
		// if it reads as a clean end.
		err = fmt.Errorf("the upload ended after %d of its %d bytes", u.n, u.want)
	case err == nil, err == io.EOF:
	case errors.As(err, &mbe):
		err = fmt.Errorf("the file is larger than the %d MB an import takes", mbe.Limit>>20)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("the upload sent nothing for %s and was cut", u.idle)
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("the upload was cut before the end of the file")
	}
	return n, err
}

// fileField finds the "file" part of a multipart form, skipping others.
func fileField(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, errs.Invalid("file", "send the CSV as the form field \"file\"")
		}
		if err != nil {
			return nil, errs.Invalid("file", "the multipart form cannot be read: %v", err)
		}
		if part.FormName() == "file" {
			return part, nil
		}
		part.Close()
	}
}
