package campaigns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
	"herald/segments"
	"herald/templates"
	"herald/tracking"
)

// Queue is where the service hands work to workers. Implementations must
// make enqueueing the same launch or batch twice harmless.
type Queue interface {
	// EnqueueLaunch asks for the campaign to be launched at (or now, if
	// at is zero or past).
	EnqueueLaunch(ctx context.Context, campaignID int64, at time.Time) error
	// EnqueueSend asks for a batch of deliveries to be sent.
	EnqueueSend(ctx context.Context, campaignID int64, batch int, deliveryIDs []int64) error
}

// Config is what the service needs to know about the installation.
type Config struct {
	BaseURL string // public URL of tracking links, without trailing slash
	// MessageIDDomain is the right-hand side of Message-IDs.
	MessageIDDomain string
	// ReturnPath, when set, gives each delivery's message a VERP envelope
	// sender, so a bounce names its delivery (HERALD_RETURN_PATH).
	ReturnPath *tracking.ReturnPath
	// FeedbackIDSender is the third field of the Feedback-ID header (see
	// FeedbackID); empty means each campaign's sender domain.
	FeedbackIDSender string
	// PostmarkMetadata adds PostmarkMetadataHeader to sent messages, so
	// Postmark's bounce and complaint webhooks name the delivery; set
	// when those webhooks are configured.
	PostmarkMetadata bool
	// LaunchPage is the number of contacts per launch page and per send
	// task (a few hundred: queue overhead is paid per batch).
	LaunchPage int
	// ClaimSize is how many deliveries a sender claims at once: one
	// database write per ClaimSize messages. A crash leaves at most this
	// many per task in doubt when there is no Attempts record, and at most
	// one per task when there is (see Sender).
	ClaimSize int
	// Attempts, when set, keeps the record of each claim that lets the
	// sweep settle a dead worker's claims (see Sender).
	Attempts Attempts
	// OnDelivered, when set, is told which contacts were just sent a
	// campaign, so engagement segments ("opened none of the last 5") can
	// follow. It runs after the ledger commits.
	OnDelivered func(ctx context.Context, contactIDs []int64)
	// Cap is the frequency cap the launch applies (and automations ask).
	Cap CapConfig
	Now func() time.Time
	Log *slog.Logger

	// Zone is the installation's time zone: local-time sends use it for
	// contacts without a valid one of their own (UTC if nil).
	Zone *time.Location
}

// Service manages campaigns.
type Service struct {
	db       *gorm.DB
	contacts *contacts.Store
	segments *segments.Service
	queue    Queue
	signer   *tracking.Signer
	cfg      Config
	// views holds the compiled templates of the public web view.
	views *compiledCache
}

