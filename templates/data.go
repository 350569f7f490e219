// Package templates compiles a campaign's subject, HTML and text into Go
// templates once per campaign and renders them per contact. HTML output
// escapes contact values; links are rewritten to signed click-tracking URLs
// at compile time and an open pixel is appended. Contact data is only ever
// data: it is never parsed as a template.
package templates

import (
	"math"
	"sync"
	"time"

	"herald/contacts"
	"herald/tracking"
)

// Data is what a template sees as its dot. Times are in the contact's own
// time zone, so {{date "2 January" .LastPurchaseAt}} prints their local day.
type Data struct {
	ContactID    int64
	Email        string
	FirstName    string
	LastName     string
	FullName     string
	City         string
	Country      string
	Language     string
	Timezone     string
	Birthday     string
	Anniversary  string
	FamilyStatus string
	Source       string
	Status       string
	SignupAt     time.Time
	// Attr holds custom attributes; every defined custom field is present
	// (empty when the contact has no value), so templates never print
	// "<no value>".
	Attr map[string]any

	OrdersCount             int64
	TotalSpent              Money
	FirstPurchaseAt         time.Time
	LastPurchaseAt          time.Time
	LastVisitAt             time.Time
	LastOpenAt              time.Time
	LastClickAt             time.Time
	AvgDaysBetweenPurchases float64
	// DaysSinceLastPurchase is -1 for contacts who never bought.
	DaysSinceLastPurchase int
	// YearsSinceSignup and YearsSinceFirstPurchase are whole years (0 when
	// unknown), for anniversary messages.
	YearsSinceSignup        int
	YearsSinceFirstPurchase int

	Campaign       CampaignInfo
	UnsubscribeURL string
	WebViewURL     string
	// Now is the time of sending in the contact's time zone.
	Now time.Time

	links   Links
	coupons Coupons
}

// CampaignInfo is what a template knows about its campaign.
type CampaignInfo struct {
	ID       int64
	Name     string
	FromName string
	// Currency is the store currency that the contact's TotalSpent is
	// kept in, in its minor unit, as contacts.Store.Currency gives it (an
	// upper-case ISO 4217 code); when empty, TotalSpent prints with two
	// decimals and no symbol.
	Currency string
}

// Money is an amount in the minor unit of its currency (cents, yen, fils)
// that prints in major units: "12.50", "1250" for yen, "12.500" for dinars.
type Money struct {
	Minor    int64
	Currency string // empty when unknown: two decimals
}

// Major is the amount in major units.
func (m Money) Major() float64 {
	return contacts.ToMajor(m.Minor, m.Currency)
}

// String prints the amount in major units with its currency's decimals.
func (m Money) String() string {
	return formatMinor(m.Minor, contacts.CurrencyExponent(m.Currency))
}

// Links tells Data how to make tracked URLs for one message.
type Links struct {
	Signer    *tracking.Signer
	BaseURL   string // e.g. https://mail.example.com, no trailing slash
	Campaign  int64
	Contact   int64
	Untracked bool // test sends and previews keep the original URLs
	// LinkBase is added to the number of each tracked link: the links of
	// an A/B test variant's own body are stored apart from the campaign's.
	LinkBase int64
}

