package web

import (
	"math"
	"net/http"

	"github.com/gin-gonic/gin"

	"herald/contacts"
	"herald/internal/errs"
)

// eventInput is the public shape of an event; amount is in major units.
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

func (e eventInput) toDomain() (contacts.EventInput, error) {
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
		out.Amount = int64(math.Round(a * math.Pow10(contacts.CurrencyExponent(e.Currency))))
	}
	return out, nil
}

// createEvents records one event (an object) or many (an array, answered
// per item: invalid items are reported by index, valid ones stored).
func (s *Server) createEvents(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	batch := isArray(body)
	var ins []eventInput
	if batch {
		if err := decodeBytes(c, body, &ins); err != nil {
			s.fail(c, err)
			return
		}
	} else {
		var one eventInput
		if err := decodeBytes(c, body, &one); err != nil {
			s.fail(c, err)
			return
		}
		ins = []eventInput{one}
	}
	if len(ins) > contacts.MaxBatch {
		s.fail(c, errs.Invalid("", "a batch holds at most %d events", contacts.MaxBatch))
		return
	}
	domain := make([]contacts.EventInput, 0, len(ins))
	index := make([]int, 0, len(ins))
	early := make(map[int]error)
	for i, in := range ins {
		d, err := in.toDomain()
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
	out := make([]gin.H, len(ins))
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
