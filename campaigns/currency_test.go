package campaigns_test

import (
	"context"
	"strings"
	"testing"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/testenv"
)

// {{money .TotalSpent}} speaks the store currency, in its own decimals:
// yen have none, dinars three.
func TestMoneyInMessagesIsInTheStoreCurrency(t *testing.T) {
	tests := []struct {
		currency string
		minor    int64
		want     string
	}{
		{"USD", 123456, "$1,234.56"},
		{"JPY", 5000, "¥5,000"},
		{"KWD", 12345, "12.345"},
	}
	for _, tc := range tests {
		t.Run(tc.currency, func(t *testing.T) {
			w := campaigntest.NewWorld(t)
			ctx := context.Background()
			cs := contacts.NewStore(w.DB, contacts.Options{Currency: tc.currency})
			svc := campaigns.NewService(w.DB, cs, w.Segments, w.Q, nil, campaigns.Config{BaseURL: "https://h.example", Log: testenv.Logger()})
			emails := w.AddContacts(t, 1, "NL")
			ct, _ := cs.GetByEmail(ctx, emails[0])
			if err := w.DB.Model(&contacts.Contact{}).Where("id = ?", ct.ID).Update("total_spent", tc.minor).Error; err != nil {
				t.Fatal(err)
			}
			name, subj, html, from := "Thanks", "You spent {{money .TotalSpent}}", "<p>{{money .TotalSpent}}</p>", "a@shop.example.com"
			c, err := svc.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from})
			if err != nil {
				t.Fatal(err)
			}
			r, err := svc.Preview(ctx, c.ID, ct.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Subject, tc.want) {
				t.Errorf("subject %q, want the amount %s", r.Subject, tc.want)
			}
		})
	}
}