// NewData builds the template data of a contact. fieldNames are the
// defined custom fields; now is the time of sending.
func NewData(c contacts.Contact, fieldNames []string, campaign CampaignInfo, links Links, now time.Time) *Data {
	loc := location(c.Timezone)
	local := func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return t.In(loc)
	}
	attrs := make(map[string]any, len(fieldNames)+len(c.Attributes))
	for _, n := range fieldNames {
		attrs[n] = ""
	}
	for k, v := range c.Attributes {
		attrs[k] = v
	}
	d := &Data{
		ContactID:       c.ID,
		Email:           c.Email,
		FirstName:       c.FirstName,
		LastName:        c.LastName,
		FullName:        joinName(c.FirstName, c.LastName),
		City:            c.City,
		Country:         c.Country,
		Language:        c.Language,
		Timezone:        c.Timezone,
		Birthday:        c.Birthday,
		Anniversary:     c.Anniversary,
		FamilyStatus:    c.FamilyStatus,
		Source:          c.Source,
		Status:          string(c.Status),
		SignupAt:        local(c.SignupAt),
		Attr:            attrs,
		OrdersCount:     c.OrdersCount,
		TotalSpent:      Money{Minor: c.TotalSpent, Currency: campaign.Currency},
		FirstPurchaseAt: local(c.FirstPurchaseAt),
		LastPurchaseAt:  local(c.LastPurchaseAt),
		LastVisitAt:     local(c.LastVisitAt),
		LastOpenAt:      local(c.LastOpenAt),
		LastClickAt:     local(c.LastClickAt),
		Campaign:        campaign,
		Now:             now.In(loc),
		links:           links,
	}
	if c.AvgDaysBetweenPurchases != nil {
		d.AvgDaysBetweenPurchases = math.Round(*c.AvgDaysBetweenPurchases*10) / 10
	}
	d.DaysSinceLastPurchase = -1
	if c.LastPurchaseAt != nil {
		d.DaysSinceLastPurchase = calendarDays(d.LastPurchaseAt, d.Now)
	}
	if c.SignupAt != nil {
		d.YearsSinceSignup = wholeYears(d.SignupAt, d.Now)
	}
	if c.FirstPurchaseAt != nil {
		d.YearsSinceFirstPurchase = wholeYears(d.FirstPurchaseAt, d.Now)
	}
	if !links.Untracked && links.Signer != nil {
		d.UnsubscribeURL = links.BaseURL + "/u/" + links.Signer.Sign(tracking.Token{Kind: tracking.Unsubscribe, CampaignID: links.Campaign, ContactID: c.ID})
		d.WebViewURL = links.BaseURL + "/v/" + links.Signer.Sign(tracking.Token{Kind: tracking.View, CampaignID: links.Campaign, ContactID: c.ID})
	} else {
		d.UnsubscribeURL = links.BaseURL + "/u/preview"
		d.WebViewURL = links.BaseURL + "/v/preview"
	}
	return d
}

// locations caches time zones: time.LoadLocation reads the zone file
// every time, which would cost more than the rest of a render.
var locations sync.Map

func location(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	locations.Store(name, l)
	return l
}

// wholeYears counts the anniversaries of t passed by now, both in the
// contact's zone, by month and day: day-of-year numbers differ between
// leap and common years. An anniversary on 29 February counts on 1 March
// in common years.
func wholeYears(t, now time.Time) int {
	if t.After(now) {
		return 0
	}
	y := now.Year() - t.Year()
	if now.Month() < t.Month() || (now.Month() == t.Month() && now.Day() < t.Day()) {
		y--
	}
	return y
}

// calendarDays counts the midnights between t and now in their zone (the
// contact's): a purchase last evening was 1 day ago this morning, though
// fewer than 24 hours have passed. A time after now counts as 0.
func calendarDays(t, now time.Time) int {
	day := func(x time.Time) time.Time { return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC) }
	d := int(day(now).Sub(day(t)).Hours() / 24)
	return max(d, 0)
}

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

// tracked reports whether links of this message are to be tracked.
func (d *Data) tracked() bool { return !d.links.Untracked && d.links.Signer != nil }

// clickURL is the tracked URL of link i (1-based) of urls, or the link
// itself when the message is not tracked.
func (d *Data) clickURL(i int, urls []string) string {
	if i < 1 || i > len(urls) {
		return ""
	}
	if !d.tracked() {
		return urls[i-1]
	}
	return d.links.BaseURL + "/t/c/" + d.links.Signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: d.links.Campaign, ContactID: d.ContactID, LinkID: d.links.LinkBase + int64(i)})
}

// openURL is the URL of the open pixel.
func (d *Data) openURL() string {
	return d.links.BaseURL + "/t/o/" + d.links.Signer.Sign(tracking.Token{Kind: tracking.Open, CampaignID: d.links.Campaign, ContactID: d.ContactID})
}
