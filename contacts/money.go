package contacts

import (
	"math"
	"strings"
)

// DefaultCurrency is the store currency when none is configured: the one
// Herald's sample data, demo and benchmarks have always recorded.
const DefaultCurrency = "EUR"

// zeroDecimal and threeDecimal list ISO 4217 currencies whose minor unit is
// not a hundredth; every other currency has two decimals.
var (
	zeroDecimal  = map[string]bool{"BIF": true, "CLP": true, "DJF": true, "GNF": true, "ISK": true, "JPY": true, "KMF": true, "KRW": true, "PYG": true, "RWF": true, "UGX": true, "UYI": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true}
	threeDecimal = map[string]bool{"BHD": true, "IQD": true, "JOD": true, "KWD": true, "LYD": true, "OMR": true, "TND": true}
)

// CurrencyExponent is the number of decimals of a currency's minor unit:
// amounts are stored as integers of that unit (cents, yen, fils).
func CurrencyExponent(currency string) int {
	c := strings.ToUpper(strings.TrimSpace(currency))
	switch {
	case zeroDecimal[c]:
		return 0
	case threeDecimal[c]:
		return 3
	}
	return 2
}

// ValidCurrency reports whether code has the shape of an ISO 4217 code
// (three letters, any case).
func ValidCurrency(code string) bool {
	c := strings.ToUpper(strings.TrimSpace(code))
	return len(c) == 3 && strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// ToMajor turns an amount in minor units of currency into major units
// (1999 EUR cents are 19.99; 1500 yen stay 1500).
func ToMajor(minor int64, currency string) float64 {
	// Dividing by the power of ten, not multiplying by its inverse, keeps
	// 1999 cents 19.99 rather than 19.990000000000002.
	return float64(minor) / math.Pow10(CurrencyExponent(currency))
}

// ToMinor turns an amount in major units of currency into minor units,
// rounded to the nearest unit.
func ToMinor(major float64, currency string) int64 {
	return int64(math.Round(major * math.Pow10(CurrencyExponent(currency))))
}

// Currency is the store currency: every amount Herald keeps (event
// amounts, total_spent, campaign revenue) is in it. Like Klaviyo's account
// currency and Shopify's store currency, there is one per installation and
// Herald converts nothing: an event in another currency is refused.
func (s *Store) Currency() string { return s.opts.Currency }
