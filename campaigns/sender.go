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
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/errs"
	"herald/templates"
)

// Message is one rendered email, ready for a Mailer.
type Message struct {
	FromName  string
	FromEmail string
	// EnvelopeFrom is the envelope sender (MAIL FROM, which becomes the
	// Return-Path) where bounces go: a delivery's VERP address when a
	// return path is configured, FromEmail when empty.
	EnvelopeFrom string
	To           string
	ToName       string
	ReplyTo      string
	Subject      string
	HTML         string
	Text         string
	// MessageID is without angle brackets.
	MessageID string
	// ListUnsubscribe is the https URL for List-Unsubscribe and RFC 8058
	// one-click unsubscription; empty for test sends.
	ListUnsubscribe string
	// CampaignID goes into a header so bounces can be traced back.
	CampaignID int64
	// FeedbackID is the Feedback-ID header's value (see
	// Service.FeedbackID); empty for test sends.
	FeedbackID string
	// Headers are further header fields, written after the standard ones
	// and not DKIM-signed; empty for test sends.
	Headers []Header
	// Commit, when set, must be called by the Mailer at the point of no
	// return: after the server has agreed to take the data and before the
	// end-of-data mark that lets it accept the message. The Sender notes
	// there, durably, that the message may have been accepted. When Commit
	// fails the Mailer must not complete the message, and returns the
	// error (wrapped or not).
	Commit func() error
}

// Header is one extra header field of a Message. Name and Value are
// fixed ASCII that Herald builds, never user text.
type Header struct {
	Name, Value string
}

// PostmarkMetadataHeader carries a message's Message-ID through Postmark,
// which returns X-PM-Metadata-<key> headers in its bounce and spam
// complaint webhooks as Metadata[<key>]: its own payloads name only
// Postmark's message id.
const PostmarkMetadataHeader = "X-PM-Metadata-" + PostmarkMetadataKey

// PostmarkMetadataKey is the Metadata key of PostmarkMetadataHeader.
const PostmarkMetadataKey = "herald-message-id"

// Attempts is where a Sender keeps, outside the database and so at the
// cost of a Redis call rather than a transaction, its record of each
// claim: which deliveries reached the point of no return (see
// Message.Commit) and which the server accepted. When a worker dies, the
// sweep revokes the record and settles the claim from it: accepted ones
// are sent, committed ones are unknown (the one window that cannot be
// closed: the server may have accepted the message and the worker died
// before recording it), and the rest go back to the queue.
type Attempts interface {
	// Open starts the record of a claim, before the claim commits, and
	// drops the records of settled claims, whose deliveries are all
	// settled, in the same round trip.
	Open(ctx context.Context, claim string, settled ...string) error
	// Commit records that delivery id's message is about to be completed
	// and, when accepted is not 0, that delivery accepted's message was
	// accepted. It returns ErrClaimRevoked when the record is revoked or
	// lost: the message must not go out.
	Commit(ctx context.Context, claim string, id, accepted int64) error
	// Close drops the records of claims whose deliveries are settled.
	Close(ctx context.Context, claims ...string) error
	// Revoke refuses further commits on a claim and returns its record;
	// found is false when there is none (it was lost or expired).
	Revoke(ctx context.Context, claim string) (committed, accepted []int64, found bool, err error)
}

// ErrClaimRevoked is returned by Attempts.Commit when the sweep took the
// claim back (or its record was lost).
var ErrClaimRevoked = errors.New("campaigns: the claim was revoked")

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
	// Err is the cause, when there is one beyond the server's reply.
	Err error
}

func (e *SendError) Unwrap() error { return e.Err }

func (e *SendError) Error() string {
	if e.Code > 0 {
		return fmt.Sprintf("smtp %d: %s", e.Code, e.Msg)
	}
	return e.Msg
}

