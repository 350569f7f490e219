// Package bounces handles reports of bounces and complaints that arrive
// after sending, from provider webhooks and the bounce mailbox: it checks
// that they come from the provider, matches them to the deliveries they are
// about and records them on the contact and the campaign, once each.
package bounces

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
)

// Kind is what a report says happened to a message.
type Kind string

// Kinds of report. A hard bounce and a complaint suppress the address at
// once; soft bounces do after SoftBouncePolicy.Limit of them.
const (
	Hard      Kind = "hard"
	Soft      Kind = "soft"
	Complaint Kind = "complaint"
)

// Sources of reports, stored with each event.
const (
	SourceSES      = "ses"
	SourceSendGrid = "sendgrid"
	SourcePostmark = "postmark"
	SourceMailgun  = "mailgun"
	SourceWebhook  = "webhook"
	SourceMailbox  = "mailbox"
)

// Report is one bounce or complaint about one recipient of one message.
type Report struct {
	Kind  Kind
	Email string
	// MessageID is the original message's Message-ID without <>, may be
	// empty.
	MessageID string
	// DeliveryID is the delivery when the report names it by a VERP
	// address whose MAC verified; 0 otherwise. It is trusted over Email,
	// which a forwarding address can change on the way.
	DeliveryID int64
	Diagnostic string
	// Source is one of the Source constants.
	Source string
	// ProviderID is the provider's own id of the event or feedback, which
	// makes a replayed report count once; may be empty.
	ProviderID string
	OccurredAt time.Time
}

// SoftBouncePolicy says when soft bounces suppress an address: Limit of
// them within Window. A Limit of 0 never suppresses on soft bounces.
type SoftBouncePolicy struct {
	Limit  int
	Window time.Duration
}

// DefaultSoftBouncePolicy is three soft bounces within 30 days.
var DefaultSoftBouncePolicy = SoftBouncePolicy{Limit: 3, Window: 30 * 24 * time.Hour}

// Result counts what became of a request's reports.
type Result struct {
	Received int `json:"received"`
	// Recorded reports are new events on a contact.
	Recorded int `json:"recorded"`
	// Duplicates were recorded before (a replay, or the same bounce
	// reported twice) and changed nothing.
	Duplicates int `json:"duplicates"`
	// Unmatched name no contact Herald has.
	Unmatched int `json:"unmatched"`
	// Suppressed counts the addresses this request put on the suppression
	// list: hard bounces, complaints, and soft bounces that reached the
	// policy's limit.
	Suppressed int `json:"suppressed"`
}

// ErrSignature is wrapped by the errors of requests that do not prove
// they come from the provider (bad or missing signature, credentials,
// stale timestamp).
var ErrSignature = errors.New("bounces: not signed by the provider")

// ErrNotConfigured is returned by a provider's endpoint when its secret
// or key is not configured.
var ErrNotConfigured = errors.New("bounces: this provider is not configured")

// Recorder matches reports to deliveries and contacts and records them.
type Recorder struct {
	db        *gorm.DB
	contacts  *contacts.Store
	campaigns *campaigns.Service
	now       func() time.Time
	policy    SoftBouncePolicy
}

// NewRecorder returns a Recorder. now may be nil (the wall clock).
func NewRecorder(g *gorm.DB, cs *contacts.Store, camps *campaigns.Service, now func() time.Time, policy SoftBouncePolicy) *Recorder {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Recorder{db: g, contacts: cs, campaigns: camps, now: now, policy: policy}
}

// Policy is the soft-bounce policy the Recorder applies.
func (r *Recorder) Policy() SoftBouncePolicy { return r.policy }

// maxDiagnostic bounds the diagnostic kept with an event; SMTP replies
// and DSN diagnostics are a line or two.
const maxDiagnostic = 1000

// DedupePrefix starts the dedupe keys of the events recorded from
// reports. It differs from campaigns.SendBounceKeyPrefix, so the reports
// count these as bounces after the send.
const DedupePrefix = "report:"

// match is where a report landed.
type match struct {
	contactID  int64
	campaignID *int64
	deliveryID int64
}

