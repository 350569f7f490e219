package campaigns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"sort"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/errs"
	"herald/templates"
)

// Message is one rendered email, ready for a Mailer.
type Message struct {
	FromName  string
	FromEmail string
	To        string
	ToName    string
	ReplyTo   string
	Subject   string
	HTML      string
	Text      string
	// MessageID is without angle brackets.
	MessageID string
	// ListUnsubscribe is the https URL for List-Unsubscribe and RFC 8058
	// one-click unsubscription; empty for test sends.
	ListUnsubscribe string
	// CampaignID goes into a header so bounces can be traced back.
	CampaignID int64
}

// Mailer sends messages. Errors should be *SendError so the sender can
// tell a retry from a bounce.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

// SendError classifies a failed send.
type SendError struct {
	// Temporary failures (4xx, dropped connections) are retried later.
	Temporary bool
	// Recipient is true when the server refused the recipient itself
	// (a 5xx at RCPT): a hard bounce that suppresses the address.
	Recipient bool
	Code      int
	Msg       string
}

func (e *SendError) Error() string {
	if e.Code > 0 {
		return fmt.Sprintf("smtp %d: %s", e.Code, e.Msg)
	}
	return e.Msg
}

// Limiter spaces sends out to a global rate. Take blocks until n messages
// may go.
type Limiter interface {
	Take(ctx context.Context, n int) error
}

// ErrRetryLater is returned by SendBatch when some deliveries failed
// temporarily; the caller should run the batch again after a backoff.
var ErrRetryLater = errors.New("campaigns: some messages failed temporarily")

// Sender sends batches of deliveries. Each delivery is claimed (queued ->
// sending) in a committed write before its message goes out, and settled
// (sent, failed, bounced, or back to queued for a temporary failure) after,
// so a retried or duplicated task never sends a claimed delivery again.
// The price of that guarantee: if the process dies between claiming and
// settling, up to ClaimSize deliveries of each running task are left
// "sending" and later marked unknown; they are not resent.
type Sender struct {
	svc     *Service
	mailer  Mailer
	limiter Limiter

	mu       sync.Mutex
	compiled map[int64]compiledEntry
	status   map[int64]statusEntry
}

type compiledEntry struct {
	updatedAt time.Time
	comp      *templates.Compiled
}

type statusEntry struct {
	status Status
	at     time.Time
}

// NewSender returns a Sender. limiter may be nil (no rate limit).
func NewSender(svc *Service, mailer Mailer, limiter Limiter) *Sender {
	return &Sender{svc: svc, mailer: mailer, limiter: limiter, compiled: map[int64]compiledEntry{}, status: map[int64]statusEntry{}}
}

// statusCheckEvery is how stale a sender's view of a campaign's status may
// be: pause and cancel take effect within it.
const statusCheckEvery = 500 * time.Millisecond

func (s *Sender) campaignStatus(ctx context.Context, id int64) (Status, error) {
	s.mu.Lock()
	e, ok := s.status[id]
	s.mu.Unlock()
	if ok && time.Since(e.at) < statusCheckEvery {
		return e.status, nil
	}
	var c Campaign
	if err := s.svc.db.WithContext(ctx).Select("status").Take(&c, id).Error; err != nil {
		return "", fmt.Errorf("campaigns: status of %d: %w", id, err)
	}
	st := c.Status
	s.mu.Lock()
	s.status[id] = statusEntry{st, time.Now()}
	s.mu.Unlock()
	return st, nil
}