// SequenceMailer is a Mailer that sends a run of messages over one
// connection, writing each message's envelope together with the end of
// the message before it where the server allows (RFC 2920 pipelining):
// one round trip per message instead of two.
//
// SendEach asks next for each message in turn until it returns nil, and
// tells done the outcome of each, what Send would have returned, once per
// message and in the order next gave them. next is called for a message
// only once the Commit of the message before it has succeeded (its data
// may then be completed while the next one is rendered), and done is
// called for a message before the Commit of the one after it.
type SequenceMailer interface {
	Mailer
	SendEach(ctx context.Context, next func() *Message, done func(*Message, error))
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
// A task claims ClaimSize deliveries at a time, sends them one after the
// other, and settles them in the transaction that claims the next
// ClaimSize: one write per ClaimSize messages.
//
// If the process dies after a claim and before its settlement, the
// deliveries of that claim stay "sending" until the sweep, once they are
// older than the worker's StaleAfter, settles them from the claim's
// Attempts record: those the server accepted become sent, those never
// committed go back to the queue, and the one a task was completing when
// it died (at most one per send task, so at most the worker's concurrency
// per process) becomes unknown and is never sent again: the server may or
// may not have accepted it. Without an Attempts record (none configured,
// or Redis lost it) the whole claim becomes unknown. cmd/herald's process
// tests kill workers with SIGKILL and hold the count to this bound.
type Sender struct {
	svc     *Service
	mailer  Mailer
	limiter Limiter
	ledger  *ledger

	mu       sync.Mutex
	compiled map[int64]compiledEntry
	status   map[int64]statusEntry
	// variants holds the compiled content of A/B test variants.
	variants map[variantKey]compiledEntry
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
	return &Sender{svc: svc, mailer: mailer, limiter: limiter, ledger: &ledger{db: svc.db, now: svc.cfg.Now},
		compiled: map[int64]compiledEntry{}, status: map[int64]statusEntry{}, variants: map[variantKey]compiledEntry{}}
}

// SendBounceKeyPrefix starts the dedupe key of the bounce event recorded
// when the receiving server refuses a message at send time, followed by
// the delivery id (see recordOutcomes); reports tell those from later
// bounce reports by it.
const SendBounceKeyPrefix = "bounce:"

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

// ParseMessageID returns the campaign and delivery of a Message-ID that
// MessageID made, with or without its angle brackets. Test sends and
// confirmations carry more after the delivery part and are not
// deliveries, so ok is false for them as for any other Message-ID. The
// domain is not compared: a changed base URL must not orphan the bounces
// of messages sent before it.
func ParseMessageID(mid string) (campaignID, deliveryID int64, ok bool) {
	mid = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(mid), "<"), ">")
	local, _, found := strings.Cut(mid, "@")
	if !found {
		return 0, 0, false
	}
	parts := strings.Split(local, ".")
	if len(parts) != 3 || parts[0] != "herald" {
		return 0, 0, false
	}
	c, err1 := strconv.ParseInt(parts[1], 10, 64)
	d, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || c <= 0 || d <= 0 {
		return 0, 0, false
	}
	return c, d, true
}

// DeliveryRef is who a delivery was for, for matching reports that come
// back after the send (bounces, complaints) to it.
type DeliveryRef struct {
	ID         int64
	CampaignID int64
	ContactID  int64
	Email      string
	Status     DeliveryStatus
}

// DeliveryRefs returns those of ids that are deliveries, by id.
func (s *Service) DeliveryRefs(ctx context.Context, ids []int64) (map[int64]DeliveryRef, error) {
	out := make(map[int64]DeliveryRef, len(ids))
	for start := 0; start < len(ids); start += 500 {
		var rows []DeliveryRef
		err := s.db.WithContext(ctx).Table("deliveries AS d").
			Select("d.id, d.campaign_id, d.contact_id, c.email, d.status").
			Joins("JOIN contacts c ON c.id = d.contact_id").
			Where("d.id IN ?", ids[start:min(start+500, len(ids))]).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("campaigns: deliveries: %w", err)
		}
		for _, r := range rows {
			out[r.ID] = r
		}
	}
	return out, nil
}

type outcome struct {
	id      int64
	contact int64
	status  DeliveryStatus
	err     string
	bounce  bool // a permanent refusal: recorded as an email.bounce event
	hard    bool // the address was refused: the event suppresses it
	// revoked: the claim was taken back before this message could be
	// completed; it was not sent.
	revoked bool
}