// Record matches each report to its delivery (DeliveryID, else Herald's
// Message-ID), or failing that to a contact by email (without a
// campaign), and records it: a hard bounce as email.bounce with hard true,
// a soft one with hard false, a complaint as email.complaint. Hard bounces
// and complaints suppress the address (contacts.RecordEvents does); soft
// bounces do once the contact has the policy's limit within its window.
// A report recorded before counts once; one about nobody Herald knows is
// counted as unmatched.
func (r *Recorder) Record(ctx context.Context, reps []Report) (Result, error) {
	res := Result{Received: len(reps)}
	if len(reps) == 0 {
		return res, nil
	}
	now := r.now()
	emails := make([]string, len(reps))
	var deliveryIDs []int64
	msgCampaign := make([]int64, len(reps))
	msgDelivery := make([]int64, len(reps))
	var lookup []string
	for i, rep := range reps {
		if e, err := contacts.NormalizeEmail(rep.Email); err == nil {
			emails[i] = e
			lookup = append(lookup, e)
		}
		d := rep.DeliveryID
		if d <= 0 {
			if c, id, ok := campaigns.ParseMessageID(rep.MessageID); ok {
				msgCampaign[i], d = c, id
			}
		}
		if d > 0 {
			msgDelivery[i] = d
			deliveryIDs = append(deliveryIDs, d)
		}
	}
	refs, err := r.campaigns.DeliveryRefs(ctx, deliveryIDs)
	if err != nil {
		return Result{}, fmt.Errorf("bounces: %w", err)
	}
	byEmail, err := r.contactIDs(ctx, lookup)
	if err != nil {
		return Result{}, err
	}

	var ins []contacts.EventInput
	var kinds []Kind
	for i, rep := range reps {
		m, ok := matchOne(refs[msgDelivery[i]], msgCampaign[i], emails[i], rep.DeliveryID > 0, byEmail)
		if !ok {
			res.Unmatched++
			continue
		}
		ins = append(ins, event(rep, m, emails[i], now))
		kinds = append(kinds, rep.Kind)
	}
	if len(ins) == 0 {
		return res, nil
	}
	out, err := r.contacts.RecordEvents(ctx, ins)
	if err != nil {
		return Result{}, fmt.Errorf("bounces: %w", err)
	}
	softs := map[int64]bool{}
	var softOrder []int64
	for i, o := range out {
		switch {
		case o.Err != nil:
			// Everything a report carries is made storable above; a
			// contact erased between the lookup and the write ends here.
			res.Unmatched++
		case o.Duplicate:
			res.Duplicates++
		default:
			res.Recorded++
			switch kinds[i] {
			case Hard, Complaint:
				res.Suppressed++
			case Soft:
				if !softs[o.ContactID] {
					softs[o.ContactID] = true
					softOrder = append(softOrder, o.ContactID)
				}
			}
		}
	}
	for _, id := range softOrder {
		suppressed, err := r.applySoftPolicy(ctx, id, now)
		if err != nil {
			return Result{}, err
		}
		if suppressed {
			res.Suppressed++
		}
	}
	return res, nil
}

// matchOne places a report: on the delivery its Message-ID or VERP address
// names when that delivery exists and went to the reported address (a
// forged or mistyped id must not bounce someone else), else on the
// contact with the reported address. A verified VERP address cannot be
// forged, so it names its delivery whatever address the report gives
// (a forwarding target, say).
func matchOne(ref campaigns.DeliveryRef, msgCampaign int64, email string, verified bool, byEmail map[string]int64) (match, bool) {
	if ref.ID != 0 && (msgCampaign == 0 || msgCampaign == ref.CampaignID) && (verified || email == "" || strings.EqualFold(email, ref.Email)) {
		cid := ref.CampaignID
		return match{contactID: ref.ContactID, campaignID: &cid, deliveryID: ref.ID}, true
	}
	if id, ok := byEmail[email]; ok && email != "" {
		return match{contactID: id}, true
	}
	return match{}, false
}

