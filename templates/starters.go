package templates

import (
	"embed"
	"fmt"
	"slices"
)

// starterFiles holds the HTML of the starter templates, one file per key.
//
//go:embed starters/*.html
var starterFiles embed.FS

// Starter is ready-made campaign content a marketer can begin from: a
// subject and a responsive, self-contained HTML body written in the
// template language. CouponPools names the pools its {{coupon}} calls take
// codes from; they must be uploaded before the campaign is sent.
type Starter struct {
	Key         string
	Name        string
	Description string
	Subject     string
	HTML        string
	CouponPools []string
}

// starterMeta lists the starters in the order Starters returns them; the
// HTML of each is starters/<Key>.html.
var starterMeta = []Starter{
	{
		Key:         "welcome",
		Name:        "Welcome",
		Description: "Greets a new subscriber, says what to expect and points to the shop.",
		Subject:     `Welcome to Example Shop, {{.FirstName | title | default "friend"}}!`,
	},
	{
		Key:         "birthday",
		Name:        "Birthday gift",
		Description: "Wishes the contact a happy birthday and offers a free gift with their next order.",
		Subject:     `Happy birthday, {{.FirstName | title | default "friend"}}! A little gift inside`,
	},
	{
		Key:         "anniversary",
		Name:        "Customer anniversary",
		Description: "Thanks the contact on the anniversary of their first order (or signup) and offers free shipping.",
		Subject:     `Happy anniversary, {{.FirstName | title | default "friend"}}! Thank you for being with us`,
	},
	{
		Key:         "winback",
		Name:        "Win-back ($10 coupon)",
		Description: "For customers with no purchase in 60 to 180 days: we miss you, with a personal $10 coupon from the WINBACK10 pool.",
		Subject:     `We miss you, {{.FirstName | title | default "friend"}}: here is {{money 10 "USD"}} off`,
		CouponPools: []string{"WINBACK10"},
	},
	{
		Key:         "lapsed",
		Name:        "Lapsed customer ($20 coupon)",
		Description: "For customers with no purchase in over 180 days: what has changed, with a personal $20 coupon from the WINBACK20 pool.",
		Subject:     `It has been too long, {{.FirstName | title | default "friend"}}: {{money 20 "USD"}} off to welcome you back`,
		CouponPools: []string{"WINBACK20"},
	},
	{
		Key:         "reengage",
		Name:        "Re-engagement",
		Description: "Asks unengaged contacts whether they still want to hear from you: one click to stay (a tracked click), one to unsubscribe.",
		Subject:     `Do you still want to hear from us, {{.FirstName | title | default "friend"}}?`,
	},
	{
		Key:         "viewed",
		Name:        "Viewed product reminder",
		Description: "Reminds the contact of a product they looked at; edit the product block's name, price and https://shop.example.com/ links.",
		Subject:     `Still interested, {{.FirstName | title | default "friend"}}?`,
	},
}

var starters = loadStarters()

func loadStarters() []Starter {
	out := make([]Starter, len(starterMeta))
	for i, s := range starterMeta {
		b, err := starterFiles.ReadFile("starters/" + s.Key + ".html")
		if err != nil {
			panic(fmt.Sprintf("templates: starter %q has no HTML: %v", s.Key, err))
		}
		s.HTML = string(b)
		out[i] = s
	}
	return out
}

// Starters returns every starter, always in the same order. The result is
// the caller's own copy.
func Starters() []Starter {
	out := make([]Starter, len(starters))
	for i, s := range starters {
		s.CouponPools = slices.Clone(s.CouponPools)
		out[i] = s
	}
	return out
}

// StarterByKey returns the starter called key.
func StarterByKey(key string) (Starter, bool) {
	for _, s := range starters {
		if s.Key == key {
			s.CouponPools = slices.Clone(s.CouponPools)
			return s, true
		}
	}
	return Starter{}, false
}
