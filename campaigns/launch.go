package campaigns

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/db"
)

// target builds the SQL that selects a campaign's recipients: subscribed
// contacts in any target segment and in no excluded segment, evaluated
// live at launch time.
func (s *Service) target(ctx context.Context, c Campaign) (string, []any, error) {
	if c.ResendOf != nil {
		return s.followUpTarget(ctx, c)
	}
	inc, incArgs, err := s.segmentsSQL(ctx, c.SegmentIDs)
	if err != nil {
		return "", nil, err
	}
	if inc == "" {
		return "", nil, fmt.Errorf("campaigns: campaign %d has no segments", c.ID)
	}
	sql := "contacts.status = ? AND (" + inc + ")"
	args := append([]any{contacts.Subscribed}, incArgs...)
	exc, excArgs, err := s.segmentsSQL(ctx, c.ExcludeSegmentIDs)
	if err != nil {
		return "", nil, err
	}
	if exc != "" {
		sql += " AND NOT (" + exc + ")"
		args = append(args, excArgs...)
	}
	return sql, args, nil
}

// segmentsSQL is the condition "in any of these segments", empty for none.
func (s *Service) segmentsSQL(ctx context.Context, ids []int64) (string, []any, error) {
	var sqls []string
	var args []any
	for _, id := range ids {
		seg, err := s.segments.Get(ctx, id)
		if err != nil {
			return "", nil, err
		}
		expr, err := s.segments.Compile(ctx, seg.Definition)
		if err != nil {
			return "", nil, fmt.Errorf("campaigns: segment %d: %w", id, err)
		}
		sqls = append(sqls, "("+expr.SQL+")")
		args = append(args, expr.Args...)
	}
	return strings.Join(sqls, " OR "), args, nil
}

// Launch writes the campaign's delivery rows page by page (keyset on the
// contact id, so the list is never held in memory) and enqueues a send task
// per page after its rows are committed. It is safe to run again at any
// point: it continues from the stored cursor and re-enqueues pages whose
// deliveries are still queued.
func (s *Service) Launch(ctx context.Context, id int64) error {
	c, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	switch c.Status {
	case CampaignScheduled:
		if c.ScheduledAt != nil && c.ScheduledAt.After(now.Add(time.Second)) {
			return nil // a task for an earlier schedule; the current one comes later
		}
		if ready, err := s.originalFinished(ctx, c); err != nil || !ready {
			return err // a follow-up waits for its original; the sweep comes back
		}
		res := s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status = ?", id, CampaignScheduled).
			Updates(map[string]any{"status": CampaignSending, "started_at": now, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("campaigns: start %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		c.Status = CampaignSending
	case CampaignSending:
	default:
		return nil // paused, cancelled, sent or draft: nothing to launch
	}

	if c.Kind == KindAutomation {
		// A flow's step has no launch: its flow writes its deliveries.
		// Running it only re-enqueues what is queued (the sweep's path).
		return s.Requeue(ctx, id)
	}
	if c.LaunchedAt == nil {
		where, args, err := s.target(ctx, c)
		if err != nil {
			return err
		}
		local, err := s.newLocalPlan(c)
		if err != nil {
			return err
		}
		// Contacts loaded just before the send are not in the planner's
		// statistics yet; every page below would pay for that. A launch
		// that cannot analyze still works, only slower: say so and go on.
		if err := db.RefreshStats(ctx, s.db, "contacts"); err != nil {
			s.cfg.Log.Warn("campaigns: launch without fresh statistics", "campaign", id, "err", err)
		}
		cursor := c.LaunchCursor
		for {
			ids, err := s.nextPage(ctx, where, args, cursor)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			batch, written, advanced, err := s.writePage(ctx, id, cursor, ids, where, args, c.IgnoreFrequencyCap, local)
			if errors.Is(err, errStopped) {
				return nil
			}
			if err != nil {
				return err
			}
			if !advanced {
				// Another launch of this campaign moved the cursor; follow it.
				cur, err := s.Get(ctx, id)
				if err != nil {
					return err
				}
				if cur.LaunchedAt != nil {
					break
				}
				cursor = cur.LaunchCursor
				continue
			}
			if len(written) > 0 {
				if err := s.queue.EnqueueSend(ctx, id, batch, written); err != nil {
					return fmt.Errorf("campaigns: enqueue batch %d of %d: %w", batch, id, err)
				}
			}
			cursor = ids[len(ids)-1]
		}
		err = s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND launched_at IS NULL", id).
			Update("launched_at", s.cfg.Now()).Error
		if err != nil {
			return fmt.Errorf("campaigns: mark %d launched: %w", id, err)
		}
	}
	if c.ABTest != nil {
		if err := s.advanceABTest(ctx, c); err != nil {
			return err
		}
	}
	if err := s.Requeue(ctx, id); err != nil {
		return err
	}
	return s.maybeFinish(ctx, id)
}

var errStopped = errors.New("campaigns: campaign no longer sending")

func (s *Service) nextPage(ctx context.Context, where string, args []any, after int64) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&contacts.Contact{}).
		Where(where, args...).Where("contacts.id > ?", after).
		Order("contacts.id").Limit(s.cfg.LaunchPage).Pluck("contacts.id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns: select recipients: %w", err)
	}
	return ids, nil
}

