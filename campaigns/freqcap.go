package campaigns

import (
	"context"
	"fmt"
	"time"
)

// CapConfig is the frequency cap: no contact gets more than Messages
// marketing messages (campaigns and automations together) per Window. A
// campaign message over the cap is deferred to the next allowed time, and
// so is an automation's. Zero turns the cap off.
type CapConfig struct {
	Messages int
	Window   time.Duration
}

// CapHold says a contact is over the frequency cap: their next marketing
// message may go out at Next; Reason is the sentence to record.
type CapHold struct {
	Next   time.Time
	Reason string
}

// CapHolds tells which of the contacts ids are over the frequency cap at
// now (CapConfig.Messages messages, queued or sent, of campaigns and
// flows alike, in the CapWindow before now) and when each may get the
// next one. Contacts under the cap are not in the map; with the cap off
// the map is empty. Automations call it before each send; a launch can call it
// for a page of contacts.
func (s *Service) CapHolds(ctx context.Context, ids []int64, now time.Time) (map[int64]CapHold, error) {
	n, w := s.cfg.Cap.Messages, s.cfg.Cap.Window
	out := map[int64]CapHold{}
	if n <= 0 || w <= 0 || len(ids) == 0 {
		return out, nil
	}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var recent []Delivery
		err := s.db.WithContext(ctx).Select("contact_id", "created_at").
			Where("contact_id IN ? AND status IN ? AND created_at > ?", chunk, []DeliveryStatus{DeliveryQueued, DeliverySending, DeliverySent}, now.Add(-w)).
			Order("contact_id, created_at DESC").Find(&recent).Error
		if err != nil {
			return nil, fmt.Errorf("campaigns: frequency cap: %w", err)
		}
		seen := 0
		for i, d := range recent {
			if i == 0 || recent[i-1].ContactID != d.ContactID {
				seen = 0
			}
			seen++
			if seen == n {
				// The n-th most recent leaves the window at next.
				next := d.CreatedAt.Add(w)
				out[d.ContactID] = CapHold{Next: next, Reason: fmt.Sprintf("deferred by the frequency cap (%d messages per %s) until %s", n, w, next.UTC().Format(time.RFC3339))}
			}
		}
	}
	return out, nil
}
