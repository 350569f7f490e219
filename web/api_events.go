package web

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/contacts"
	"herald/internal/errs"
)

// eventInput is the public shape of an event; amount is in major units of
// the store currency.
type eventInput struct {
	ContactID  int64          `json:"contact_id"`
	Email      string         `json:"email"`
	Type       string         `json:"type"`
	OccurredAt string         `json:"occurred_at"`
	Amount     *float64       `json:"amount"`
	Currency   string         `json:"currency"`
	OrderID    string         `json:"order_id"`
	CampaignID *int64         `json:"campaign_id"`
	Properties map[string]any `json:"properties"`
}

// toDomain converts an amount with the exponent of the store currency:
// the store refuses an event in any other, so the item's own currency
// never decides how its amount is read.
func (e eventInput) toDomain(store string) (contacts.EventInput, error) {
	out := contacts.EventInput{
		ContactID: e.ContactID, Email: e.Email, Type: e.Type, Currency: e.Currency,
		OrderID: e.OrderID, CampaignID: e.CampaignID, Properties: e.Properties,
	}
	if e.OccurredAt != "" {
		t, err := contacts.ParseTime(e.OccurredAt)
		if err != nil {
			return out, errs.Invalid("occurred_at", "%v", err)
		}
		out.OccurredAt = t
	}
	if e.Amount != nil {
		a := *e.Amount
		if math.IsNaN(a) || math.IsInf(a, 0) || a < 0 || a > 1e13 {
			return out, errs.Invalid("amount", "must be a positive amount in major units, such as 19.99")
		}
		out.Amount = contacts.ToMinor(a, store)
	}
	return out, nil
}

// createEvents records one event (an object) or many (an array, answered
// per item: invalid items are reported by index, valid ones stored). Each
// item of an array is decoded on its own, so that a wrong type or an
// unknown field in one is that item's error, not the request's.
func (s *Server) createEvents(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	batch := isArray(body)
	var raws []json.RawMessage
	if batch {
		if raws, err = decodeItems(c, body); err != nil {
			s.fail(c, err)
			return
		}
	} else {
		raws = []json.RawMessage{body}
	}
	store := s.d.Contacts.Currency()
	domain := make([]contacts.EventInput, 0, len(raws))
	index := make([]int, 0, len(raws))
	early := make(map[int]error)
	for i, raw := range raws {
		var in eventInput
		if err := decodeItem(c, raw, &in, batch); err != nil {
			if !batch {
				s.fail(c, err)
				return
			}
			early[i] = err
			continue
		}
		d, err := in.toDomain(store)
		if err != nil {
			early[i] = err
			continue
		}
		domain = append(domain, d)
		index = append(index, i)
	}
	res, err := s.d.Contacts.RecordEvents(c.Request.Context(), domain)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]gin.H, len(raws))
	for i, e := range early {
		out[i] = s.itemError(c, i, e, batch)
	}
	stored, failed := 0, len(early)
	for k, r := range res {
		i := index[k]
		if r.Err != nil {
			failed++
			out[i] = s.itemError(c, i, r.Err, batch)
			continue
		}
		stored++
		status := http.StatusCreated
		if r.Duplicate {
			status = http.StatusOK
		}
		out[i] = gin.H{"index": i, "status": status, "id": r.EventID, "contact_id": r.ContactID, "duplicate": r.Duplicate}
	}
	if !batch {
		r := out[0]
		if e, ok := r["error"]; ok {
			c.PureJSON(r["status"].(int), gin.H{"error": e})
			return
		}
		delete(r, "index")
		delete(r, "status")
		c.PureJSON(r2status(out[0]), r)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"data": out, "stored": stored, "failed": failed})
}

// decodeItems splits a JSON array body into its items, refusing a batch
// larger than contacts.MaxBatch before any item is decoded.
func decodeItems(c *gin.Context, body []byte) ([]json.RawMessage, error) {
	var raws []json.RawMessage
	if err := decodeBytes(c, body, &raws); err != nil {
		return nil, err
	}
	if len(raws) > contacts.MaxBatch {
		return nil, errs.Invalid("", "a batch holds at most %d items, got %d", contacts.MaxBatch, len(raws))
	}
	return raws, nil
}

// decodeItem decodes one item of a batch (or a whole single body) into v,
// refusing unknown fields; an item that is not an object is refused too,
// rather than read as an empty one.
func decodeItem(c *gin.Context, raw json.RawMessage, v any, batch bool) error {
	if batch {
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return errs.Invalid("", "each item of the array must be a JSON object")
		}
	}
	return decodeBytes(c, raw, v)
}

func r2status(r gin.H) int {
	if d, _ := r["duplicate"].(bool); d {
		return http.StatusOK
	}
	return http.StatusCreated
}

func (s *Server) itemError(c *gin.Context, i int, err error, batch bool) gin.H {
	st, body := s.errorResponse(c, err)
	e := body["error"].(apiError)
	if batch {
		e.Path = itemPath(i, e.Path)
	}
	return gin.H{"index": i, "status": st, "error": e}
}