func (s *Sender) compile(ctx context.Context, c *Campaign) (*templates.Compiled, error) {
	s.mu.Lock()
	e, ok := s.compiled[c.ID]
	s.mu.Unlock()
	if ok && e.updatedAt.Equal(c.UpdatedAt) {
		return e.comp, nil
	}
	comp, err := s.svc.compile(ctx, c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.compiled[c.ID] = compiledEntry{c.UpdatedAt, comp}
	s.mu.Unlock()
	return comp, nil
}

// MessageID is the Message-ID of a delivery, derived from its row so that
// bounces and replies can be matched without storing it.
func (s *Service) MessageID(campaignID, deliveryID int64) string {
	return "herald." + strconv.FormatInt(campaignID, 10) + "." + strconv.FormatInt(deliveryID, 10) + "@" + s.cfg.MessageIDDomain
}

type outcome struct {
	id      int64
	contact int64
	status  DeliveryStatus
	err     string
	bounce  bool
}

// SendBatch sends the queued deliveries among ids. final tells that the
// queue will not retry this batch again, so temporary failures become
// failures instead of going back to the queue.
func (s *Sender) SendBatch(ctx context.Context, campaignID int64, ids []int64, final bool) error {
	st, err := s.campaignStatus(ctx, campaignID)
	if err != nil {
		return err
	}
	if st != Sending {
		return nil // paused or cancelled: the deliveries wait (or were skipped)
	}
	c, err := s.svc.Get(ctx, campaignID)
	if err != nil {
		return err
	}
	comp, err := s.compile(ctx, &c)
	if err != nil {
		// Content that no longer compiles (a custom field was deleted)
		// would fail every message: stop and say why.
		if _, perr := s.svc.Pause(ctx, campaignID, "paused automatically: "+err.Error()); perr != nil {
			return perr
		}
		return nil
	}
	var pending []Delivery
	err = s.svc.db.WithContext(ctx).Select("id", "contact_id").
		Where("id IN ? AND campaign_id = ? AND status = ?", ids, campaignID, Queued).
		Order("id").Find(&pending).Error
	if err != nil {
		return fmt.Errorf("campaigns: load batch of %d: %w", campaignID, err)
	}
	if len(pending) == 0 {
		return s.svc.maybeFinish(ctx, campaignID)
	}
	contactIDs := make([]int64, len(pending))
	for i, d := range pending {
		contactIDs[i] = d.ContactID
	}
	cs, err := s.svc.contacts.GetMany(ctx, contactIDs)
	if err != nil {
		return err
	}
	byID := make(map[int64]contacts.Contact, len(cs))
	for _, ct := range cs {
		byID[ct.ID] = ct
	}

	size := s.svc.cfg.ClaimSize
	var temporary, attempted, failed int
	var lastErr string
	for start := 0; start < len(pending); start += size {
		if st, err := s.campaignStatus(ctx, campaignID); err != nil {
			return err
		} else if st != Sending {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := pending[start:min(start+size, len(pending))]
		claimed, err := s.claim(ctx, chunk)
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			continue
		}
		if s.limiter != nil {
			if err := s.limiter.Take(ctx, len(claimed)); err != nil {
				s.release(claimed)
				return err
			}
		}
		outs := make([]outcome, 0, len(claimed))
		for i, d := range claimed {
			if ctx.Err() != nil {
				// Shutting down: these were claimed but never attempted,
				// which this process knows for sure, so they can go back.
				for _, rest := range claimed[i:] {
					outs = append(outs, outcome{id: rest.ID, contact: rest.ContactID, status: Queued})
				}
				break
			}
			o := s.sendOne(ctx, &c, comp, d, byID)
			if o.status != Skipped {
				attempted++
			}
			switch o.status {
			case Queued:
				temporary++
				lastErr = o.err
				if final {
					o.status = Failed
					o.err = "gave up after repeated temporary failures: " + o.err
				}
			case Failed, Bounced:
				failed++
				lastErr = o.err
			}
			outs = append(outs, o)
		}
		if err := s.settle(context.WithoutCancel(ctx), campaignID, outs); err != nil {
			return err
		}
		// A run of failures means something is wrong with the content or
		// the server: pause with the reason instead of burning the list.
		if attempted >= 20 && (failed+temporary)*2 > attempted {
			reason := fmt.Sprintf("paused automatically: %d of the last %d messages failed (last error: %s)", failed+temporary, attempted, lastErr)
			if _, err := s.svc.Pause(ctx, campaignID, reason); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			s.forgetStatus(campaignID)
			return nil
		}
	}
	if temporary > 0 && !final {
		return fmt.Errorf("%w: %d of %d (last: %s)", ErrRetryLater, temporary, len(pending), lastErr)
	}
	return s.svc.maybeFinish(ctx, campaignID)
}

func (s *Sender) forgetStatus(id int64) {
	s.mu.Lock()
	delete(s.status, id)
	s.mu.Unlock()
}

// claim moves deliveries from queued to sending under a fresh claim token
// and returns those this call won (another worker may hold the same batch).
func (s *Sender) claim(ctx context.Context, chunk []Delivery) ([]Delivery, error) {
	ids := make([]int64, len(chunk))
	for i, d := range chunk {
		ids[i] = d.ID
	}
	token := newClaimToken()
	res := s.svc.db.WithContext(ctx).Model(&Delivery{}).
		Where("id IN ? AND status = ?", ids, Queued).
		Updates(map[string]any{"status": InFlight, "claim": token, "claimed_at": s.svc.cfg.Now(), "attempts": gorm.Expr("attempts + 1")})
	if res.Error != nil {
		return nil, fmt.Errorf("campaigns: claim deliveries: %w", res.Error)
	}
	if res.RowsAffected == int64(len(chunk)) {
		return chunk, nil
	}
	if res.RowsAffected == 0 {
		return nil, nil
	}
	var won []int64
	if err := s.svc.db.WithContext(ctx).Model(&Delivery{}).Where("id IN ? AND claim = ?", ids, token).Pluck("id", &won).Error; err != nil {
		return nil, fmt.Errorf("campaigns: read claim: %w", err)
	}
	set := map[int64]bool{}
	for _, id := range won {
		set[id] = true
	}
	out := make([]Delivery, 0, len(won))
	for _, d := range chunk {
		if set[d.ID] {
			out = append(out, d)
		}
	}
	return out, nil
}

// release puts claimed but unattempted deliveries back in the queue.
func (s *Sender) release(ds []Delivery) {
	outs := make([]outcome, len(ds))
	for i, d := range ds {
		outs[i] = outcome{id: d.ID, contact: d.ContactID, status: Queued}
	}
	_ = s.settle(context.Background(), 0, outs)
}

func newClaimToken() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (s *Sender) sendOne(ctx context.Context, c *Campaign, comp *templates.Compiled, d Delivery, byID map[int64]contacts.Contact) outcome {
	o := outcome{id: d.ID, contact: d.ContactID}
	ct, ok := byID[d.ContactID]
	if !ok {
		o.status, o.err = Skipped, "the contact was deleted"
		return o
	}
	if ct.Status != contacts.Subscribed {
		o.status, o.err = Skipped, "the contact is "+string(ct.Status)
		return o
	}
	msg, err := s.svc.buildMessage(ctx, c, comp, ct, d.ID, false)
	if err != nil {
		o.status, o.err = Failed, err.Error()
		return o
	}
	err = s.mailer.Send(ctx, msg)
	if err == nil {
		o.status = Delivered
		return o
	}
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Temporary: true, Msg: err.Error()}
	}
	o.err = truncate(se.Error(), 1000)
	switch {
	case se.Temporary:
		o.status = Queued
	case se.Recipient:
		o.status, o.bounce = Bounced, true
	default:
		o.status = Failed
	}
	return o
}

