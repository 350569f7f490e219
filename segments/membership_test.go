package segments_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/segments"
)

// shopFields are the custom fields of the shop world: one of each type.
var shopFields = map[string]contacts.FieldType{
	"plan":    contacts.FieldText,
	"score":   contacts.FieldNumber,
	"vip":     contacts.FieldBool,
	"renewal": contacts.FieldDate,
}

// shopPeople are the fifteen contacts of the shop world. Today is
// 2026-12-28; 2027 is not a leap year, 2028 is.
var shopPeople = []person{
	{email: "ann@example.com", first: "Ann", city: "Amsterdam", country: "NL", source: "website", family: "married",
		birthday: "1990-12-30", anniversary: "2015-01-02", signup: "2026-01-15T09:00:00Z",
		attrs: map[string]any{"plan": "Pro", "score": 42.0, "vip": true, "renewal": "2026-12-01"}},
	{email: "bob@example.com", first: "Bob", city: "AMSTERDAM", country: "nl", source: "import", family: "single",
		birthday: "1984-02-29", signup: "2025-06-01T00:00:00Z",
		attrs: map[string]any{"plan": "basic", "score": 7.5, "vip": false, "renewal": "2025-06-30"}},
	{email: "cleo@example.com", first: "Cleo", city: "amsterdam", country: "BE", source: "website",
		birthday: "--12-28", anniversary: "2010-12-31", signup: "2026-11-01T12:00:00Z",
		attrs: map[string]any{"plan": "PRO", "score": 100.0, "vip": true}},
	{email: "dan@example.com", first: "Dan", city: "Rotterdam", country: "NL", source: "facebook", family: "married", status: "unsubscribed",
		birthday: "1975-01-05", signup: "2024-03-10T08:00:00Z",
		attrs: map[string]any{"score": 0.0, "renewal": "2027-03-01"}},
	{email: "eve@example.com", first: "Eve", city: "Paris", country: "FR", source: "website", family: "single",
		signup: "2026-12-20T15:00:00Z"},
	{email: "fay@example.com", first: "Fay", city: "paris", country: "FR", source: "import", family: "married",
		birthday: "1992-03-01", anniversary: "2020-02-28", signup: "2023-05-05T05:05:05Z",
		attrs: map[string]any{"plan": "basic"}},
	{email: "gus@example.com", first: "Gus", city: "Berlin", country: "DE", source: "referral", status: "bounced",
		birthday: "2000-02-28", signup: "2022-08-08T08:08:08Z",
		attrs: map[string]any{"vip": false}},
	{email: "hal@example.com", first: "Hal", country: "DE", source: "50%_off",
		birthday: "1999-01-04", signup: "2026-12-27T00:00:00Z"},
	{email: "ida@example.com", first: "Ida", city: "Utrecht", country: "NL", source: "spring_sale", family: "widowed",
		birthday: "2001-12-29", signup: "2026-06-15T10:00:00Z",
		attrs: map[string]any{"score": -3.0}},
	{email: "jon@shop.example.org", first: "Jon", city: "Antwerp", country: "BE", source: "import", family: "married", status: "complained",
		anniversary: "1999-12-28", signup: "2021-01-01T00:00:00Z",
		attrs: map[string]any{"renewal": "2026-11-01"}},
	{email: "kim@example.com", first: "Kim", source: "website", signup: "2026-12-01T09:00:00Z"},
	{email: "leo@example.com", first: "Leo", city: "Lyon", country: "FR", source: "referral", family: "single",
		birthday: "1980-02-27", attrs: map[string]any{"vip": true}},
	{email: "mia@example.com", first: "Mia", city: "Amstelveen", country: "NL", source: "website", family: "married",
		attrs: map[string]any{"plan": "enterprise"}},
	{email: "ned@example.com", first: "Ned", city: "Ghent", country: "BE", source: "import", status: "unsubscribed"},
	{email: "ola@example.com", first: "Ola", city: "Oslo", country: "NO", source: "website", family: "single"},
}

const everyone = "ann bob cleo dan eve fay gus hal ida jon kim leo mia ned ola"

