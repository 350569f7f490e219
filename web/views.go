package web

import (
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/segments"
)

// The public JSON shapes of resources. Money is in major units here and
// in minor units everywhere else.

type contactView struct {
	ID                      int64          `json:"id"`
	Email                   string         `json:"email"`
	FirstName               string         `json:"first_name"`
	LastName                string         `json:"last_name"`
	City                    string         `json:"city"`
	Country                 string         `json:"country"`
	Language                string         `json:"language"`
	Timezone                string         `json:"timezone"`
	Birthday                string         `json:"birthday"`
	Anniversary             string         `json:"anniversary"`
	FamilyStatus            string         `json:"family_status"`
	Source                  string         `json:"source"`
	SignupAt                *time.Time     `json:"signup_at"`
	Status                  string         `json:"status"`
	Attributes              map[string]any `json:"attributes"`
	OrdersCount             int64          `json:"orders_count"`
	TotalSpent              float64        `json:"total_spent"`
	FirstPurchaseAt         *time.Time     `json:"first_purchase_at"`
	LastPurchaseAt          *time.Time     `json:"last_purchase_at"`
	AvgDaysBetweenPurchases *float64       `json:"avg_days_between_purchases"`
	LastVisitAt             *time.Time     `json:"last_visit_at"`
	LastOpenAt              *time.Time     `json:"last_open_at"`
	LastClickAt             *time.Time     `json:"last_click_at"`
	CreatedAt               time.Time      `json:"created_at"`
	UpdatedAt               time.Time      `json:"updated_at"`
}

// viewContact shows money in major units of the store currency.
func (s *Server) viewContact(c contacts.Contact) contactView {
	attrs := map[string]any(c.Attributes)
	if attrs == nil {
		attrs = map[string]any{}
	}
	return contactView{
		ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, City: c.City,
		Country: c.Country, Language: c.Language, Timezone: c.Timezone, Birthday: c.Birthday,
		Anniversary: c.Anniversary, FamilyStatus: c.FamilyStatus, Source: c.Source,
		SignupAt: utc(c.SignupAt), Status: string(c.Status), Attributes: attrs,
		OrdersCount: c.OrdersCount, TotalSpent: contacts.ToMajor(c.TotalSpent, s.d.Contacts.Currency()),
		FirstPurchaseAt: utc(c.FirstPurchaseAt), LastPurchaseAt: utc(c.LastPurchaseAt),
		AvgDaysBetweenPurchases: c.AvgDaysBetweenPurchases, LastVisitAt: utc(c.LastVisitAt),
		LastOpenAt: utc(c.LastOpenAt), LastClickAt: utc(c.LastClickAt),
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	}
}

func (s *Server) viewContacts(cs []contacts.Contact) []contactView {
	out := make([]contactView, len(cs))
	for i, c := range cs {
		out[i] = s.viewContact(c)
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

type segmentView struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Definition  db.JSONRaw `json:"definition"`
	MemberCount int64      `json:"member_count"`
	RefreshedAt *time.Time `json:"refreshed_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func viewSegment(s segments.Segment) segmentView {
	return segmentView{
		ID: s.ID, Name: s.Name, Description: s.Description, Definition: s.Definition,
		MemberCount: s.MemberCount, RefreshedAt: utc(s.RefreshedAt), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
	}
}

type campaignView struct {
	ID                int64       `json:"id"`
	Name              string      `json:"name"`
	Subject           string      `json:"subject"`
	HTMLBody          string      `json:"html_body"`
	TextBody          string      `json:"text_body"`
	FromName          string      `json:"from_name"`
	FromEmail         string      `json:"from_email"`
	ReplyTo           string      `json:"reply_to"`
	SegmentIDs        []int64     `json:"segment_ids"`
	ExcludeSegmentIDs []int64     `json:"exclude_segment_ids"`
	Status            string      `json:"status"`
	PauseReason       string      `json:"pause_reason,omitempty"`
	IgnoreFreqCap     bool        `json:"ignore_frequency_cap"`
	ScheduledAt       *time.Time  `json:"scheduled_at"`
	StartedAt         *time.Time  `json:"started_at"`
	FinishedAt        *time.Time  `json:"finished_at"`
	LocalTime         string      `json:"local_time"`
	LocalDate         string      `json:"local_date,omitempty"`
	Missed            string      `json:"missed,omitempty"`
	Total             int64       `json:"total"`
	ABTest            *abTestView `json:"ab_test"`
	ResendOf          *int64      `json:"resend_of"`
	CreatedAt         time.Time   `json:"created_at"`
	UpdatedAt         time.Time   `json:"updated_at"`
}

func viewCampaign(c campaigns.Campaign) campaignView {
	return campaignView{
		ID: c.ID, Name: c.Name, Subject: c.Subject, HTMLBody: c.HTMLBody, TextBody: c.TextBody,
		FromName: c.FromName, FromEmail: c.FromEmail, ReplyTo: c.ReplyTo,
		SegmentIDs: nonNilIDs(c.SegmentIDs), ExcludeSegmentIDs: nonNilIDs(c.ExcludeSegmentIDs),
		Status: string(c.Status), PauseReason: c.PauseReason, IgnoreFreqCap: c.IgnoreFrequencyCap, ResendOf: c.ResendOf, ScheduledAt: utc(c.ScheduledAt),
		StartedAt: utc(c.StartedAt), FinishedAt: utc(c.FinishedAt), Total: c.Total, ABTest: viewABTest(c),
		LocalTime: c.Local.Time, LocalDate: c.Local.Date, Missed: c.Local.Missed,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	}
}

func nonNilIDs(ids db.IDs) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