// writePage inserts the delivery rows of one page and moves the cursor in
// the same transaction, and returns the batch and the ids of the rows it
// wrote. advanced is false when the cursor was not where this launch left
// it (a concurrent launch got there first). The rows are written by one
// INSERT ... SELECT over the page's id range and the target condition
// (where, args), so no contact id travels to the database again: a
// contact that stopped matching since the page was read is left out, as
// it should be.
//
// Contacts over the frequency cap get a Deferred row that waits for the
// time they may have the next message (unless the campaign ignores the
// cap); the sweep queues it then. With a local time (local not nil),
// contacts whose hour is still ahead get one that waits for it.
func (s *Service) writePage(ctx context.Context, id, cursor int64, contactIDs []int64, where string, args []any, ignoreCap bool, local *localPlan) (int, []int64, bool, error) {
	var batch int
	var written []int64
	advanced := false
	now := s.cfg.Now()
	var holds map[int64]CapHold
	if !ignoreCap {
		var err error
		if holds, err = s.CapHolds(ctx, contactIDs, now); err != nil {
			return 0, nil, false, err
		}
	}
	if local != nil {
		var err error
		if holds, err = s.localHolds(ctx, local, contactIDs, now, holds); err != nil {
			return 0, nil, false, err
		}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		c, err := lockCampaign(tx, id)
		if err != nil {
			return err
		}
		if c.Status != CampaignSending {
			return errStopped
		}
		if c.LaunchCursor != cursor || c.LaunchedAt != nil {
			return nil
		}
		batch = c.LaunchBatches + 1
		last := contactIDs[len(contactIDs)-1]
		status := heldStatus(c)
		var rows []Delivery
		err = tx.Raw(`INSERT INTO deliveries (campaign_id, contact_id, status, batch, created_at)
			SELECT ?, contacts.id, ?, ?, ? FROM contacts WHERE contacts.id > ? AND contacts.id <= ? AND (`+where+`)
			ON CONFLICT DO NOTHING RETURNING id, contact_id`, append([]any{id, status, batch, now, cursor, last}, args...)...).
			Scan(&rows).Error
		if err != nil {
			return err
		}
		inserted := len(rows)
		if status == DeliveryHeld {
			rows = nil // nothing to send before the split
		}
		deferred := map[int64]CapHold{}
		for _, d := range rows {
			if h, held := holds[d.ContactID]; held {
				deferred[d.ID] = h
			} else {
				written = append(written, d.ID)
			}
		}
		if err := deferIn(tx, deferred); err != nil {
			return err
		}
		advanced = true
		return tx.Model(&Campaign{}).Where("id = ?", id).Updates(map[string]any{
			"launch_cursor":  contactIDs[len(contactIDs)-1],
			"launch_batches": batch,
			"total":          gorm.Expr("total + ?", inserted),
		}).Error
	})
	if err != nil && !errors.Is(err, errStopped) {
		return 0, nil, false, fmt.Errorf("campaigns: write deliveries of %d: %w", id, err)
	}
	sort.Slice(written, func(i, j int) bool { return written[i] < written[j] })
	return batch, written, advanced, err
}

func (s *Service) enqueueBatch(ctx context.Context, campaignID int64, batch int) error {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Delivery{}).
		// COALESCE leaves the (campaign_id, batch) index to the planner:
		// the (campaign_id, status, ...) one would walk every queued delivery.
		Where("campaign_id = ? AND batch = ? AND COALESCE(status, '') = ?", campaignID, batch, DeliveryQueued).
		Order("id").Pluck("id", &ids).Error
	if err != nil {
		return fmt.Errorf("campaigns: batch %d of %d: %w", batch, campaignID, err)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := s.queue.EnqueueSend(ctx, campaignID, batch, ids); err != nil {
		return fmt.Errorf("campaigns: enqueue batch %d of %d: %w", batch, campaignID, err)
	}
	return nil
}