// newShop seeds the shop world: the people above, four sent campaigns
// (60, 30, 10 and 2 days ago) with their deliveries, and the activity that
// engagement and event rules read.
func newShop(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, fixedClock(now), shopFields, shopPeople)
	sentAt := map[string]time.Time{"$C1": daysAgo(60), "$C2": daysAgo(30), "$C3": daysAgo(10), "$C4": daysAgo(2)}
	for _, k := range []string{"$C1", "$C2", "$C3", "$C4"} {
		w.campaign(t, k)
	}
	sent := func(who string, keys ...string) {
		for _, k := range keys {
			w.deliver(t, k, who, campaigns.DeliverySent, sentAt[k])
		}
	}
	sent("ann", "$C1", "$C2", "$C3", "$C4")
	sent("bob", "$C1", "$C2", "$C3", "$C4")
	sent("cleo", "$C3", "$C4")
	sent("dan", "$C1", "$C2", "$C3", "$C4")
	sent("fay", "$C1", "$C3", "$C4")
	w.deliver(t, "$C2", "fay", campaigns.DeliveryFailed, time.Time{})
	sent("gus", "$C1", "$C2")
	w.deliver(t, "$C3", "gus", campaigns.DeliveryQueued, time.Time{})
	w.deliver(t, "$C4", "gus", campaigns.DeliveryQueued, time.Time{})
	sent("ida", "$C4")

	open := func(who, key string, d float64, machine bool) ev {
		return ev{who: who, typ: contacts.EventOpen, at: daysAgo(d), campaign: key, machine: machine}
	}
	click := func(who, key string, d float64, machine bool) ev {
		return ev{who: who, typ: contacts.EventClick, at: daysAgo(d), campaign: key, machine: machine}
	}
	buy := func(who string, d float64, amount int64, props map[string]any) ev {
		return ev{who: who, typ: contacts.EventPurchase, at: daysAgo(d), amount: amount, props: props}
	}
	visit := func(who string, d float64) ev { return ev{who: who, typ: contacts.EventVisit, at: daysAgo(d)} }
	w.record(t,
		// Opens and clicks. Machine ones come from privacy proxies and scanners.
		open("ann", "$C1", 59, false), open("ann", "$C2", 29, false), open("ann", "$C3", 9, false), open("ann", "$C4", 1, false),
		click("ann", "$C4", 1, false),
		open("bob", "$C1", 58, false),
		open("cleo", "$C3", 9, false), open("cleo", "$C4", 1, false), click("cleo", "$C3", 10, true),
		open("dan", "$C3", 10, true), open("dan", "$C4", 2, true), click("dan", "$C4", 2, true),
		open("fay", "$C1", 59, false), open("fay", "$C3", 9, false), open("fay", "$C4", 1, false),
		open("gus", "$C2", 29, false), click("gus", "$C2", 29, false),
		open("ida", "$C4", 2, true), click("ida", "$C4", 1, false),

		// Purchases (amounts in minor units) with product properties.
		buy("ann", 200, 30000, map[string]any{"category": "watercolor", "qty": 2}),
		buy("ann", 20, 60000, map[string]any{"category": "watercolor", "qty": 1, "gift": true}),
		buy("bob", 5, 80000, map[string]any{"category": "oil", "qty": 1}),
		buy("cleo", 400, 1234, map[string]any{"category": "watercolor", "qty": "two"}),
		buy("cleo", 100, 1000, map[string]any{"category": "brushes"}),
		buy("cleo", 3, 500, map[string]any{"category": "brushes", "sku": "5"}),
		buy("fay", 59.5, 15000, map[string]any{"category": "watercolor", "sku": 5}),
		buy("fay", 8, 5000, map[string]any{"category": "oil"}),
		buy("gus", 2, 99999, map[string]any{"category": "easel", "gift": false}),
		buy("ida", 1, 1234, map[string]any{"category": "watercolor"}),
		buy("jon", 35, 50000, map[string]any{"category": "oil", "qty": 2}),

		// Visits and a custom event.
		visit("ann", 1), visit("ann", 3), visit("ann", 10),
		visit("bob", 40),
		visit("eve", 2), visit("eve", 4),
		visit("hal", 1),
		visit("kim", 100),
		ev{who: "kim", typ: "trial.started", at: daysAgo(5)},
		ev{who: "mia", typ: "trial.started", at: daysAgo(40)},
	)
	return w
}

// membershipCase is a definition and exactly who it matches. now and loc
// replace the suite's clock and time zone when set.
type membershipCase struct {
	name string
	def  string
	want string
	now  time.Time
	loc  string
}