// NewService wires a Service.
func NewService(g *gorm.DB, cs *contacts.Store, ss *segments.Service, q Queue, signer *tracking.Signer, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = db.Now
	}
	if cfg.LaunchPage <= 0 {
		cfg.LaunchPage = 500
	}
	if cfg.ClaimSize <= 0 {
		cfg.ClaimSize = 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MessageIDDomain == "" {
		cfg.MessageIDDomain = "herald.local"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Service{db: g, contacts: cs, segments: ss, queue: q, signer: signer, cfg: cfg, views: newCompiledCache(viewCacheSize)}
}

// Input is what a client sets on a campaign.
type Input struct {
	Name              *string  `json:"name"`
	Subject           *string  `json:"subject"`
	HTMLBody          *string  `json:"html_body"`
	TextBody          *string  `json:"text_body"`
	FromName          *string  `json:"from_name"`
	FromEmail         *string  `json:"from_email"`
	ReplyTo           *string  `json:"reply_to"`
	SegmentIDs        *[]int64 `json:"segment_ids"`
	ExcludeSegmentIDs *[]int64 `json:"exclude_segment_ids"`
	// IgnoreFrequencyCap sends to contacts the frequency cap would hold.
	IgnoreFrequencyCap *bool `json:"ignore_frequency_cap"`
	// Template names a starter (templates.Starters) whose subject and HTML
	// fill in what the input leaves out.
	Template *string `json:"template"`
	// ABTest sets the campaign's A/B test; one with no variants removes it.
	ABTest *ABTest `json:"ab_test"`
}

func (s *Service) fieldNames(ctx context.Context) ([]string, error) {
	fs, err := s.contacts.Fields(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(fs))
	for n := range fs {
		names = append(names, n)
	}
	return names, nil
}

// compile checks a campaign's content; a template error becomes an
// InvalidError whose path names the part, line and column.
func (s *Service) compile(ctx context.Context, c *Campaign) (*templates.Compiled, error) {
	names, err := s.fieldNames(ctx)
	if err != nil {
		return nil, err
	}
	comp, err := templates.Compile(templates.Content{Subject: c.Subject, HTML: c.HTMLBody, Text: c.TextBody}, names)
	var te *templates.Error
	if errors.As(err, &te) {
		field := map[string]string{"subject": "subject", "html": "html_body", "text": "text_body"}[te.Part]
		if te.Line > 0 {
			return nil, errs.Invalid(field, "line %d, column %d: %s", te.Line, te.Col, te.Msg)
		}
		return nil, errs.Invalid(field, "%s", te.Msg)
	}
	return comp, err
}

func (s *Service) apply(ctx context.Context, c *Campaign, in Input) error {
	if in.Template != nil {
		st, ok := templates.StarterByKey(*in.Template)
		if !ok {
			return errs.Invalid("template", "no starter template is called %q (see GET /api/templates)", *in.Template)
		}
		if in.Subject == nil {
			in.Subject = &st.Subject
		}
		if in.HTMLBody == nil {
			in.HTMLBody = &st.HTML
		}
		if in.Name == nil && c.Name == "" {
			in.Name = &st.Name
		}
	}
	text := func(name string, dst *string, v *string, max int, required bool) error {
		if v == nil {
			return nil
		}
		val := strings.TrimSpace(*v)
		if required && val == "" {
			return errs.Invalid(name, "is required")
		}
		if utf8.RuneCountInString(val) > max {
			return errs.Invalid(name, "is longer than %d characters", max)
		}
		*dst = val
		return nil
	}
	if err := text("name", &c.Name, in.Name, 200, true); err != nil {
		return err
	}
	// A display name given with the address ("Shop <news@shop.example>")
	// becomes from_name unless from_name is set in the same request.
	fromName := in.FromName
	if in.FromEmail != nil {
		addr, name, err := parseAddress("from_email", *in.FromEmail, true)
		if err != nil {
			return err
		}
		if name != "" {
			if fromName != nil && strings.TrimSpace(*fromName) != "" && strings.TrimSpace(*fromName) != name {
				return errs.Invalid("from_email", "carries the display name %q while from_name is %q: give the name in from_name only", name, strings.TrimSpace(*fromName))
			}
			fromName = &name
		}
		c.FromEmail = addr
	}
	if fromName != nil {
		if err := headerText("from_name", *fromName); err != nil {
			return err
		}
	}
	if err := text("from_name", &c.FromName, fromName, 200, false); err != nil {
		return err
	}
	if in.ReplyTo != nil {
		addr, name, err := parseAddress("reply_to", *in.ReplyTo, false)
		if err != nil {
			return err
		}
		if name != "" {
			return errs.Invalid("reply_to", "give the address only, without the display name %q", name)
		}
		c.ReplyTo = addr
	}
	if in.IgnoreFrequencyCap != nil {
		c.IgnoreFrequencyCap = *in.IgnoreFrequencyCap
	}
	if in.Subject != nil {
		c.Subject = *in.Subject
	}
	if in.HTMLBody != nil {
		c.HTMLBody = *in.HTMLBody
	}
	if in.TextBody != nil {
		c.TextBody = *in.TextBody
	}
	for _, f := range []struct {
		name string
		dst  *db.IDs
		v    *[]int64
	}{{"segment_ids", &c.SegmentIDs, in.SegmentIDs}, {"exclude_segment_ids", &c.ExcludeSegmentIDs, in.ExcludeSegmentIDs}} {
		if f.v == nil {
			continue
		}
		seen := map[int64]bool{}
		ids := db.IDs{}
		for i, id := range *f.v {
			if _, err := s.segments.Get(ctx, id); err != nil {
				if errors.Is(err, errs.ErrNotFound) {
					return errs.Invalid(fmt.Sprintf("%s[%d]", f.name, i), "no segment has the id %d", id)
				}
				return err
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		*f.dst = ids
	}
	if c.FromEmail == "" {
		return errs.Invalid("from_email", "is required")
	}
	if err := s.applyABTest(ctx, c, in.ABTest); err != nil {
		return err
	}
	if _, err := s.compile(ctx, c); err != nil {
		return err
	}
	_, err := s.compileVariants(ctx, c)
	return err
}

// headerText refuses what would break out of a header line: a CR or LF
// would start a header of the sender's choosing, a NUL is not allowed in
// a message at all.
func headerText(field, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return errs.Invalid(field, "must be a single line: line breaks cannot go into an email header")
	}
	return nil
}

// parseAddress reads a mailbox ("x@example.com", "<x@example.com>" or
// "Name <x@example.com>") and returns the bare address, lower-cased in its
// domain only (the local part may be case-sensitive), and the display name.
// Only the bare address is stored, so the From: header Herald writes is
// always well formed.
func parseAddress(field, v string, required bool) (addr, name string, err error) {
	if err := headerText(field, v); err != nil {
		return "", "", err
	}
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			return "", "", errs.Invalid(field, "is required")
		}
		return "", "", nil
	}
	a, perr := mail.ParseAddress(v)
	if perr != nil {
		return "", "", errs.Invalid(field, "%q is not an email address", v)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return "", "", errs.Invalid(field, "%q is not an email address", v)
	}
	domain := strings.ToLower(a.Address[at+1:])
	if strings.ContainsAny(a.Address, " \t\"\\") || strings.HasPrefix(domain, "[") {
		return "", "", errs.Invalid(field, "%q is not an address Herald can send from: use a plain address such as news@example.com", v)
	}
	addr = a.Address[:at+1] + domain
	if len(addr) > 254 {
		return "", "", errs.Invalid(field, "is longer than 254 characters")
	}
	return addr, strings.TrimSpace(a.Name), nil
}

