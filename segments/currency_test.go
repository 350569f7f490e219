package segments_test

import (
	"slices"
	"testing"
	"time"

	"herald/segments"
)

// "Spent over 800" means 800 in the store currency's major unit: 80,000
// cents of a euro store, 800 yen of a yen store, 800,000 fils of a dinar
// store, as total_spent keeps minor units.
func TestMoneyRulesAreInTheStoreCurrency(t *testing.T) {
	tests := []struct {
		currency string
		want     int64
	}{
		{"", 80000}, // the default store currency has cents
		{"EUR", 80000},
		{"JPY", 800},
		{"KWD", 800000},
	}
	for _, tc := range tests {
		t.Run(tc.currency, func(t *testing.T) {
			n, err := segments.Parse([]byte(`{"field": "total_spent", "op": "gt", "value": 800}`))
			if err != nil {
				t.Fatal(err)
			}
			expr, err := (&segments.Compiler{Now: time.Now(), Currency: tc.currency}).Compile(n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(expr.Args, any(tc.want)) {
				t.Errorf("args %v, want %d minor units", expr.Args, tc.want)
			}
		})
	}
}