// buildMessage renders a campaign for a contact. Test sends use the
// original links and carry no unsubscribe header.
func (s *Service) buildMessage(ctx context.Context, c *Campaign, comp *templates.Compiled, ct contacts.Contact, deliveryID int64, test bool) (*Message, error) {
	links := templates.Links{Signer: s.signer, BaseURL: s.cfg.BaseURL, Campaign: c.ID, Contact: ct.ID, Untracked: test}
	d := templates.NewData(ct, comp.Fields(), templates.CampaignInfo{ID: c.ID, Name: c.Name, FromName: c.FromName}, links, s.cfg.Now())
	if !test && ct.ID != 0 {
		d.WithCoupons(s.couponsFor(ctx, ct.ID, c.ID))
	}
	r, err := comp.Render(d)
	if err != nil {
		return nil, err
	}
	m := &Message{
		FromName:   c.FromName,
		FromEmail:  c.FromEmail,
		To:         ct.Email,
		ToName:     d.FullName,
		ReplyTo:    c.ReplyTo,
		Subject:    r.Subject,
		HTML:       r.HTML,
		Text:       r.Text,
		CampaignID: c.ID,
	}
	if test {
		m.Subject = "[Test] " + m.Subject
		m.MessageID = s.MessageID(c.ID, 0) + "." + newClaimToken()
	} else {
		m.MessageID = s.MessageID(c.ID, deliveryID)
		m.ListUnsubscribe = d.UnsubscribeURL
	}
	return m, nil
}