// Create stores a draft campaign.
func (s *Service) Create(ctx context.Context, in Input) (Campaign, error) {
	if in.Name == nil && in.Template == nil {
		return Campaign{}, errs.Invalid("name", "is required")
	}
	if in.Subject == nil && in.Template == nil {
		return Campaign{}, errs.Invalid("subject", "is required")
	}
	c := Campaign{Kind: KindCampaign, Status: CampaignDraft, SegmentIDs: db.IDs{}, ExcludeSegmentIDs: db.IDs{}}
	if err := s.apply(ctx, &c, in); err != nil {
		return Campaign{}, err
	}
	if err := s.db.WithContext(ctx).Create(&c).Error; err != nil {
		return Campaign{}, fmt.Errorf("campaigns: create: %w", err)
	}
	return c, nil
}

// Update changes a campaign that has not started sending.
func (s *Service) Update(ctx context.Context, id int64, in Input) (Campaign, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Campaign{}, err
	}
	if c.Kind == KindAutomation {
		return Campaign{}, errs.Conflict("campaign %d is a step of an automation; edit the automation", id)
	}
	if c.Status != CampaignDraft && c.Status != CampaignScheduled {
		return Campaign{}, errs.Conflict("campaign %d is %s; only draft and scheduled campaigns can be edited", id, c.Status)
	}
	if c.ResendOf != nil && in.SegmentIDs != nil && len(*in.SegmentIDs) > 0 {
		return Campaign{}, errs.Invalid("segment_ids", "a follow-up goes to those campaign %d reached who did not open it, not to segments", *c.ResendOf)
	}
	if err := s.apply(ctx, &c, in); err != nil {
		return Campaign{}, err
	}
	res := s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status IN ?", id, []Status{CampaignDraft, CampaignScheduled}).Select("*").Omit("id", "created_at").Updates(&c)
	if res.Error != nil {
		return Campaign{}, fmt.Errorf("campaigns: update %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return Campaign{}, errs.Conflict("campaign %d started sending while it was being edited", id)
	}
	return s.Get(ctx, id)
}

// Get returns a campaign.
func (s *Service) Get(ctx context.Context, id int64) (Campaign, error) {
	var c Campaign
	err := s.db.WithContext(ctx).Take(&c, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Campaign{}, errs.NotFound("campaign", id)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: get %d: %w", id, err)
	}
	return c, nil
}