// SendBatch sends the queued deliveries among ids. final tells that the
// queue will not retry this batch again, so temporary failures become
// failures instead of going back to the queue.
//
// The deliveries go in chunks of ClaimSize: one transaction settles the
// previous chunk's outcomes and claims the next (queued to sending), so a
// message is only ever sent from a claim this call holds; see batch.
func (s *Sender) SendBatch(ctx context.Context, campaignID int64, ids []int64, final bool) error {
	b := &batch{s: s, ctx: ctx, campaignID: campaignID, final: final, attempts: s.svc.cfg.Attempts}
	if done, err := b.load(ids); done {
		return err
	}
	size := s.svc.cfg.ClaimSize
	for start := 0; start < len(b.pending); start += size {
		if stop, err := b.sendChunk(b.pending[start:min(start+size, len(b.pending))]); stop {
			return err
		}
	}
	if err := b.finish(nil); err != nil {
		return err
	}
	if b.temporary > 0 && !final {
		return fmt.Errorf("%w: %d of %d (last: %s)", ErrRetryLater, b.temporary, len(b.pending), b.lastErr)
	}
	return s.svc.maybeFinish(ctx, campaignID)
}

// batch is one SendBatch call: the campaign and its compiled content, the
// queued deliveries it was given, and the outcomes attempted but not yet
// written to the ledger. Every way out after load goes through finish,
// which writes what is unsettled, so no claim outlives the call.
type batch struct {
	s          *Sender
	ctx        context.Context
	campaignID int64
	final      bool
	attempts   Attempts

	c       Campaign
	comp    *templates.Compiled
	pending []Delivery
	byID    map[int64]contacts.Contact

	temporary, attempted, failed int
	lastErr                      string
	outs                         []outcome // attempted (or given back) and not yet settled
	outsToken                    string    // the claim outs belong to
	// closable are claims settled since the last Open, whose records the
	// next Open (or finish) drops.
	closable  []string
	delivered []int64 // contacts sent to, for OnDelivered
}

// load reads the campaign, its content, the queued deliveries among ids
// and their contacts. done tells SendBatch to return err at once: the
// campaign is not sending, its content no longer compiles (it is paused
// with the reason), or nothing is left to send.
func (b *batch) load(ids []int64) (done bool, err error) {
	s, ctx := b.s, b.ctx
	st, err := s.campaignStatus(ctx, b.campaignID)
	if err != nil {
		return true, err
	}
	if st != CampaignSending {
		return true, nil // paused or cancelled: the deliveries wait (or were skipped)
	}
	if b.c, err = s.svc.Get(ctx, b.campaignID); err != nil {
		return true, err
	}
	if b.comp, err = s.compile(ctx, &b.c); err != nil {
		// Content that no longer compiles (a custom field was deleted)
		// would fail every message: stop and say why.
		_, perr := s.svc.Pause(ctx, b.campaignID, "paused automatically: "+err.Error())
		return true, perr
	}
	if b.pending, err = s.loadQueued(ctx, b.campaignID, ids); err != nil {
		return true, err
	}
	if len(b.pending) == 0 {
		return true, s.svc.maybeFinish(ctx, b.campaignID)
	}
	if b.byID, err = s.loadContacts(ctx, b.pending); err != nil {
		return true, err
	}
	// The suppression list has the last word, whatever a row says: such
	// contacts are skipped with the list's reason as their status.
	if err := s.svc.contacts.ApplySuppressions(ctx, b.byID); err != nil {
		return true, err
	}
	return false, nil
}

// settle writes outs (and claims chunk under token, when given); the
// record of the claim outs came from is then no longer needed, and the
// next Open drops it. The sweep reads only the records of claims with
// deliveries in flight, so keeping it that long changes nothing, and
// saves a round trip per claim.
func (b *batch) settle(ctx context.Context, chunk []Delivery, token string) ([]Delivery, error) {
	claimed, err := b.s.commit(ctx, b.campaignID, b.outs, chunk, token, &b.delivered)
	if err == nil && b.outsToken != "" && b.attempts != nil {
		b.closable = append(b.closable, b.outsToken)
	}
	b.outs, b.outsToken = b.outs[:0], ""
	return claimed, err
}