// Requeue enqueues again every batch of a sending campaign that still has
// queued deliveries: the recovery for a crash between a commit and its
// enqueue, a lost queue, or a resume after a pause. The queue ignores a
// batch whose task is still pending, and a sender skips what is not queued,
// so running it too often costs only queries.
func (s *Service) Requeue(ctx context.Context, campaignID int64) error {
	var batches []int
	err := s.db.WithContext(ctx).Model(&Delivery{}).
		Where("campaign_id = ? AND status = ?", campaignID, DeliveryQueued).
		Distinct("batch").Order("batch").Pluck("batch", &batches).Error
	if err != nil {
		return fmt.Errorf("campaigns: requeue %d: %w", campaignID, err)
	}
	for _, b := range batches {
		if err := s.enqueueBatch(ctx, campaignID, b); err != nil {
			return err
		}
	}
	return nil
}

// maybeFinish marks a launched campaign sent once no delivery is queued
// or in flight.
func (s *Service) maybeFinish(ctx context.Context, id int64) error {
	now := s.cfg.Now()
	err := s.db.WithContext(ctx).Exec(`UPDATE campaigns SET status = ?, finished_at = ?, updated_at = ?
		WHERE id = ? AND status = ? AND launched_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM deliveries WHERE campaign_id = ? AND status IN (?, ?, ?, ?))`,
		CampaignSent, now, now, id, CampaignSending, id, DeliveryQueued, DeliverySending, DeliveryDeferred, DeliveryHeld).Error
	if err != nil {
		return fmt.Errorf("campaigns: finish %d: %w", id, err)
	}
	return nil
}

// Sweep is the periodic safety net: it launches scheduled campaigns whose
// task was lost, relaunches sending campaigns (which re-enqueues their
// queued batches), turns deliveries left in flight by a crashed worker
// into Unknown, and finishes campaigns with nothing left to send.
func (s *Service) Sweep(ctx context.Context, staleAfter time.Duration) error {
	now := s.cfg.Now()
	// Only campaigns a worker may have been sending hold deliveries in
	// flight; naming them lets the (campaign_id, status, ...) index find those
	// rows instead of scanning every delivery ever made, twice a minute.
	var stale []Delivery
	err := s.db.WithContext(ctx).Select("id", "claim").
		Where("campaign_id IN (SELECT id FROM campaigns WHERE status IN ?) AND status = ? AND claimed_at < ?",
			[]Status{CampaignSending, CampaignPaused, CampaignCancelled}, DeliverySending, now.Add(-staleAfter)).
		Order("id").Find(&stale).Error
	if err != nil {
		return fmt.Errorf("campaigns: sweep in-flight deliveries: %w", err)
	}
	byClaim := map[string][]int64{}
	for _, d := range stale {
		byClaim[d.Claim] = append(byClaim[d.Claim], d.ID)
	}
	for claim, ids := range byClaim {
		if err := s.settleAbandoned(ctx, claim, ids); err != nil {
			return err
		}
	}
	if err := s.releaseDeferred(ctx, now); err != nil {
		return err
	}
	var due []Campaign
	err = s.db.WithContext(ctx).Select("id", "status").
		Where("status = ? OR (status = ? AND scheduled_at <= ?)", CampaignSending, CampaignScheduled, now).
		Find(&due).Error
	if err != nil {
		return fmt.Errorf("campaigns: sweep: %w", err)
	}
	for _, c := range due {
		if err := s.queue.EnqueueLaunch(ctx, c.ID, time.Time{}); err != nil {
			return fmt.Errorf("campaigns: sweep enqueue %d: %w", c.ID, err)
		}
	}
	return nil
}