// List returns a page of campaigns, newest first, and the next cursor.
func (s *Service) List(ctx context.Context, before int64, limit int) ([]Campaign, int64, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := s.db.WithContext(ctx).Where("kind = ?", KindCampaign).Order("id DESC").Limit(limit + 1)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var cs []Campaign
	if err := q.Find(&cs).Error; err != nil {
		return nil, 0, fmt.Errorf("campaigns: list: %w", err)
	}
	var next int64
	if len(cs) > limit {
		cs = cs[:limit]
		next = cs[len(cs)-1].ID
	}
	return cs, next, nil
}

// Delete removes a campaign that is not sending, with its ledger.
func (s *Service) Delete(ctx context.Context, id int64) error {
	c, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if c.Kind == KindAutomation {
		return errs.Conflict("campaign %d is a step of an automation; delete the automation", id)
	}
	if c.Status == CampaignSending || c.Status == CampaignPaused {
		return errs.Conflict("campaign %d is %s; cancel it before deleting it", id, c.Status)
	}
	if fu, err := s.pendingFollowUp(ctx, id); err != nil {
		return err
	} else if fu != 0 {
		return errs.Conflict("campaign %d has a follow-up, campaign %d, still to send: delete or send that first", id, fu)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("campaign_id = ?", id).Delete(&Delivery{}).Error; err != nil {
			return err
		}
		if err := tx.Where("campaign_id = ?", id).Delete(&Link{}).Error; err != nil {
			return err
		}
		return tx.Delete(&Campaign{}, id).Error
	})
	if err != nil {
		return fmt.Errorf("campaigns: delete %d: %w", id, err)
	}
	return nil
}

// Send starts a draft campaign now, or schedules it when at is in the
// future. The launch task is enqueued only after the status change commits.
func (s *Service) Send(ctx context.Context, id int64, at *time.Time) (Campaign, error) {
	return s.SendWith(ctx, id, SendOptions{At: at})
}

// SendWith is Send with every choice of when: o.At as Send's at, and a
// local time (see LocalTime), which a send without one clears.
func (s *Service) SendWith(ctx context.Context, id int64, o SendOptions) (Campaign, error) {
	at := o.At
	c, err := s.Get(ctx, id)
	if err != nil {
		return Campaign{}, err
	}
	if c.Kind == KindAutomation {
		return Campaign{}, errs.Conflict("campaign %d is a step of an automation; its flow sends it", id)
	}
	if c.Status != CampaignDraft && c.Status != CampaignScheduled {
		return Campaign{}, errs.Conflict("campaign %d is %s; only a draft or scheduled campaign can be sent", id, c.Status)
	}
	if len(c.SegmentIDs) == 0 && c.ResendOf == nil {
		return Campaign{}, errs.Invalid("segment_ids", "choose at least one segment to send to")
	}
	if err := s.checkFollowUpSend(ctx, c, at); err != nil {
		return Campaign{}, err
	}
	comp, err := s.compile(ctx, &c)
	if err != nil {
		return Campaign{}, err
	}
	vcomps, err := s.compileVariants(ctx, &c)
	if err != nil {
		return Campaign{}, err
	}
	now := s.cfg.Now()
	status := CampaignSending
	var when time.Time
	if at != nil && at.After(now) {
		status, when = CampaignScheduled, at.UTC()
	}
	launch := now
	if !when.IsZero() {
		launch = when
	}
	local, err := s.localTime(c, o, launch)
	if err != nil {
		return Campaign{}, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("campaign_id = ?", id).Delete(&Link{}).Error; err != nil {
			return err
		}
		links := make([]Link, len(comp.Links))
		for i, u := range comp.Links {
			links[i] = Link{CampaignID: id, Idx: i + 1, URL: u}
		}
		links = append(links, variantLinks(&c, vcomps)...)
		if len(links) > 0 {
			if err := tx.CreateInBatches(&links, 100).Error; err != nil {
				return err
			}
		}
		updates := map[string]any{"status": status, "scheduled_at": nil, "updated_at": now,
			"local_time": local.Time, "local_date": local.Date, "local_missed": local.Missed}
		if status == CampaignScheduled {
			updates["scheduled_at"] = when
		} else {
			updates["started_at"] = now
		}
		res := tx.Model(&Campaign{}).Where("id = ? AND status IN ?", id, []Status{CampaignDraft, CampaignScheduled}).Updates(updates)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errs.Conflict("campaign %d changed state; try again", id)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errs.ErrConflict) {
			return Campaign{}, err
		}
		return Campaign{}, fmt.Errorf("campaigns: send %d: %w", id, err)
	}
	if err := s.queue.EnqueueLaunch(ctx, id, when); err != nil {
		// The campaign is committed as sending; the sweeper re-enqueues
		// launches that were lost, so report but do not undo.
		s.cfg.Log.Error("campaigns: enqueue launch failed; the sweeper will retry", "campaign", id, "err", err)
	}
	return s.Get(ctx, id)
}