func (b *batch) unsettled() bool { return len(b.outs) > 0 || b.outsToken != "" }

// finish settles what is still unsettled and reports the contacts sent
// to; every way out of the send goes through it once.
func (b *batch) finish(err error) error {
	if b.unsettled() {
		if _, serr := b.settle(context.WithoutCancel(b.ctx), nil, ""); serr != nil && err == nil {
			err = serr
		}
	}
	if len(b.closable) > 0 {
		// A record left behind only costs memory until it expires.
		_ = b.attempts.Close(context.WithoutCancel(b.ctx), b.closable...)
		b.closable = nil
	}
	if len(b.delivered) > 0 && b.s.svc.cfg.OnDelivered != nil {
		b.s.svc.cfg.OnDelivered(context.WithoutCancel(b.ctx), b.delivered)
	}
	return err
}

// sending tells whether the campaign is still sending (not paused or
// cancelled since).
func (b *batch) sending() (bool, error) {
	st, err := b.s.campaignStatus(b.ctx, b.campaignID)
	return st == CampaignSending, err
}

// sendChunk claims and sends one chunk. stop tells SendBatch to return
// err: the campaign stopped sending, the context ended, a write failed,
// or too many messages failed and the campaign was paused.
func (b *batch) sendChunk(chunk []Delivery) (stop bool, err error) {
	if ok, err := b.sending(); err != nil || !ok {
		return true, b.finish(err)
	}
	if err := b.ctx.Err(); err != nil {
		return true, b.finish(err)
	}
	if stop, err := b.throttle(len(chunk)); stop {
		return true, err
	}
	token := newClaimToken()
	if b.attempts != nil {
		if err := b.attempts.Open(b.ctx, token, b.closable...); err != nil {
			return true, b.finish(fmt.Errorf("campaigns: claim: %w", err))
		}
		b.closable = b.closable[:0]
	}
	// One transaction settles the previous chunk and claims this one.
	claimed, err := b.settle(b.ctx, chunk, token)
	if err != nil {
		return true, b.finish(err)
	}
	b.outsToken = token
	if len(claimed) == 0 {
		return false, nil
	}
	b.sendClaimed(claimed, token)
	// A run of failures means something is wrong with the content, the
	// list or the server: pause with the reason instead of burning the
	// list. Temporary failures go back to the queue and do not count
	// until the queue gives up on them.
	if b.attempted >= 20 && b.failed*2 > b.attempted {
		return true, b.pauseForFailures()
	}
	return false, nil
}

// throttle waits for the rate limit with nothing claimed or unsettled: a
// claim held through a long wait would widen the window of doubt, and
// could outlive the sweep's StaleAfter.
func (b *batch) throttle(n int) (stop bool, err error) {
	if b.s.limiter == nil {
		return false, nil
	}
	if b.unsettled() {
		if _, err := b.settle(b.ctx, nil, ""); err != nil {
			return true, b.finish(err)
		}
	}
	if err := b.s.limiter.Take(b.ctx, n); err != nil {
		return true, b.finish(err)
	}
	// The wait may have been long: a pause or cancel in the meantime must
	// still take effect within statusCheckEvery.
	if ok, err := b.sending(); err != nil || !ok {
		return true, b.finish(err)
	}
	return false, nil
}