// settleAbandoned settles the deliveries ids that a dead (or stalled)
// worker left in flight under claim, from the claim's Attempts record: the
// record is revoked first, so a sender still running on the claim sends
// nothing more, then what the server accepted is sent, what was committed
// is unknown and the rest goes back to the queue. With no record, nothing
// is known and the whole claim is unknown.
func (s *Service) settleAbandoned(ctx context.Context, claim string, ids []int64) error {
	var committed, accepted []int64
	found := false
	if s.cfg.Attempts != nil && claim != "" {
		var err error
		if committed, accepted, found, err = s.cfg.Attempts.Revoke(ctx, claim); err != nil {
			return fmt.Errorf("campaigns: sweep claim: %w", err)
		}
	}
	const (
		doubtAfterCommit = "the worker stopped while the server was taking the message; it may or may not have been accepted"
		doubtNoRecord    = "the worker stopped while sending; the message may or may not have been accepted"
	)
	now := s.cfg.Now()
	set := func(id []int64) map[int64]bool {
		m := make(map[int64]bool, len(id))
		for _, x := range id {
			m[x] = true
		}
		return m
	}
	sentSet, doubtSet := set(accepted), set(committed)
	groups := map[DeliveryStatus][]int64{}
	for _, id := range ids {
		switch {
		case !found:
			groups[DeliveryUnknown] = append(groups[DeliveryUnknown], id)
		case sentSet[id]:
			groups[DeliverySent] = append(groups[DeliverySent], id)
		case doubtSet[id]:
			groups[DeliveryUnknown] = append(groups[DeliveryUnknown], id)
		default:
			groups[DeliveryQueued] = append(groups[DeliveryQueued], id)
		}
	}
	fields := map[DeliveryStatus]map[string]any{
		DeliverySent:    {"status": DeliverySent, "claim": "", "error": "", "sent_at": now},
		DeliveryUnknown: {"status": DeliveryUnknown, "claim": "", "error": doubtAfterCommit},
		DeliveryQueued:  {"status": DeliveryQueued, "claim": ""},
	}
	if !found {
		fields[DeliveryUnknown]["error"] = doubtNoRecord
	}
	counts := map[DeliveryStatus]int64{}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, st := range []DeliveryStatus{DeliverySent, DeliveryUnknown, DeliveryQueued} {
			if len(groups[st]) == 0 {
				continue
			}
			// The claim and the status guard against a row settled or
			// claimed again since the sweep read it.
			res := tx.Model(&Delivery{}).Where("id IN ? AND claim = ? AND status = ?", groups[st], claim, DeliverySending).Updates(fields[st])
			if res.Error != nil {
				return res.Error
			}
			counts[st] = res.RowsAffected
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("campaigns: sweep claim: %w", err)
	}
	if found {
		_ = s.cfg.Attempts.Close(ctx, claim) // settled: the record has served
	}
	s.cfg.Log.Warn("campaigns: settled deliveries left in flight by a stopped worker",
		"sent", counts[DeliverySent], "unknown", counts[DeliveryUnknown], "requeued", counts[DeliveryQueued], "record", found)
	return nil
}

// deferIn marks the deliveries of holds (delivery id -> hold) deferred
// until their hold's time, one statement per distinct hold: contacts held
// by one earlier campaign, or living in one time zone, share it.
func deferIn(tx *gorm.DB, holds map[int64]CapHold) error {
	byHold := map[CapHold][]int64{}
	for id, h := range holds {
		h.Next = h.Next.UTC() // one key per instant
		byHold[h] = append(byHold[h], id)
	}
	for h, ids := range byHold {
		err := tx.Model(&Delivery{}).Where("id IN ? AND status IN ?", ids, []DeliveryStatus{DeliveryQueued, DeliveryDeferred}).
			Updates(map[string]any{"status": DeliveryDeferred, "not_before": h.Next, "error": h.Reason}).Error
		if err != nil {
			return err
		}
	}
	return nil
}

// releaseDeferred queues the deferred deliveries of sending campaigns
// whose time has come, unless the cap holds the contact again (a flow
// message went out meanwhile), in which case they wait longer. The
// relaunch that follows in the sweep enqueues their batches.
func (s *Service) releaseDeferred(ctx context.Context, now time.Time) error {
	for {
		var due []Delivery
		err := s.db.WithContext(ctx).Select("id", "contact_id").
			Where("campaign_id IN (SELECT id FROM campaigns WHERE status = ?) AND status = ? AND not_before <= ?", CampaignSending, DeliveryDeferred, now).
			Order("id").Limit(500).Find(&due).Error
		if err != nil {
			return fmt.Errorf("campaigns: sweep deferred deliveries: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		ids := make([]int64, len(due))
		for i, d := range due {
			ids[i] = d.ContactID
		}
		holds, err := s.CapHolds(ctx, ids, now)
		if err != nil {
			return err
		}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var release []int64
			again := map[int64]CapHold{}
			for _, d := range due {
				if h, held := holds[d.ContactID]; held {
					again[d.ID] = h
				} else {
					release = append(release, d.ID)
				}
			}
			if err := deferIn(tx, again); err != nil {
				return err
			}
			if len(release) == 0 {
				return nil
			}
			// created_at moves to now: the frequency cap counts a message
			// from when it was let through, not from the launch.
			return tx.Model(&Delivery{}).Where("id IN ? AND status = ?", release, DeliveryDeferred).
				Updates(map[string]any{"status": DeliveryQueued, "error": "", "created_at": now}).Error
		})
		if err != nil {
			return fmt.Errorf("campaigns: release deferred deliveries: %w", err)
		}
		if len(due) < 500 {
			return nil
		}
	}
}