// event is the contact event a matched report becomes.
func event(rep Report, m match, email string, now time.Time) contacts.EventInput {
	at := rep.OccurredAt.UTC()
	if at.IsZero() || at.After(now) {
		at = now
	}
	props := map[string]any{"source": clean(rep.Source, 32)}
	if d := clean(rep.Diagnostic, maxDiagnostic); d != "" {
		props["diagnostic"] = d
	}
	typ := contacts.EventComplaint
	if rep.Kind != Complaint {
		typ = contacts.EventBounce
		props["hard"] = rep.Kind == Hard
	}
	return contacts.EventInput{
		ContactID: m.contactID, Type: typ, CampaignID: m.campaignID, OccurredAt: at,
		Properties: props, DedupeKey: dedupeKey(rep, m, email),
	}
}

// dedupeKey makes a report count once. A report about a known delivery is
// keyed by the delivery, so the same bounce reported by a webhook and by
// the mailbox, or replayed, is one event; otherwise by the provider's own
// id, or failing that by what the report says.
func dedupeKey(rep Report, m match, email string) string {
	kind := string(rep.Kind)
	if kind != string(Hard) && kind != string(Soft) {
		kind = string(Complaint)
	}
	if m.deliveryID != 0 {
		return DedupePrefix + kind + ":d" + strconv.FormatInt(m.deliveryID, 10)
	}
	if rep.ProviderID != "" {
		return DedupePrefix + kind + ":" + hashed(rep.Source+"\x00"+rep.ProviderID)
	}
	return DedupePrefix + kind + ":" + hashed(rep.Source+"\x00"+email+"\x00"+rep.MessageID+"\x00"+rep.OccurredAt.UTC().Format(time.RFC3339Nano))
}

func hashed(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// clean makes provider text storable: valid UTF-8 without NUL characters,
// at most max characters.
func clean(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// contactIDs returns the ids of the contacts with those emails (already
// normalised); unknown ones are left out, never created.
func (r *Recorder) contactIDs(ctx context.Context, emails []string) (map[string]int64, error) {
	out := make(map[string]int64, len(emails))
	for start := 0; start < len(emails); start += 500 {
		var rows []contacts.Contact
		if err := r.db.WithContext(ctx).Select("id", "email").Where("email IN ?", emails[start:min(start+500, len(emails))]).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("bounces: find contacts: %w", err)
		}
		for _, c := range rows {
			out[c.Email] = c.ID
		}
	}
	return out, nil
}

// applySoftPolicy marks a subscribed contact bounced once they have the
// policy's limit of soft bounces within its window, and reports whether it
// did. Soft bounces refused at send time count too: the address failed
// either way.
func (r *Recorder) applySoftPolicy(ctx context.Context, contactID int64, now time.Time) (bool, error) {
	if r.policy.Limit <= 0 {
		return false, nil
	}
	var evs []contacts.Event
	err := r.db.WithContext(ctx).Select("id", "properties").
		Where("contact_id = ? AND type = ? AND occurred_at >= ?", contactID, contacts.EventBounce, now.Add(-r.policy.Window)).
		Find(&evs).Error
	if err != nil {
		return false, fmt.Errorf("bounces: soft bounces of %d: %w", contactID, err)
	}
	n := 0
	for _, ev := range evs {
		if hard, _ := ev.Properties["hard"].(bool); !hard {
			n++
		}
	}
	if n < r.policy.Limit {
		return false, nil
	}
	c, err := r.contacts.Get(ctx, contactID)
	if err != nil {
		return false, fmt.Errorf("bounces: %w", err)
	}
	if c.Status != contacts.Subscribed {
		return false, nil
	}
	reason := fmt.Sprintf("%d soft bounces within %s", n, windowText(r.policy.Window))
	changed, err := r.contacts.SetStatusBy(ctx, contactID, contacts.Bounced, "soft bounces", reason)
	if err != nil {
		return false, fmt.Errorf("bounces: %w", err)
	}
	return changed, nil
}

// windowText says a window in days when it is whole days.
func windowText(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}