// sendClaimed sends the claimed deliveries one by one, recording each
// outcome. The Attempts record learns, just before each message's end of
// data, which delivery is being completed and which the server accepted
// last. A SequenceMailer gets them as one run, so that each message's
// envelope can travel with the end of the one before.
func (b *batch) sendClaimed(claimed []Delivery, token string) {
	// current is the delivery being sent; accepted the last one the server
	// accepted that the record does not show yet.
	var current, accepted int64
	var commit func() error
	if b.attempts != nil {
		commit = func() error {
			err := b.attempts.Commit(b.ctx, token, current, accepted)
			if err == nil {
				accepted = 0
			}
			return err
		}
	}
	i := 0 // the next of claimed to look at
	// next returns the message of the next claimed delivery that has one,
	// recording the outcome of those that need no message (skipped, or
	// content that fails), or nil when none is left or the send stops.
	next := func() (*Message, Delivery) {
		for i < len(claimed) {
			d := claimed[i]
			if b.ctx.Err() != nil {
				b.giveBack(claimed[i:])
				i = len(claimed)
				return nil, Delivery{}
			}
			i++
			current = d.ID
			c, comp, err := b.content(d.Variant)
			if err != nil {
				// The variant's content stopped compiling since the send
				// began: this message fails with the reason, as a template
				// fault would.
				b.record(outcome{id: d.ID, contact: d.ContactID, status: DeliveryFailed, err: clip(err.Error(), 1000)})
				continue
			}
			msg, o := b.s.prepare(b.ctx, c, comp, d, b.byID)
			if msg == nil {
				b.record(o)
				continue
			}
			msg.Commit = commit
			return msg, d
		}
		return nil, Delivery{}
	}
	// sent records how d's message went.
	sent := func(d Delivery, err error) {
		o := sendOutcome(d, err)
		if o.revoked {
			// The claim was taken back: the rest go back unattempted.
			b.temporary++
			b.outs = append(b.outs, o)
			b.giveBack(claimed[i:])
			i = len(claimed)
			return
		}
		if o.status == DeliverySent {
			accepted = d.ID
		}
		b.record(o)
	}
	if sm, ok := b.s.mailer.(SequenceMailer); ok {
		var inflight []Delivery // handed to the mailer, outcome not yet known
		sm.SendEach(b.ctx, func() *Message {
			msg, d := next()
			if msg != nil {
				inflight = append(inflight, d)
			}
			return msg
		}, func(_ *Message, err error) {
			d := inflight[0]
			inflight = inflight[1:]
			sent(d, err)
		})
		return
	}
	for {
		msg, d := next()
		if msg == nil {
			return
		}
		sent(d, b.s.mailer.Send(b.ctx, msg))
	}
}

// giveBack returns claimed deliveries that were never attempted to the
// queue: this process knows for sure they were not sent.
func (b *batch) giveBack(rest []Delivery) {
	for _, d := range rest {
		b.outs = append(b.outs, outcome{id: d.ID, contact: d.ContactID, status: DeliveryQueued})
	}
}

// record counts an attempted message's outcome and keeps it to settle.
func (b *batch) record(o outcome) {
	if o.status != DeliverySkipped {
		b.attempted++
	}
	switch o.status {
	case DeliveryQueued:
		b.temporary++
		b.lastErr = o.err
		if b.final {
			o.status = DeliveryFailed
			o.err = "gave up after repeated temporary failures: " + o.err
			b.failed++
		}
	case DeliveryFailed, DeliveryBounced:
		b.failed++
		b.lastErr = o.err
	}
	b.outs = append(b.outs, o)
}

// pauseForFailures settles and pauses the campaign with the reason.
func (b *batch) pauseForFailures() error {
	if err := b.finish(nil); err != nil {
		return err
	}
	reason := fmt.Sprintf("paused automatically: %d of the last %d messages failed (last error: %s)", b.failed, b.attempted, b.lastErr)
	if _, err := b.s.svc.Pause(b.ctx, b.campaignID, reason); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	b.s.forgetStatus(b.campaignID)
	return nil
}

func (s *Sender) forgetStatus(id int64) {
	s.mu.Lock()
	delete(s.status, id)
	s.mu.Unlock()
}

// denseRange reports the smallest and largest of ids and whether they are
// close enough together that reading the whole range and filtering is
// cheaper than binding every id: the pure-Go SQLite driver binds
// arguments in quadratic time, and a launch page's ids are consecutive.
func denseRange(ids []int64) (lo, hi int64, dense bool) {
	lo, hi = ids[0], ids[0]
	for _, id := range ids[1:] {
		lo, hi = min(lo, id), max(hi, id)
	}
	return lo, hi, hi-lo < int64(4*len(ids))
}