var membershipCases = []membershipCase{
	// Text fields: case-insensitive except the normalised email, country and status.
	{name: "city eq ignores case", def: `{"field":"city","op":"eq","value":"amsterdam"}`, want: "ann bob cleo"},
	{name: "city eq with mixed-case value", def: `{"field":"city","op":"eq","value":" AmStErDaM "}`, want: "ann bob cleo"},
	{name: "city neq includes contacts without a city", def: `{"field":"city","op":"neq","value":"Amsterdam"}`, want: "dan eve fay gus hal ida jon kim leo mia ned ola"},
	{name: "city contains", def: `{"field":"city","op":"contains","value":"ERDA"}`, want: "ann bob cleo dan"},
	{name: "city starts_with", def: `{"field":"city","op":"starts_with","value":"amst"}`, want: "ann bob cleo mia"},
	{name: "city in", def: `{"field":"city","op":"in","value":["paris","BERLIN"]}`, want: "eve fay gus"},
	{name: "city not_in includes contacts without a city", def: `{"field":"city","op":"not_in","value":["paris","berlin","amsterdam"]}`, want: "dan hal ida jon kim leo mia ned ola"},
	{name: "city is_set", def: `{"field":"city","op":"is_set"}`, want: "ann bob cleo dan eve fay gus ida jon leo mia ned ola"},
	{name: "city is_not_set", def: `{"field":"city","op":"is_not_set"}`, want: "hal kim"},
	{name: "contains treats percent literally", def: `{"field":"source","op":"contains","value":"%"}`, want: "hal"},
	{name: "contains treats underscore literally", def: `{"field":"source","op":"contains","value":"_"}`, want: "hal ida"},
	{name: "starts_with treats wildcards literally", def: `{"field":"source","op":"starts_with","value":"50%_"}`, want: "hal"},
	{name: "source eq", def: `{"field":"source","op":"eq","value":"Website"}`, want: "ann cleo eve kim mia ola"},
	{name: "email eq is normalised", def: `{"field":"email","op":"eq","value":"ANN@Example.COM"}`, want: "ann"},
	{name: "email contains", def: `{"field":"email","op":"contains","value":"@SHOP."}`, want: "jon"},
	{name: "email starts_with", def: `{"field":"email","op":"starts_with","value":"b"}`, want: "bob"},
	{name: "email in", def: `{"field":"email","op":"in","value":["CLEO@example.com","nobody@example.com"]}`, want: "cleo"},
	{name: "email not_in", def: `{"field":"email","op":"not_in","value":["ann@example.com","bob@example.com","cleo@example.com","dan@example.com","eve@example.com","fay@example.com","gus@example.com"]}`, want: "hal ida jon kim leo mia ned ola"},
	{name: "email neq", def: `{"field":"email","op":"neq","value":"ann@example.com"}`, want: "bob cleo dan eve fay gus hal ida jon kim leo mia ned ola"},
	{name: "country eq is normalised", def: `{"field":"country","op":"eq","value":"nl"}`, want: "ann bob dan ida mia"},
	{name: "country in", def: `{"field":"country","op":"in","value":["be","Fr"]}`, want: "cleo eve fay jon leo ned"},
	{name: "country not_in includes contacts without a country", def: `{"field":"country","op":"not_in","value":["NL"]}`, want: "cleo eve fay gus hal jon kim leo ned ola"},
	{name: "country is_not_set", def: `{"field":"country","op":"is_not_set"}`, want: "kim"},
	{name: "country starts_with ignores case", def: `{"field":"country","op":"starts_with","value":"n"}`, want: "ann bob dan ida mia ola"},
	{name: "status eq", def: `{"field":"status","op":"eq","value":"subscribed"}`, want: "ann bob cleo eve fay hal ida kim leo mia ola"},
	{name: "status in is normalised", def: `{"field":"status","op":"in","value":["Bounced","COMPLAINED"]}`, want: "gus jon"},
	{name: "status neq", def: `{"field":"status","op":"neq","value":"subscribed"}`, want: "dan gus jon ned"},
	{name: "family_status eq ignores case", def: `{"field":"family_status","op":"eq","value":"MARRIED"}`, want: "ann dan fay jon mia"},
	{name: "family_status is_not_set", def: `{"field":"family_status","op":"is_not_set"}`, want: "cleo gus hal kim ned"},
	{name: "first_name eq ignores case", def: `{"field":"first_name","op":"eq","value":"ANN"}`, want: "ann"},
	{name: "eq empty text matches unset", def: `{"field":"city","op":"eq","value":""}`, want: "hal kim"},

	// Text custom attributes.
	{name: "attr text eq ignores case", def: `{"field":"attr.plan","op":"eq","value":"pro"}`, want: "ann cleo"},
	{name: "attr text neq includes unset", def: `{"field":"attr.plan","op":"neq","value":"pro"}`, want: "bob dan eve fay gus hal ida jon kim leo mia ned ola"},
	{name: "attr text in", def: `{"field":"attr.plan","op":"in","value":["Basic","enterprise"]}`, want: "bob fay mia"},
	{name: "attr text not_in includes unset", def: `{"field":"attr.plan","op":"not_in","value":["basic"]}`, want: "ann cleo dan eve gus hal ida jon kim leo mia ned ola"},
	{name: "attr text contains", def: `{"field":"attr.plan","op":"contains","value":"PRI"}`, want: "mia"},
	{name: "attr text starts_with", def: `{"field":"attr.plan","op":"starts_with","value":"ba"}`, want: "bob fay"},
	{name: "attr text is_set", def: `{"field":"attr.plan","op":"is_set"}`, want: "ann bob cleo fay mia"},
	{name: "attr text is_not_set", def: `{"field":"attr.plan","op":"is_not_set"}`, want: "dan eve gus hal ida jon kim leo ned ola"},

	// Number fields. Money is in major units: 800 means 80000 minor units.
	{name: "orders_count eq", def: `{"field":"orders_count","op":"eq","value":2}`, want: "ann fay"},
	{name: "orders_count neq", def: `{"field":"orders_count","op":"neq","value":0}`, want: "ann bob cleo fay gus ida jon"},
	{name: "orders_count gt", def: `{"field":"orders_count","op":"gt","value":1}`, want: "ann cleo fay"},
	{name: "orders_count gte", def: `{"field":"orders_count","op":"gte","value":1}`, want: "ann bob cleo fay gus ida jon"},
	{name: "orders_count lt", def: `{"field":"orders_count","op":"lt","value":1}`, want: "dan eve hal kim leo mia ned ola"},
	{name: "orders_count lte", def: `{"field":"orders_count","op":"lte","value":1}`, want: "bob dan eve gus hal ida jon kim leo mia ned ola"},
	{name: "orders_count between is inclusive", def: `{"field":"orders_count","op":"between","value":[2,3]}`, want: "ann cleo fay"},
	{name: "orders_count lt a fraction", def: `{"field":"orders_count","op":"lt","value":1.5}`, want: "bob dan eve gus hal ida jon kim leo mia ned ola"},
	{name: "orders_count is_set always holds", def: `{"field":"orders_count","op":"is_set"}`, want: everyone},
	{name: "total_spent gt 800 means 80000 minor units", def: `{"field":"total_spent","op":"gt","value":800}`, want: "ann gus"},
	{name: "total_spent gte 800", def: `{"field":"total_spent","op":"gte","value":800}`, want: "ann bob gus"},
	{name: "total_spent eq with cents", def: `{"field":"total_spent","op":"eq","value":12.34}`, want: "ida"},
	{name: "total_spent between", def: `{"field":"total_spent","op":"between","value":[12.34,500]}`, want: "cleo fay ida jon"},
	{name: "total_spent lt", def: `{"field":"total_spent","op":"lt","value":27.34}`, want: "dan eve hal ida kim leo mia ned ola"},
	{name: "total_spent lte", def: `{"field":"total_spent","op":"lte","value":27.34}`, want: "cleo dan eve hal ida kim leo mia ned ola"},
	{name: "total_spent neq", def: `{"field":"total_spent","op":"neq","value":0}`, want: "ann bob cleo fay gus ida jon"},
	{name: "total_spent gt 999.99", def: `{"field":"total_spent","op":"gte","value":999.99}`, want: "gus"},
	{name: "avg_days_between_purchases gte", def: `{"field":"avg_days_between_purchases","op":"gte","value":100}`, want: "ann cleo"},
	{name: "avg_days_between_purchases eq a fraction", def: `{"field":"avg_days_between_purchases","op":"eq","value":198.5}`, want: "cleo"},
	{name: "avg_days_between_purchases lt excludes unknown", def: `{"field":"avg_days_between_purchases","op":"lt","value":100}`, want: "fay"},
	{name: "avg_days_between_purchases is_set", def: `{"field":"avg_days_between_purchases","op":"is_set"}`, want: "ann cleo fay"},
	{name: "avg_days_between_purchases is_not_set", def: `{"field":"avg_days_between_purchases","op":"is_not_set"}`, want: "bob dan eve gus hal ida jon kim leo mia ned ola"},

	// Number custom attributes.
	{name: "attr number gt", def: `{"field":"attr.score","op":"gt","value":10}`, want: "ann cleo"},
	{name: "attr number eq a fraction", def: `{"field":"attr.score","op":"eq","value":7.5}`, want: "bob"},
	{name: "attr number between", def: `{"field":"attr.score","op":"between","value":[0,10]}`, want: "bob dan"},
	{name: "attr number lt negative", def: `{"field":"attr.score","op":"lt","value":0}`, want: "ida"},
	{name: "attr number lte", def: `{"field":"attr.score","op":"lte","value":0}`, want: "dan ida"},
	{name: "attr number gte", def: `{"field":"attr.score","op":"gte","value":100}`, want: "cleo"},
	{name: "attr number neq excludes unset", def: `{"field":"attr.score","op":"neq","value":42}`, want: "bob cleo dan ida"},
	{name: "attr number is_set", def: `{"field":"attr.score","op":"is_set"}`, want: "ann bob cleo dan ida"},
	{name: "attr number is_not_set", def: `{"field":"attr.score","op":"is_not_set"}`, want: "eve fay gus hal jon kim leo mia ned ola"},

	// Time fields.
	{name: "last_purchase_at within_last", def: `{"field":"last_purchase_at","op":"within_last","value":"30d"}`, want: "ann bob cleo fay gus ida"},
	{name: "last_purchase_at within_last weeks", def: `{"field":"last_purchase_at","op":"within_last","value":"1w"}`, want: "bob cleo gus ida"},
	{name: "last_purchase_at within_last hours", def: `{"field":"last_purchase_at","op":"within_last","value":"36h"}`, want: "ida"},
	{name: "last_purchase_at not_within_last matches never", def: `{"field":"last_purchase_at","op":"not_within_last","value":"30d"}`, want: "dan eve hal jon kim leo mia ned ola"},
	{name: "last_purchase_at not_within_last years", def: `{"field":"last_purchase_at","op":"not_within_last","value":"1y"}`, want: "dan eve hal kim leo mia ned ola"},
	{name: "last_purchase_at is_set", def: `{"field":"last_purchase_at","op":"is_set"}`, want: "ann bob cleo fay gus ida jon"},
	{name: "last_purchase_at is_not_set", def: `{"field":"last_purchase_at","op":"is_not_set"}`, want: "dan eve hal kim leo mia ned ola"},
	{name: "first_purchase_at before a date", def: `{"field":"first_purchase_at","op":"before","value":"2026-01-01"}`, want: "cleo"},
	{name: "first_purchase_at after a time", def: `{"field":"first_purchase_at","op":"after","value":"2026-12-20T00:00:00Z"}`, want: "bob gus ida"},
	{name: "first_purchase_at after a time with offset", def: `{"field":"first_purchase_at","op":"after","value":"2026-12-23T12:00:00+01:00"}`, want: "gus ida"},
	{name: "signup_at before a date", def: `{"field":"signup_at","op":"before","value":"2026-01-01"}`, want: "bob dan fay gus jon"},
	{name: "signup_at after a date means from the next day", def: `{"field":"signup_at","op":"after","value":"2026-12-20"}`, want: "hal leo mia ned ola"},
	{name: "signup_at before a date excludes that day", def: `{"field":"signup_at","op":"before","value":"2026-12-27"}`, want: "ann bob cleo dan eve fay gus ida jon kim"},
	{name: "signup_at within_last", def: `{"field":"signup_at","op":"within_last","value":"30d"}`, want: "eve hal kim leo mia ned ola"},
	{name: "last_visit_at is_not_set", def: `{"field":"last_visit_at","op":"is_not_set"}`, want: "cleo dan fay gus ida jon leo mia ned ola"},
	{name: "last_visit_at not_within_last", def: `{"field":"last_visit_at","op":"not_within_last","value":"30d"}`, want: "bob cleo dan fay gus ida jon kim leo mia ned ola"},
	{name: "last_open_at ignores machine opens", def: `{"field":"last_open_at","op":"within_last","value":"7d"}`, want: "ann cleo fay"},
	{name: "last_open_at is_set", def: `{"field":"last_open_at","op":"is_set"}`, want: "ann bob cleo fay gus"},
	{name: "last_click_at within_last", def: `{"field":"last_click_at","op":"within_last","value":"2d"}`, want: "ann ida"},
	{name: "last_click_at before", def: `{"field":"last_click_at","op":"before","value":"2026-12-01"}`, want: "gus"},
	{name: "created_at is_set", def: `{"field":"created_at","op":"is_set"}`, want: everyone},

	// Date custom attributes (YYYY-MM-DD).
	{name: "attr date before", def: `{"field":"attr.renewal","op":"before","value":"2026-07-01"}`, want: "bob"},
	{name: "attr date after excludes that day", def: `{"field":"attr.renewal","op":"after","value":"2026-12-01"}`, want: "dan"},
	{name: "attr date after", def: `{"field":"attr.renewal","op":"after","value":"2026-11-30"}`, want: "ann dan"},
	{name: "attr date within_last excludes the future", def: `{"field":"attr.renewal","op":"within_last","value":"30d"}`, want: "ann"},
	{name: "attr date not_within_last matches never and the future", def: `{"field":"attr.renewal","op":"not_within_last","value":"30d"}`, want: "bob cleo dan eve fay gus hal ida jon kim leo mia ned ola"},
	{name: "attr date is_set", def: `{"field":"attr.renewal","op":"is_set"}`, want: "ann bob dan jon"},
	{name: "attr date is_not_set", def: `{"field":"attr.renewal","op":"is_not_set"}`, want: "cleo eve fay gus hal ida kim leo mia ned ola"},

	// Bool custom attributes.
	{name: "attr bool eq true", def: `{"field":"attr.vip","op":"eq","value":true}`, want: "ann cleo leo"},
	{name: "attr bool eq false", def: `{"field":"attr.vip","op":"eq","value":false}`, want: "bob gus"},
	{name: "attr bool neq true excludes unset", def: `{"field":"attr.vip","op":"neq","value":true}`, want: "bob gus"},
	{name: "attr bool neq false", def: `{"field":"attr.vip","op":"neq","value":false}`, want: "ann cleo leo"},
	{name: "attr bool is_set", def: `{"field":"attr.vip","op":"is_set"}`, want: "ann bob cleo gus leo"},
	{name: "attr bool is_not_set", def: `{"field":"attr.vip","op":"is_not_set"}`, want: "dan eve fay hal ida jon kim mia ned ola"},

	// Yearly dates: the year is ignored, windows cross the year end, and
	// 29 February counts as 28 February in years without it.
	{name: "birthday is_today", def: `{"field":"birthday","op":"is_today"}`, want: "cleo"},
	{name: "birthday within_next_days 0 is today", def: `{"field":"birthday","op":"within_next_days","value":0}`, want: "cleo"},
	{name: "birthday within_next_days across the year end", def: `{"field":"birthday","op":"within_next_days","value":7}`, want: "ann cleo hal ida"},
	{name: "birthday within_next_days boundary day", def: `{"field":"birthday","op":"within_next_days","value":8}`, want: "ann cleo dan hal ida"},
	{name: "birthday window ending 27 February", def: `{"field":"birthday","op":"within_next_days","value":61}`, want: "ann cleo dan hal ida leo"},
	{name: "birthday window ending 28 February in a non-leap year includes 29 February", def: `{"field":"birthday","op":"within_next_days","value":62}`, want: "ann bob cleo dan gus hal ida leo"},
	{name: "birthday window of a whole year", def: `{"field":"birthday","op":"within_next_days","value":366}`, want: "ann bob cleo dan fay gus hal ida leo"},
	{name: "birthday month_is February", def: `{"field":"birthday","op":"month_is","value":2}`, want: "bob gus leo"},
	{name: "birthday month_is December", def: `{"field":"birthday","op":"month_is","value":12}`, want: "ann cleo ida"},
	{name: "birthday month_is current", def: `{"field":"birthday","op":"month_is","value":"current"}`, want: "ann cleo ida"},
	{name: "birthday month_is next across the year end", def: `{"field":"birthday","op":"month_is","value":"next"}`, want: "dan hal"},
	{name: "the current month is local to the service time zone", def: `{"field":"birthday","op":"month_is","value":"current"}`, want: "dan hal",
		now: time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), loc: "Pacific/Kiritimati"},
	{name: "birthday is_set", def: `{"field":"birthday","op":"is_set"}`, want: "ann bob cleo dan fay gus hal ida leo"},
	{name: "birthday is_not_set", def: `{"field":"birthday","op":"is_not_set"}`, want: "eve jon kim mia ned ola"},
	{name: "anniversary within_next_days across the year end", def: `{"field":"anniversary","op":"within_next_days","value":5}`, want: "ann cleo jon"},
	{name: "anniversary is_today", def: `{"field":"anniversary","op":"is_today"}`, want: "jon"},
	{name: "anniversary month_is", def: `{"field":"anniversary","op":"month_is","value":2}`, want: "fay"},
	{name: "anniversary month_is next", def: `{"field":"anniversary","op":"month_is","value":"next"}`, want: "ann"},
	{name: "anniversary is_set", def: `{"field":"anniversary","op":"is_set"}`, want: "ann cleo fay jon"},
	{name: "29 February is today on 28 February of a non-leap year", def: `{"field":"birthday","op":"is_today"}`, want: "bob gus",
		now: time.Date(2027, 2, 28, 12, 0, 0, 0, time.UTC)},
	{name: "28 February of a leap year is not 29 February", def: `{"field":"birthday","op":"is_today"}`, want: "gus",
		now: time.Date(2028, 2, 28, 12, 0, 0, 0, time.UTC)},
	{name: "29 February of a leap year", def: `{"field":"birthday","op":"is_today"}`, want: "bob",
		now: time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)},
	{name: "1 March of a non-leap year is not 29 February", def: `{"field":"birthday","op":"is_today"}`, want: "fay",
		now: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)},
	{name: "window over 28 February of a non-leap year", def: `{"field":"birthday","op":"within_next_days","value":1}`, want: "bob gus leo",
		now: time.Date(2027, 2, 27, 12, 0, 0, 0, time.UTC)},
	{name: "window over 28 February of a leap year", def: `{"field":"birthday","op":"within_next_days","value":1}`, want: "gus leo",
		now: time.Date(2028, 2, 27, 12, 0, 0, 0, time.UTC)},
	{name: "anniversary is_today on 28 February", def: `{"field":"anniversary","op":"is_today"}`, want: "fay",
		now: time.Date(2027, 2, 28, 12, 0, 0, 0, time.UTC)},
	{name: "today is local to the service time zone", def: `{"field":"birthday","op":"is_today"}`, want: "ida",
		loc: "Pacific/Kiritimati"},

	// Engagement: the last N campaigns each contact was sent. Campaigns
	// went out 60 ($C1), 30 ($C2), 10 ($C3) and 2 ($C4) days ago.
	{name: "opened any_of_last 1", def: `{"field":"opened","op":"any_of_last","value":1}`, want: "ann cleo fay gus"},
	{name: "opened any_of_last counts machines when asked", def: `{"field":"opened","op":"any_of_last","value":1,"machines":true}`, want: "ann cleo dan fay gus ida"},
	{name: "opened any_of_last 3", def: `{"field":"opened","op":"any_of_last","value":3}`, want: "ann cleo fay gus"},
	{name: "opened any_of_last 4", def: `{"field":"opened","op":"any_of_last","value":4}`, want: "ann bob cleo fay gus"},
	{name: "opened all_of_last with fewer sent means all sent", def: `{"field":"opened","op":"all_of_last","value":4}`, want: "ann cleo fay"},
	{name: "opened all_of_last skips failed deliveries", def: `{"field":"opened","op":"all_of_last","value":3}`, want: "ann cleo fay"},
	{name: "opened all_of_last 2", def: `{"field":"opened","op":"all_of_last","value":2}`, want: "ann cleo fay"},
	{name: "opened all_of_last with machines", def: `{"field":"opened","op":"all_of_last","value":2,"machines":true}`, want: "ann cleo dan fay ida"},
	{name: "opened none_of_last only matches contacts sent a campaign", def: `{"field":"opened","op":"none_of_last","value":2}`, want: "bob dan ida"},
	{name: "opened none_of_last with machines", def: `{"field":"opened","op":"none_of_last","value":2,"machines":true}`, want: "bob"},
	{name: "opened campaign", def: `{"field":"opened","op":"campaign","value":$C1}`, want: "ann bob fay"},
	{name: "opened campaign ignores machine opens", def: `{"field":"opened","op":"campaign","value":$C4}`, want: "ann cleo fay"},
	{name: "opened campaign with machines", def: `{"field":"opened","op":"campaign","value":$C4,"machines":true}`, want: "ann cleo dan fay ida"},
	{name: "opened campaign nobody was sent", def: `{"field":"opened","op":"campaign","value":999999}`, want: ""},
	{name: "clicked any_of_last 1", def: `{"field":"clicked","op":"any_of_last","value":1}`, want: "ann gus ida"},
	{name: "clicked any_of_last with machines", def: `{"field":"clicked","op":"any_of_last","value":2,"machines":true}`, want: "ann cleo dan gus ida"},
	{name: "clicked all_of_last 1", def: `{"field":"clicked","op":"all_of_last","value":1}`, want: "ann gus ida"},
	{name: "clicked none_of_last", def: `{"field":"clicked","op":"none_of_last","value":4}`, want: "bob cleo dan fay"},
	{name: "clicked campaign ignores machine clicks", def: `{"field":"clicked","op":"campaign","value":$C3}`, want: ""},
	{name: "clicked campaign with machines", def: `{"field":"clicked","op":"campaign","value":$C3,"machines":true}`, want: "cleo"},

	// Event counts.
	{name: "purchase count_gte 1 within", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"30d"}}`, want: "ann bob cleo fay gus ida"},
	{name: "purchase count_gte 2 ever", def: `{"field":"event.purchase","op":"count_gte","value":{"n":2}}`, want: "ann cleo fay"},
	{name: "purchase count_gte 3 ever", def: `{"field":"event.purchase","op":"count_gte","value":{"n":3}}`, want: "cleo"},
	{name: "purchase count_gte 2 within", def: `{"field":"event.purchase","op":"count_gte","value":{"n":2,"within":"90d"}}`, want: "fay"},
	{name: "purchase count_gte 0 matches everyone", def: `{"field":"event.purchase","op":"count_gte","value":{"n":0}}`, want: everyone},
	{name: "purchase count_lt 1 within matches never", def: `{"field":"event.purchase","op":"count_lt","value":{"n":1,"within":"30d"}}`, want: "dan eve hal jon kim leo mia ned ola"},
	{name: "purchase count_lt 2 within", def: `{"field":"event.purchase","op":"count_lt","value":{"n":2,"within":"90d"}}`, want: "ann bob cleo dan eve gus hal ida jon kim leo mia ned ola"},
	{name: "purchase where category within a year", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"365d","where":{"category":"watercolor"}}}`, want: "ann fay ida"},
	{name: "purchase where category ever", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"category":"watercolor"}}}`, want: "ann cleo fay ida"},
	{name: "purchase where count_gte 2", def: `{"field":"event.purchase","op":"count_gte","value":{"n":2,"where":{"category":"watercolor"}}}`, want: "ann"},
	{name: "purchase where count_lt", def: `{"field":"event.purchase","op":"count_lt","value":{"n":1,"where":{"category":"oil"}}}`, want: "ann cleo dan eve gus hal ida kim leo mia ned ola"},
	{name: "purchase where number ignores texts", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"qty":2}}}`, want: "ann jon"},
	{name: "purchase where text does not match a number", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"sku":"5"}}}`, want: "cleo"},
	{name: "purchase where number does not match a text", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"sku":5}}}`, want: "fay"},
	{name: "purchase where true", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"gift":true}}}`, want: "ann"},
	{name: "purchase where false", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"gift":false}}}`, want: "gus"},
	{name: "purchase where two properties of one event", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"category":"watercolor","qty":1}}}`, want: "ann"},
	{name: "purchase since_campaign", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"since_campaign":$C3}}`, want: "bob cleo fay"},
	{name: "purchase since_campaign count_lt only matches contacts sent it", def: `{"field":"event.purchase","op":"count_lt","value":{"n":1,"since_campaign":$C3}}`, want: "ann dan"},
	{name: "purchase since_campaign count_gte 0 only matches contacts sent it", def: `{"field":"event.purchase","op":"count_gte","value":{"n":0,"since_campaign":$C3}}`, want: "ann bob cleo dan fay"},
	{name: "purchase since_campaign with where", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"since_campaign":$C1,"where":{"category":"watercolor"}}}`, want: "ann fay"},
	{name: "visit count_gte 3 within", def: `{"field":"event.visit","op":"count_gte","value":{"n":3,"within":"30d"}}`, want: "ann"},
	{name: "visit count_gte 2 within", def: `{"field":"event.visit","op":"count_gte","value":{"n":2,"within":"30d"}}`, want: "ann eve"},
	{name: "email.open events ignore machines", def: `{"field":"event.email.open","op":"count_gte","value":{"n":1,"within":"7d"}}`, want: "ann cleo fay"},
	{name: "email.open events with machines", def: `{"field":"event.email.open","op":"count_gte","value":{"n":1,"within":"7d"},"machines":true}`, want: "ann cleo dan fay ida"},
	{name: "email.click events ignore machines", def: `{"field":"event.email.click","op":"count_gte","value":{"n":1,"within":"30d"}}`, want: "ann gus ida"},
	{name: "email.click count_lt with machines", def: `{"field":"event.email.click","op":"count_lt","value":{"n":1},"machines":true}`, want: "bob eve fay hal jon kim leo mia ned ola"},
	{name: "custom event within", def: `{"field":"event.trial.started","op":"count_gte","value":{"n":1,"within":"30d"}}`, want: "kim"},
	{name: "custom event ever", def: `{"field":"event.trial.started","op":"count_gte","value":{"n":1}}`, want: "kim mia"},
	{name: "event type nobody has", def: `{"field":"event.signup","op":"count_lt","value":{"n":1}}`, want: everyone},

	// Top percent of the contacts with a value (above zero for roll-ups):
	// the k-th largest value, k = ceil(count * percent / 100), and every
	// contact reaching it. Spent: gus 999.99, ann 900, bob 800, jon 500,
	// fay 200, cleo 27.34, ida 12.34.
	{name: "total_spent top_percent 20", def: `{"field":"total_spent","op":"top_percent","value":20}`, want: "ann gus"},
	{name: "total_spent top_percent 1 is the largest", def: `{"field":"total_spent","op":"top_percent","value":1}`, want: "gus"},
	{name: "total_spent top_percent 50 rounds up", def: `{"field":"total_spent","op":"top_percent","value":50}`, want: "ann bob gus jon"},
	{name: "total_spent top_percent 99 leaves out those who never bought", def: `{"field":"total_spent","op":"top_percent","value":99}`, want: "ann bob cleo fay gus ida jon"},
	{name: "orders_count top_percent keeps ties", def: `{"field":"orders_count","op":"top_percent","value":20}`, want: "ann cleo fay"},
	{name: "orders_count top_percent 10", def: `{"field":"orders_count","op":"top_percent","value":10}`, want: "cleo"},
	{name: "last_purchase_at top_percent is the most recent", def: `{"field":"last_purchase_at","op":"top_percent","value":30}`, want: "cleo gus ida"},
	{name: "first_purchase_at top_percent", def: `{"field":"first_purchase_at","op":"top_percent","value":50}`, want: "bob gus ida jon"},
	{name: "signup_at top_percent keeps ties at the threshold", def: `{"field":"signup_at","op":"top_percent","value":20}`, want: "leo mia ned ola"},
	{name: "signup_at top_percent 40", def: `{"field":"signup_at","op":"top_percent","value":40}`, want: "eve hal leo mia ned ola"},
	{name: "last_open_at top_percent ignores machine opens", def: `{"field":"last_open_at","op":"top_percent","value":20}`, want: "ann cleo fay"},
	{name: "last_click_at top_percent", def: `{"field":"last_click_at","op":"top_percent","value":50}`, want: "ann ida"},
	{name: "last_visit_at top_percent", def: `{"field":"last_visit_at","op":"top_percent","value":20}`, want: "ann hal"},
	{name: "top_percent on recency, frequency and money", def: `{"all":[{"field":"last_purchase_at","op":"top_percent","value":50},{"field":"orders_count","op":"top_percent","value":50},{"field":"total_spent","op":"top_percent","value":50}]}`, want: "bob gus"},
	{name: "the same top_percent twice in a tree", def: `{"any":[{"field":"total_spent","op":"top_percent","value":20},{"not":{"field":"total_spent","op":"top_percent","value":20}}]}`, want: everyone},

	// Groups.
	{name: "empty all matches everyone", def: `{"all":[]}`, want: everyone},
	{name: "empty any matches nobody", def: `{"any":[]}`, want: ""},
	{name: "not of empty all", def: `{"not":{"all":[]}}`, want: ""},
	{name: "all of one rule", def: `{"all":[{"field":"country","op":"eq","value":"FR"}]}`, want: "eve fay leo"},
	{name: "all", def: `{"all":[{"field":"country","op":"eq","value":"NL"},{"field":"total_spent","op":"gt","value":100}]}`, want: "ann bob"},
	{name: "any", def: `{"any":[{"field":"city","op":"eq","value":"paris"},{"field":"birthday","op":"is_today"}]}`, want: "cleo eve fay"},
	{name: "not rule", def: `{"not":{"field":"city","op":"eq","value":"amsterdam"}}`, want: "dan eve fay gus hal ida jon kim leo mia ned ola"},
	{name: "not not", def: `{"not":{"not":{"field":"country","op":"eq","value":"BE"}}}`, want: "cleo jon ned"},
	{name: "nested all any not", def: `{"all":[{"field":"status","op":"eq","value":"subscribed"},{"any":[{"field":"opened","op":"any_of_last","value":1},{"field":"clicked","op":"any_of_last","value":1}]},{"not":{"field":"country","op":"in","value":["FR"]}}]}`, want: "ann cleo ida"},
	{name: "any of alls with nots", def: `{"any":[{"all":[{"field":"city","op":"starts_with","value":"amst"},{"not":{"field":"attr.vip","op":"eq","value":true}}]},{"all":[{"field":"country","op":"eq","value":"FR"},{"not":{"field":"attr.plan","op":"is_set"}}]}]}`, want: "bob eve leo mia"},
	{name: "not within_last is not_within_last", def: `{"not":{"field":"last_purchase_at","op":"within_last","value":"30d"}}`, want: "dan eve hal jon kim leo mia ned ola"},
	{name: "not within_last on a date attribute is not_within_last", def: `{"not":{"field":"attr.renewal","op":"within_last","value":"30d"}}`, want: "bob cleo dan eve fay gus hal ida jon kim leo mia ned ola"},
	{name: "not none_of_last", def: `{"not":{"field":"opened","op":"none_of_last","value":2}}`, want: "ann cleo eve fay gus hal jon kim leo mia ned ola"},
	{name: "not of a number rule includes unset", def: `{"not":{"field":"attr.score","op":"gt","value":10}}`, want: "bob dan eve fay gus hal ida jon kim leo mia ned ola"},
	{name: "not of a bool rule includes unset", def: `{"not":{"field":"attr.vip","op":"eq","value":true}}`, want: "bob dan eve fay gus hal ida jon kim mia ned ola"},
	{name: "watercolour buyers who did not open the last campaign", def: `{"all":[{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"category":"watercolor"}}},{"not":{"field":"opened","op":"any_of_last","value":1}}]}`, want: "ida"},
}

// TestMembership runs every case through Preview, through Create and
// Members, and checks that {"not": case} matches exactly everyone else.
func TestMembership(t *testing.T) {
	w := newShop(t)
	ctx := context.Background()
	all := names(everyone)
	for _, tc := range membershipCases {
		t.Run(tc.name, func(t *testing.T) {
			clockNow := now
			if !tc.now.IsZero() {
				clockNow = tc.now
			}
			var loc *time.Location
			if tc.loc != "" {
				var err error
				if loc, err = time.LoadLocation(tc.loc); err != nil {
					t.Fatal(err)
				}
			}
			svc := segments.NewService(w.g, w.store, fixedClock(clockNow), loc)
			def := w.expand(tc.def)
			want := names(tc.want)

			n, sample, err := svc.Preview(ctx, []byte(def), 100)
			if err != nil {
				t.Fatalf("Preview(%s): %v", def, err)
			}
			if got := contactSet(sample); !got.equal(want) || n != int64(len(want)) {
				t.Errorf("Preview(%s) = %d: %v, want %d: %v", def, n, got, len(want), want)
			}

			name := tc.name
			seg, err := svc.Create(ctx, segments.Input{Name: &name, Definition: json.RawMessage(def)})
			if err != nil {
				t.Fatalf("Create(%s): %v", def, err)
			}
			if got := members(t, svc, seg.ID); !got.equal(want) {
				t.Errorf("members of %s = %v, want %v", def, got, want)
			}
			if seg.MemberCount != int64(len(want)) {
				t.Errorf("member_count of %s = %d, want %d", def, seg.MemberCount, len(want))
			}

			not := `{"not":` + def + `}`
			n, sample, err = svc.Preview(ctx, []byte(not), 100)
			if err != nil {
				t.Fatalf("Preview(%s): %v", not, err)
			}
			if got, rest := contactSet(sample), all.minus(want); !got.equal(rest) || n != int64(len(rest)) {
				t.Errorf("Preview(%s) = %v, want everyone else: %v", not, got, rest)
			}
		})
	}
}

// TestPreviewSample checks that the sample is the first contacts by id and
// never larger than asked, while the count covers everyone.
func TestPreviewSample(t *testing.T) {
	w := newShop(t)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	n, sample, err := svc.Preview(ctx, []byte(`{"field":"country","op":"eq","value":"NL"}`), 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("count = %d, want 5", n)
	}
	if got := contactSet(sample); !got.equal(names("ann bob")) {
		t.Errorf("sample = %v, want the first two by id: ann bob", got)
	}
	n, sample, err = svc.Preview(ctx, []byte(`{"field":"country","op":"eq","value":"NL"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 || len(sample) != 0 {
		t.Errorf("sample 0: count %d and %d contacts, want 5 and none", n, len(sample))
	}
}