// PausedByUser is the pause reason of a user's Pause, which pages word
// as "Paused by a user" rather than repeat it after "Paused:".
const PausedByUser = "paused by a user"

// Pause stops a sending or scheduled campaign; workers stop within a
// second and queued deliveries wait for Resume.
func (s *Service) Pause(ctx context.Context, id int64, reason string) (Campaign, error) {
	return s.transition(ctx, id, []Status{CampaignSending, CampaignScheduled}, CampaignPaused, map[string]any{"pause_reason": reason})
}

// Resume continues a paused campaign.
func (s *Service) Resume(ctx context.Context, id int64) (Campaign, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Campaign{}, err
	}
	extra := map[string]any{"pause_reason": ""}
	to, at := CampaignSending, time.Time{}
	switch {
	case c.StartedAt == nil && c.ScheduledAt != nil && c.ScheduledAt.After(s.cfg.Now()):
		// Paused before its time: it goes back to waiting for it.
		to, at = CampaignScheduled, *c.ScheduledAt
	case c.StartedAt == nil:
		extra["started_at"] = s.cfg.Now()
	}
	c, err = s.transition(ctx, id, []Status{CampaignPaused}, to, extra)
	if err != nil {
		return Campaign{}, err
	}
	if err := s.queue.EnqueueLaunch(ctx, id, at); err != nil {
		s.cfg.Log.Error("campaigns: enqueue launch failed; the sweeper will retry", "campaign", id, "err", err)
	}
	return c, nil
}

// Cancel stops a campaign for good; deliveries not yet sent are skipped.
func (s *Service) Cancel(ctx context.Context, id int64) (Campaign, error) {
	c, err := s.transition(ctx, id, []Status{CampaignDraft, CampaignScheduled, CampaignSending, CampaignPaused}, CampaignCancelled, map[string]any{"finished_at": s.cfg.Now()})
	if err != nil {
		return Campaign{}, err
	}
	err = s.db.WithContext(ctx).Model(&Delivery{}).Where("campaign_id = ? AND status IN ?", id, []DeliveryStatus{DeliveryQueued, DeliveryDeferred, DeliveryHeld}).
		Updates(map[string]any{"status": DeliverySkipped, "error": "campaign cancelled"}).Error
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: cancel %d: %w", id, err)
	}
	return c, nil
}

// ResendUnknown sends once more the campaign's deliveries whose fate is
// unknown (a worker stopped or the connection dropped after the message's
// final dot: the server may have accepted it). Some recipients may then
// get the message twice, which is why only a person chooses it; it is
// recorded as an Action by actor. Each delivery is sent once more at most:
// one that ends unknown again stays so. Sent deliveries are never touched.
// A finished campaign goes back to sending until they are out.
func (s *Service) ResendUnknown(ctx context.Context, id int64, actor string) (Action, error) {
	var act Action
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		c, err := lockCampaign(tx, id)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return errs.NotFound("campaign", id)
		}
		if err != nil {
			return err
		}
		if c.Kind == KindAutomation {
			return errs.Conflict("campaign %d is a step of an automation; its flow sends it", id)
		}
		switch c.Status {
		case CampaignSending, CampaignPaused, CampaignSent:
		default:
			return errs.Conflict("campaign %d is %s; only a sending, paused or sent campaign can send its unknown deliveries once more", id, c.Status)
		}
		now := s.cfg.Now()
		res := tx.Model(&Delivery{}).Where("campaign_id = ? AND status = ? AND resent = ?", id, DeliveryUnknown, false).
			Updates(map[string]any{"status": DeliveryQueued, "resent": true, "claim": "", "error": ""})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errs.Conflict("campaign %d has no unknown delivery left to send once more", id)
		}
		if c.Status == CampaignSent {
			err := tx.Model(&Campaign{}).Where("id = ?", id).
				Updates(map[string]any{"status": CampaignSending, "finished_at": nil, "updated_at": now}).Error
			if err != nil {
				return err
			}
		}
		act = Action{CampaignID: id, Kind: ActionResendUnknown, Actor: actor, Count: res.RowsAffected, At: now}
		return tx.Create(&act).Error
	})
	if err != nil {
		if errors.Is(err, errs.ErrConflict) || errors.Is(err, errs.ErrNotFound) {
			return Action{}, err
		}
		return Action{}, fmt.Errorf("campaigns: resend unknown of %d: %w", id, err)
	}
	// A paused campaign sends them when it resumes; a sending one now.
	if c, err := s.Get(ctx, id); err == nil && c.Status == CampaignSending {
		if err := s.queue.EnqueueLaunch(ctx, id, time.Time{}); err != nil {
			s.cfg.Log.Error("campaigns: enqueue launch failed; the sweeper will retry", "campaign", id, "err", err)
		}
	}
	return act, nil
}