// loadQueued returns the deliveries among ids that are still queued, in id
// order.
func (s *Sender) loadQueued(ctx context.Context, campaignID int64, ids []int64) ([]Delivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// The ids select the rows; "+ 0" and COALESCE keep both planners off
	// the (campaign_id, ...) indexes, which would walk every delivery of
	// the campaign (see ledger.apply).
	q := s.svc.db.WithContext(ctx).Select("id", "contact_id", "variant").Where("campaign_id + 0 = ? AND COALESCE(status, '') = ?", campaignID, DeliveryQueued)
	lo, hi, dense := denseRange(ids)
	if dense {
		q = q.Where("id BETWEEN ? AND ?", lo, hi)
	} else {
		q = q.Where("id IN ?", ids)
	}
	var ds []Delivery
	if err := q.Order("id").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("campaigns: load batch of %d: %w", campaignID, err)
	}
	if !dense {
		return ds, nil
	}
	want := make(map[int64]struct{}, len(ids))
	for _, id := range ids {
		want[id] = struct{}{}
	}
	out := ds[:0]
	for _, d := range ds {
		if _, ok := want[d.ID]; ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// loadContacts reads the contacts of the deliveries.
func (s *Sender) loadContacts(ctx context.Context, ds []Delivery) (map[int64]contacts.Contact, error) {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ContactID
	}
	lo, hi, dense := denseRange(ids)
	if !dense {
		cs, err := s.svc.contacts.GetMany(ctx, ids)
		if err != nil {
			return nil, err
		}
		byID := make(map[int64]contacts.Contact, len(cs))
		for _, c := range cs {
			byID[c.ID] = c
		}
		return byID, nil
	}
	var cs []contacts.Contact
	if err := s.svc.db.WithContext(ctx).Where("id BETWEEN ? AND ?", lo, hi).Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("campaigns: load contacts: %w", err)
	}
	want := make(map[int64]struct{}, len(ids))
	for _, id := range ids {
		want[id] = struct{}{}
	}
	byID := make(map[int64]contacts.Contact, len(ids))
	for _, c := range cs {
		if _, ok := want[c.ID]; ok {
			byID[c.ID] = c
		}
	}
	return byID, nil
}

// commit settles outs and claims chunk (queued -> sending under a fresh
// claim token) in one transaction, shared with other tasks' writes (see
// ledger), and returns the deliveries of chunk this call won: another
// worker may hold the same batch. Either part may be empty. If the claim
// fails, the settlement is tried alone, so that what was sent stays
// recorded. The contacts of settled deliveries that were sent are added
// to delivered.
func (s *Sender) commit(ctx context.Context, campaignID int64, outs []outcome, chunk []Delivery, token string, delivered *[]int64) ([]Delivery, error) {
	won, settled, err := s.ledger.write(outs, chunk, token)
	if err != nil {
		err = fmt.Errorf("campaigns: claim and settle deliveries: %w", err)
	}
	if settled {
		if berr := s.recordOutcomes(ctx, campaignID, outs, delivered); err == nil {
			err = berr
		}
	}
	if err != nil {
		return nil, err
	}
	if len(won) == len(chunk) {
		return chunk, nil
	}
	out := make([]Delivery, 0, len(won))
	for _, d := range chunk {
		if len(won) > 0 && won[0] == d.ID {
			out = append(out, d)
			won = won[1:]
		}
	}
	return out, nil
}

