package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/contacts"
	"herald/reports"
	"herald/templates"
)

// timelinePage is how many lines of activity a contact page shows at once.
const timelinePage = 25

// activity is one line of a contact's timeline: an event or a delivery.
type activity struct {
	At      time.Time
	Kind    string // the CSS class and the word shown: purchase, visit, open...
	Title   string
	Detail  string
	Link    string // the campaign, when there is one
	Machine string // why an open or click was counted as a machine's
}

// timeline is a page of activity, newest first, and the cursor of the
// next (older) page.
type timeline struct {
	Items []activity
	Next  string
}

// timelineCursor is where a page of activity ends: a time and, for each
// source, the smallest id shown at exactly that time (0 when none was), so
// that the next page neither repeats nor skips lines that share a time.
type timelineCursor struct {
	At       time.Time
	EventID  int64
	Delivery int64
}

func (tc timelineCursor) String() string {
	return fmt.Sprintf("%d.%d.%d", tc.At.UnixNano(), tc.EventID, tc.Delivery)
}

func parseTimelineCursor(s string) timelineCursor {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return timelineCursor{}
	}
	ns, err1 := strconv.ParseInt(parts[0], 10, 64)
	ev, err2 := strconv.ParseInt(parts[1], 10, 64)
	dl, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || ns <= 0 {
		return timelineCursor{}
	}
	return timelineCursor{At: time.Unix(0, ns).UTC(), EventID: ev, Delivery: dl}
}

// timeline merges a contact's events and deliveries, newest first.
func (s *Server) timeline(c *gin.Context, contactID int64, cursor string) (timeline, error) {
	ctx := c.Request.Context()
	cur := parseTimelineCursor(cursor)
	evs, err := s.d.Contacts.EventsBefore(ctx, contactID, cur.At, cur.EventID, timelinePage+1)
	if err != nil {
		return timeline{}, err
	}
	dls, err := s.d.Reports.DeliveriesBefore(ctx, contactID, cur.At, cur.Delivery, timelinePage+1)
	if err != nil {
		return timeline{}, err
	}
	type entry struct {
		at    time.Time
		id    int64
		event *contacts.Event
		dl    *reports.ContactDelivery
	}
	entries := make([]entry, 0, len(evs)+len(dls))
	for i := range evs {
		entries = append(entries, entry{at: evs[i].OccurredAt.UTC(), id: evs[i].ID, event: &evs[i]})
	}
	for i := range dls {
		entries = append(entries, entry{at: dls[i].At.UTC(), id: dls[i].ID, dl: &dls[i]})
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].at.Equal(entries[j].at) {
			return entries[i].at.After(entries[j].at)
		}
		return entries[i].id > entries[j].id
	})
	more := len(entries) > timelinePage
	if more {
		entries = entries[:timelinePage]
	}
	names := map[int64]string{}
	links := map[int64]map[int64]string{}
	campaignName := func(id int64) string {
		if n, ok := names[id]; ok {
			return n
		}
		n := fmt.Sprintf("campaign %d", id)
		if cp, err := s.d.Campaigns.Get(ctx, id); err == nil {
			n = cp.Name
		}
		names[id] = n
		return n
	}
	linkURL := func(campaignID, linkID int64) string {
		m, ok := links[campaignID]
		if !ok {
			m = map[int64]string{}
			if ls, err := s.d.Campaigns.Links(ctx, campaignID); err == nil {
				for _, l := range ls {
					m[l.ID] = l.URL
				}
			}
			links[campaignID] = m
		}
		return m[linkID]
	}
	currency := s.d.Contacts.Currency()
	var tl timeline
	for _, e := range entries {
		if e.dl != nil {
			tl.Items = append(tl.Items, deliveryActivity(*e.dl))
			continue
		}
		tl.Items = append(tl.Items, eventActivity(*e.event, currency, campaignName, linkURL))
	}
	if more && len(entries) > 0 {
		last := entries[len(entries)-1].at
		next := timelineCursor{At: last}
		for _, e := range entries {
			if !e.at.Equal(last) {
				continue
			}
			if e.event != nil && (next.EventID == 0 || e.id < next.EventID) {
				next.EventID = e.id
			}
			if e.dl != nil && (next.Delivery == 0 || e.id < next.Delivery) {
				next.Delivery = e.id
			}
		}
		// A source with nothing shown at that time takes all of it.
		if next.EventID == 0 {
			next.EventID = math.MaxInt64
		}
		if next.Delivery == 0 {
			next.Delivery = math.MaxInt64
		}
		tl.Next = next.String()
	}
	return tl, nil
}

var deliveryWords = map[campaigns.DeliveryStatus]string{
	campaigns.DeliveryQueued: "queued", campaigns.DeliverySending: "being sent", campaigns.DeliverySent: "sent",
	campaigns.DeliveryFailed: "failed", campaigns.DeliveryBounced: "bounced", campaigns.DeliverySkipped: "skipped",
	campaigns.DeliveryUnknown: "unknown (the mail server may or may not have taken it)", campaigns.DeliveryDeferred: "held back by the frequency cap",
	campaigns.DeliveryHeld: "waiting for the A/B test's winner",
}