func (s *Service) transition(ctx context.Context, id int64, from []Status, to Status, extra map[string]any) (Campaign, error) {
	updates := map[string]any{"status": to, "updated_at": s.cfg.Now()}
	for k, v := range extra {
		updates[k] = v
	}
	res := s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status IN ?", id, from).Updates(updates)
	if res.Error != nil {
		return Campaign{}, fmt.Errorf("campaigns: %s %d: %w", to, id, res.Error)
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return Campaign{}, err
	}
	if res.RowsAffected == 0 && c.Status != to {
		return Campaign{}, errs.Conflict("campaign %d is %s and cannot become %s", id, c.Status, to)
	}
	return c, nil
}

// Links returns a campaign's links in order.
func (s *Service) Links(ctx context.Context, campaignID int64) ([]Link, error) {
	var ls []Link
	if err := s.db.WithContext(ctx).Where("campaign_id = ?", campaignID).Order("idx").Find(&ls).Error; err != nil {
		return nil, fmt.Errorf("campaigns: links: %w", err)
	}
	return ls, nil
}

// Preview renders a campaign for a contact (or, with contactID 0, for a
// contact whose optional fields are all empty, to show the fallbacks).
// Links keep their original URLs so that clicking a preview counts nothing.
func (s *Service) Preview(ctx context.Context, id, contactID int64) (templates.Rendered, error) {
	return s.PreviewVariant(ctx, id, contactID, 0)
}

// PreviewVariant is Preview of A/B test variant (1 for A, ...; 0 is the
// campaign's own content).
func (s *Service) PreviewVariant(ctx context.Context, id, contactID int64, variant int) (templates.Rendered, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return templates.Rendered{}, err
	}
	if c, err = pickVariant(c, variant); err != nil {
		return templates.Rendered{}, err
	}
	comp, err := s.compile(ctx, &c)
	if err != nil {
		return templates.Rendered{}, err
	}
	contact := contacts.Contact{Email: "someone@example.com", Status: contacts.Subscribed}
	if contactID != 0 {
		if contact, err = s.contacts.Get(ctx, contactID); err != nil {
			if errors.Is(err, errs.ErrNotFound) {
				return templates.Rendered{}, errs.Invalid("contact_id", "no contact has the id %d", contactID)
			}
			return templates.Rendered{}, err
		}
	}
	d := templates.NewData(contact, comp.Fields(), templates.CampaignInfo{ID: c.ID, Name: c.Name, FromName: c.FromName, Currency: s.contacts.Currency()},
		templates.Links{BaseURL: s.cfg.BaseURL, Untracked: true}, s.cfg.Now())
	if contact.ID != 0 {
		// The contact's own code: the same one the send will use.
		d.WithCoupons(s.couponsFor(ctx, contact.ID, c.ID))
	}
	r, err := comp.Render(d)
	if err != nil {
		return templates.Rendered{}, errs.Invalid("contact_id", "cannot render for this contact: %v", err)
	}
	return r, nil
}

// lockCampaign reads a campaign for update inside tx (a row lock on
// PostgreSQL; SQLite's immediate transactions already serialise writers).
func lockCampaign(tx *gorm.DB, id int64) (Campaign, error) {
	var c Campaign
	q := tx
	if db.IsPostgres(tx) {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	err := q.Take(&c, id).Error
	return c, err
}