func newClaimToken() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// prepare renders d's message; when there is none to send (the contact
// is gone or unsubscribed, or rendering failed) it returns nil and the
// outcome.
func (s *Sender) prepare(ctx context.Context, c *Campaign, comp *templates.Compiled, d Delivery, byID map[int64]contacts.Contact) (*Message, outcome) {
	o := outcome{id: d.ID, contact: d.ContactID}
	ct, ok := byID[d.ContactID]
	if !ok {
		o.status, o.err = DeliverySkipped, "the contact was deleted"
		return nil, o
	}
	if ct.Status != contacts.Subscribed {
		o.status, o.err = DeliverySkipped, "the contact is "+string(ct.Status)
		return nil, o
	}
	msg, err := s.svc.buildMessage(ctx, c, comp, ct, d.ID, false)
	if err != nil {
		o.status, o.err = DeliveryFailed, clip(err.Error(), 1000)
		// A coupon source that did not answer (the database) fails this
		// attempt only; an empty pool or a template fault fails the
		// message, with the reason.
		var ce *templates.CouponError
		if errors.As(err, &ce) && !errors.Is(err, ErrPoolEmpty) {
			o.status = DeliveryQueued
		}
		return nil, o
	}
	return msg, o
}

// sendOutcome is the outcome of d's message that the Mailer answered err.
func sendOutcome(d Delivery, err error) outcome {
	o := outcome{id: d.ID, contact: d.ContactID}
	if err == nil {
		o.status = DeliverySent
		return o
	}
	if errors.Is(err, ErrClaimRevoked) {
		o.status, o.err, o.revoked = DeliveryQueued, "", true
		return o
	}
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Temporary: true, Msg: err.Error()}
	}
	o.err = clip(se.Error(), 1000)
	switch {
	case se.Temporary:
		o.status = DeliveryQueued
	case se.hard():
		o.status, o.bounce, o.hard = DeliveryBounced, true, true
	case se.Code >= 500:
		// Refused for good, but not the address (a policy or content
		// refusal): the event is recorded, the contact stays subscribed.
		o.status, o.bounce = DeliveryFailed, true
	default:
		o.status = DeliveryFailed
	}
	return o
}

// hard tells a refusal of the address itself: a 5xx at RCPT, or a 5xx
// whose enhanced status code (RFC 3463) is an addressing one (5.1.x),
// which servers that accept every recipient give at the end of DATA.
func (e *SendError) hard() bool {
	if e.Temporary || e.Code < 500 {
		return false
	}
	return e.Recipient || strings.HasPrefix(e.Msg, "5.1.")
}

// buildMessage renders a campaign for a contact. Test sends use the
// original links and carry no unsubscribe header.
func (s *Service) buildMessage(ctx context.Context, c *Campaign, comp *templates.Compiled, ct contacts.Contact, deliveryID int64, test bool) (*Message, error) {
	links := templates.Links{Signer: s.signer, BaseURL: s.cfg.BaseURL, Campaign: c.ID, Contact: ct.ID, Untracked: test, LinkBase: c.linkBase}
	d := templates.NewData(ct, comp.Fields(), templates.CampaignInfo{ID: c.ID, Name: c.Name, FromName: c.FromName, Currency: s.contacts.Currency()}, links, s.cfg.Now())
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
		m.FeedbackID = s.FeedbackID(c)
		if s.cfg.PostmarkMetadata {
			m.Headers = []Header{{Name: PostmarkMetadataHeader, Value: m.MessageID}}
		}
	}
	if rp := s.cfg.ReturnPath; rp != nil {
		// A test send has no delivery for a bounce to name: its bounces
		// reach the mailbox on the plain address and match nothing.
		m.EnvelopeFrom = rp.Plain()
		if !test && deliveryID != 0 {
			m.EnvelopeFrom = rp.Address(deliveryID)
		}
	}
	return m, nil
}

// settleGroup is the outcomes of a chunk that one UPDATE settles: those
// of one status and error text.
type settleGroup struct {
	status DeliveryStatus
	err    string
	ids    []int64
}

// settleGroups groups outs by status and error text, in a fixed order,
// which keeps concurrent settlements from locking rows in opposite orders
// on PostgreSQL.
func settleGroups(outs []outcome) []settleGroup {
	type key struct {
		status DeliveryStatus
		err    string
	}
	at := map[key]int{}
	var gs []settleGroup
	for _, o := range outs {
		k := key{o.status, o.err}
		i, ok := at[k]
		if !ok {
			i = len(gs)
			at[k] = i
			gs = append(gs, settleGroup{status: o.status, err: o.err})
		}
		gs[i].ids = append(gs[i].ids, o.id)
	}
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].status != gs[j].status {
			return gs[i].status < gs[j].status
		}
		return gs[i].err < gs[j].err
	})
	return gs
}