func deliveryActivity(d reports.ContactDelivery) activity {
	words := cmp.Or(deliveryWords[d.Status], string(d.Status))
	if d.Status == campaigns.DeliveryDeferred && strings.HasPrefix(d.Error, campaigns.LocalTimeReason) {
		words = "waiting for their local time"
	}
	a := activity{At: d.At, Kind: "email", Title: "Email " + words + ": " + d.CampaignName}
	if d.Kind == campaigns.KindCampaign {
		a.Link = fmt.Sprintf("/campaigns/%d", d.CampaignID)
	}
	if d.Error != "" && d.Status != campaigns.DeliverySent {
		a.Detail = d.Error
	}
	return a
}

func eventActivity(e contacts.Event, currency string, campaignName func(int64) string, linkURL func(int64, int64) string) activity {
	a := activity{At: e.OccurredAt, Kind: "custom", Title: e.Type}
	props := map[string]any(e.Properties)
	var camp string
	if e.CampaignID != nil {
		camp = campaignName(*e.CampaignID)
		a.Link = fmt.Sprintf("/campaigns/%d", *e.CampaignID)
	}
	switch e.Type {
	case contacts.EventPurchase:
		a.Kind, a.Title = "purchase", "Purchase of "+templates.FormatMinor(e.Amount, cmp.Or(e.Currency, currency))
		if e.OrderID != "" {
			a.Title += " (order " + e.OrderID + ")"
		}
	case contacts.EventVisit:
		a.Kind, a.Title = "visit", "Visit"
	case contacts.EventSignup:
		a.Kind, a.Title = "signup", "Signed up"
	case contacts.EventOpen:
		a.Kind, a.Title = "open", "Opened "+cmp.Or(camp, "an email")
	case contacts.EventClick:
		a.Kind, a.Title = "click", "Clicked in "+cmp.Or(camp, "an email")
		if e.CampaignID != nil && e.LinkID != nil {
			a.Detail = linkURL(*e.CampaignID, *e.LinkID)
		}
	case contacts.EventBounce:
		// Hard bounces suppress at once, soft ones only when they add up.
		what := "Bounced"
		if hard, ok := props["hard"].(bool); ok && hard {
			what = "Hard bounce"
		} else if ok {
			what = "Soft bounce"
		}
		a.Kind, a.Title = "bounce", what+": "+cmp.Or(camp, "an email")
		a.Detail, props = bounceDetail(props)
	case contacts.EventComplaint:
		a.Kind, a.Title = "complaint", "Marked as spam: "+cmp.Or(camp, "an email")
		a.Detail, props = bounceDetail(props)
	case contacts.EventStatus:
		to, _ := props["to"].(string)
		a.Kind, a.Title = "status-change", "Status: "+to
		if from, _ := props["from"].(string); from != "" {
			a.Title = "Status: " + from + " → " + to
		}
		by, _ := props["by"].(string)
		a.Detail = "by " + cmp.Or(by, "Herald")
		if r, _ := props["reason"].(string); r != "" {
			a.Detail += ": " + r
		}
		return a
	case contacts.EventUnsubscribe:
		a.Kind, a.Title = "unsubscribe", "Unsubscribed"
		if camp != "" {
			a.Title += " from " + camp
		}
	default:
		if camp != "" {
			a.Title += " (" + camp + ")"
		}
	}
	if e.Machine {
		a.Machine = "counted as a machine's (privacy proxy or link scanner)"
		if r, ok := props["machine_reason"].(string); ok && r != "" {
			a.Machine += ": " + r
		}
	}
	if d := describeProps(props); d != "" {
		a.Detail = strings.TrimPrefix(a.Detail+" · "+d, " · ")
	}
	return a
}

// bounceSources say where a bounce or complaint came from, by the source
// the bounces package stores with it.
var bounceSources = map[string]string{
	"ses": "reported by Amazon SES", "sendgrid": "reported by SendGrid", "postmark": "reported by Postmark",
	"mailgun": "reported by Mailgun", "webhook": "reported to the bounce webhook", "mailbox": "found in the bounce mailbox",
}

// bounceDetail words a bounce or complaint: the server's diagnostic and
// where the report came from ("550 5.1.1 user unknown · reported by
// SendGrid"), instead of its stored keys ("hard: true, source: webhook";
// the title says hard or soft). It returns the properties it did not word.
func bounceDetail(props map[string]any) (string, map[string]any) {
	var parts []string
	rest := map[string]any{}
	for k, v := range props {
		rest[k] = v
	}
	for _, k := range []string{"diagnostic", "reason"} {
		if d, ok := rest[k].(string); ok {
			if d != "" {
				parts = append(parts, clip(d, 200))
			}
			delete(rest, k)
		}
	}
	if src, ok := rest["source"].(string); ok {
		parts = append(parts, cmp.Or(bounceSources[src], "reported by "+src))
		delete(rest, "source")
	} else if _, atSend := rest["hard"]; atSend {
		// Bounces refused at send time carry no source.
		parts = append(parts, "refused when it was sent")
	}
	delete(rest, "hard")
	return strings.Join(parts, " · "), rest
}

// describeProps shows an event's properties as "key: value" pairs, the
// machine reason left out (it is shown on its own).
func describeProps(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "machine_reason" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := attrText(p[k])
		if _, ok := p[k].(map[string]any); ok {
			b, _ := json.Marshal(p[k])
			v = string(b)
		}
		parts = append(parts, k+": "+clip(v, 120))
	}
	return clip(strings.Join(parts, ", "), 400)
}
