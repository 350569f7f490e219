package contacts

import "testing"

func TestCurrencyExponentFollowsTheMinorUnit(t *testing.T) {
	tests := []struct {
		currency string
		want     int
	}{{"EUR", 2}, {"usd", 2}, {"JPY", 0}, {" krw ", 0}, {"KWD", 3}, {"BHD", 3}, {"", 2}, {"XXX", 2}}
	for _, tc := range tests {
		if got := CurrencyExponent(tc.currency); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.currency, got, tc.want)
		}
	}
}