// sentAt is the sent_at a settlement writes: now for sent deliveries,
// unchanged (NULL, which COALESCE skips) for the others.
func (g settleGroup) sentAt(now time.Time) any {
	if g.status == DeliverySent {
		return now
	}
	return nil
}

// settleSQL settles one group. COALESCE keeps the planner on the primary
// key (see ledger.apply).
const settleSQL = `UPDATE deliveries SET status = ?, claim = '', error = ?, sent_at = COALESCE(?, sent_at)
			WHERE id IN ? AND COALESCE(status, '') = ?`

// settleIn writes the outcomes of a chunk inside tx: one UPDATE per
// outcome kind and error text (a single one when all went well).
func settleIn(tx *gorm.DB, outs []outcome, now time.Time) error {
	for _, g := range settleGroups(outs) {
		if err := tx.Exec(settleSQL, g.status, g.err, g.sentAt(now), g.ids, DeliverySending).Error; err != nil {
			return err
		}
	}
	return nil
}

// recordOutcomes records bounce events for refused recipients (which
// suppresses them) and adds the contacts sent to to delivered.
func (s *Sender) recordOutcomes(ctx context.Context, campaignID int64, outs []outcome, delivered *[]int64) error {
	var bounces []contacts.EventInput
	for _, o := range outs {
		if o.status == DeliverySent && delivered != nil {
			*delivered = append(*delivered, o.contact)
		}
		if o.bounce {
			cid := campaignID
			bounces = append(bounces, contacts.EventInput{
				ContactID: o.contact, Type: contacts.EventBounce, CampaignID: &cid,
				Properties: map[string]any{"hard": o.hard, "reason": o.err},
				DedupeKey:  SendBounceKeyPrefix + strconv.FormatInt(o.id, 10),
			})
		}
	}
	if len(bounces) > 0 {
		if _, err := s.svc.contacts.RecordEvents(ctx, bounces); err != nil {
			return fmt.Errorf("campaigns: record bounces: %w", err)
		}
	}
	return nil
}

// TestSend renders the campaign for each address (as the contact with that
// email if there is one, otherwise as a contact with only the email) and
// sends it at once, outside the ledger and the stats.
func (s *Service) TestSend(ctx context.Context, id int64, emails []string, mailer Mailer) error {
	return s.TestSendVariant(ctx, id, emails, mailer, 0)
}

// TestSendVariant is TestSend of A/B test variant (1 for A, ...; 0 is the
// campaign's own content).
func (s *Service) TestSendVariant(ctx context.Context, id int64, emails []string, mailer Mailer, variant int) error {
	c, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if c, err = pickVariant(c, variant); err != nil {
		return err
	}
	comp, err := s.compile(ctx, &c)
	if err != nil {
		return err
	}
	if len(emails) == 0 || len(emails) > 20 {
		return errInvalidTestRecipients(len(emails))
	}
	// Every address is checked before any message goes: a typo in the
	// last one must not leave the first ones sent and the request failed.
	norms := make([]string, len(emails))
	for i, e := range emails {
		norm, err := contacts.NormalizeEmail(e)
		if err != nil {
			return errInvalidEmailAt(i, err)
		}
		norms[i] = norm
	}
	for i, norm := range norms {
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
	key := c.ID
	if c.ABTest != nil {
		// The variant this contact was sent (or is to be sent).
		n, err := s.contentVariantOf(ctx, &c, contactID)
		if err != nil {
			return "", err
		}
		c, key = variantCampaign(c, n), variantViewKey(c.ID, n)
	}
	// Anyone holding a recipient's link can ask for this page: compiling
	// per request would let them spend the server's CPU.
	comp, err := s.views.getKey(ctx, key, &c, s.compile)
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

// clip shortens s to n runes for a column of that size.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