// TestMistypedAttributesReadAsUnset stores attributes before their custom
// fields are defined, with values of other types: a rule reads a value of
// the wrong type as unset, the same on both engines.
func TestMistypedAttributesReadAsUnset(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, []person{
		{email: "typed@example.com", attrs: map[string]any{"plan": "true", "score": 12.0, "vip": true, "renewal": "2026-12-01"}},
		{email: "mistyped@example.com", attrs: map[string]any{"plan": true, "score": "12", "vip": "true", "renewal": 20261201.0}},
		{email: "bare@example.com"},
	})
	ctx := context.Background()
	for n, typ := range shopFields {
		if _, err := w.store.CreateField(ctx, n, typ); err != nil {
			t.Fatal(err)
		}
	}
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	for _, tc := range []struct{ def, want string }{
		{`{"field":"attr.plan","op":"is_set"}`, "typed"},
		{`{"field":"attr.plan","op":"eq","value":"true"}`, "typed"},
		{`{"field":"attr.plan","op":"neq","value":"true"}`, "mistyped bare"},
		{`{"field":"attr.plan","op":"in","value":["true","1"]}`, "typed"},
		{`{"field":"attr.plan","op":"contains","value":"t"}`, "typed"},
		{`{"field":"attr.score","op":"is_set"}`, "typed"},
		{`{"field":"attr.score","op":"eq","value":12}`, "typed"},
		{`{"field":"attr.vip","op":"is_set"}`, "typed"},
		{`{"field":"attr.renewal","op":"is_set"}`, "typed"},
		{`{"field":"attr.renewal","op":"is_not_set"}`, "mistyped bare"},
		{`{"field":"attr.renewal","op":"after","value":"2000-01-01"}`, "typed"},
		{`{"field":"attr.renewal","op":"not_within_last","value":"1y"}`, "mistyped bare"},
	} {
		n, cs, err := svc.Preview(ctx, []byte(tc.def), 10)
		if err != nil {
			t.Fatalf("Preview(%s): %v", tc.def, err)
		}
		if got := contactSet(cs); !got.equal(names(tc.want)) || n != int64(len(names(tc.want))) {
			t.Errorf("Preview(%s) = %v, want %v", tc.def, got, names(tc.want))
		}
	}
}
