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

func TestAmountsConvertBetweenMajorAndMinorUnitsByTheCurrencysExponent(t *testing.T) {
	tests := []struct {
		currency string
		major    float64
		minor    int64
	}{
		{"EUR", 19.99, 1999}, {"USD", 0.1, 10}, {"JPY", 1500, 1500}, {"KWD", 1.234, 1234}, {"EUR", 1e10, 1e12},
	}
	for _, tc := range tests {
		if got := ToMinor(tc.major, tc.currency); got != tc.minor {
			t.Errorf("ToMinor(%v, %s) = %d, want %d", tc.major, tc.currency, got, tc.minor)
		}
		if got := ToMajor(tc.minor, tc.currency); got != tc.major {
			t.Errorf("ToMajor(%d, %s) = %v, want %v", tc.minor, tc.currency, got, tc.major)
		}
	}
}

func TestValidCurrencyAcceptsThreeLettersOnly(t *testing.T) {
	for code, want := range map[string]bool{"EUR": true, " jpy ": true, "EURO": false, "E1R": false, "": false, "€": false} {
		if got := ValidCurrency(code); got != want {
			t.Errorf("ValidCurrency(%q) = %v, want %v", code, got, want)
		}
	}
}