// settle writes the outcomes of a chunk: one UPDATE per outcome kind (and
// per error text), then bounce events for refused recipients.
func (s *Sender) settle(ctx context.Context, campaignID int64, outs []outcome) error {
	now := s.svc.cfg.Now()
	type key struct {
		status DeliveryStatus
		err    string
	}
	groups := map[key][]int64{}
	var bounces []contacts.EventInput
	for _, o := range outs {
		k := key{o.status, o.err}
		groups[k] = append(groups[k], o.id)
		if o.bounce {
			cid := campaignID
			bounces = append(bounces, contacts.EventInput{
				ContactID: o.contact, Type: contacts.EventBounce, CampaignID: &cid,
				Properties: map[string]any{"hard": true, "reason": o.err},
				DedupeKey:  "bounce:" + strconv.FormatInt(o.id, 10),
			})
		}
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].status < keys[j].status })
	for _, k := range keys {
		updates := map[string]any{"status": k.status, "claim": "", "error": k.err}
		if k.status == Delivered {
			updates["sent_at"] = now
		}
		err := s.svc.db.WithContext(ctx).Model(&Delivery{}).
			Where("id IN ? AND status = ?", groups[k], InFlight).Updates(updates).Error
		if err != nil {
			return fmt.Errorf("campaigns: settle deliveries: %w", err)
		}
	}
	if len(bounces) > 0 {
		if _, err := s.svc.contacts.RecordEvents(ctx, bounces); err != nil {
			return fmt.Errorf("campaigns: record bounces: %w", err)
		}
	}
	if s.svc.cfg.OnDelivered != nil {
		var sent []int64
		for _, o := range outs {
			if o.status == Delivered {
				sent = append(sent, o.contact)
			}
		}
		if len(sent) > 0 {
			s.svc.cfg.OnDelivered(ctx, sent)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// TestSend renders the campaign for each address (as the contact with that
// email if there is one, otherwise as a contact with only the email) and
// sends it at once, outside the ledger and the stats.
func (s *Service) TestSend(ctx context.Context, id int64, emails []string, mailer Mailer) error {
	c, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	comp, err := s.compile(ctx, &c)
	if err != nil {
		return err
	}
	if len(emails) == 0 || len(emails) > 20 {
		return errInvalidTestRecipients(len(emails))
	}
	for i, e := range emails {
		norm, err := contacts.NormalizeEmail(e)
		if err != nil {
			return errInvalidEmailAt(i, err)
		}
		ct, err := s.contacts.GetByEmail(ctx, norm)
		if err != nil {
			ct = contacts.Contact{Email: norm, Status: contacts.Subscribed}
		}
		ct.Email = norm
		msg, err := s.buildMessage(ctx, &c, comp, ct, 0, true)
		if err != nil {
			return fmt.Errorf("campaigns: render test message: %w", err)
		}
		if err := mailer.Send(ctx, msg); err != nil {
			return fmt.Errorf("campaigns: test send to address %d: %w", i, err)
		}
	}
	return nil
}

func errInvalidTestRecipients(n int) error {
	return errs.Invalid("emails", "give 1 to 20 addresses, got %d", n)
}

func errInvalidEmailAt(i int, err error) error {
	return errs.Invalid(fmt.Sprintf("emails[%d]", i), "%v", err)
}

// WebView renders the HTML a contact received, with working tracked links.
func (s *Service) WebView(ctx context.Context, campaignID, contactID int64) (string, error) {
	c, err := s.Get(ctx, campaignID)
	if err != nil {
		return "", err
	}
	ct, err := s.contacts.Get(ctx, contactID)
	if err != nil {
		return "", err
	}
	comp, err := s.compile(ctx, &c)
	if err != nil {
		return "", err
	}
	m, err := s.buildMessage(ctx, &c, comp, ct, 0, false)
	if err != nil {
		return "", fmt.Errorf("campaigns: web view: %w", err)
	}
	if m.HTML == "" {
		return "<pre>" + htmlEscape(m.Text) + "</pre>", nil
	}
	return m.HTML, nil
}

func htmlEscape(s string) string { return html.EscapeString(s) }

// couponsFor binds {{coupon}} to a contact and campaign.
func (s *Service) couponsFor(ctx context.Context, contactID, campaignID int64) templates.Coupons {
	return func(pool string) (string, error) { return s.AssignCoupon(ctx, pool, contactID, campaignID) }
}
