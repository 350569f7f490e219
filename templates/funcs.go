package templates

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"herald/contacts"
)

// FuncNames documents the function map, in the order the docs list it.
var FuncNames = []string{"default", "title", "upper", "lower", "trim", "date", "money", "plural", "coupon"}

// funcs is the function map shared by every template. None of them returns
// template.HTML, so nothing can switch off html/template's escaping.
func funcs() map[string]any {
	return map[string]any{
		"default": defaultValue,
		"title":   title,
		"upper":   strings.ToUpper,
		"lower":   strings.ToLower,
		"trim":    strings.TrimSpace,
		"date":    formatDate,
		"money":   formatMoney,
		"plural":  plural,
		"coupon":  couponPlaceholder,
	}
}

// defaultValue returns v unless it is empty (blank text, zero number, zero
// time, false, nil), in which case it returns def. It is written for the
// pipeline form {{.FirstName | default "there"}}.
func defaultValue(def any, v any) any {
	if isEmpty(v) {
		return def
	}
	return v
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case time.Time:
		return x.IsZero()
	case Money:
		return x.Minor == 0
	case bool:
		return !x
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() == 0
	case reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// title capitalises the first letter of each word ("anna maria" -> "Anna
// Maria") and leaves the rest alone, so "McDonald" and scripts without case
// come through unchanged.
func title(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, r := range s {
		if start && unicode.IsLetter(r) {
			b.WriteRune(unicode.ToTitle(r))
			start = false
			continue
		}
		b.WriteRune(r)
		start = unicode.IsSpace(r) || r == '-'
	}
	return b.String()
}

// formatDate formats a time (already in the contact's zone) with a Go
// layout; a zero time prints as nothing so default can stand in.
func formatDate(layout string, v any) (string, error) {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return "", nil
		}
		return t.Format(layout), nil
	case string:
		if t == "" {
			return "", nil
		}
		if strings.HasPrefix(t, "--") { // a yearly date without a year
			p, err := time.Parse("2006-01-02", "2000"+t[1:])
			if err != nil {
				return "", fmt.Errorf("date: %q is not a date", t)
			}
			return p.Format(layout), nil
		}
		p, err := time.Parse("2006-01-02", t)
		if err != nil {
			return "", fmt.Errorf("date: %q is not a date", t)
		}
		return p.Format(layout), nil
	}
	return "", fmt.Errorf("date: cannot format %T", v)
}

var currencySymbols = map[string]string{
	"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "ILS": "₪", "INR": "₹",
	"CAD": "CA$", "AUD": "A$", "CHF": "CHF ", "IRR": "﷼", "TRY": "₺",
}

// formatMoney prints an amount with its currency, in that currency's
// decimals (none for JPY, three for KWD): {{money .TotalSpent}} (in the
// store currency the amount is kept in), {{money .TotalSpent "EUR"}}, or
// {{money 10 "USD"}} (a plain number is in major units, so 10 is ten
// dollars). A Money that knows its currency prints in it whatever the
// argument: its amount is in that currency's minor unit, and printing it
// under another would show a wrong price.
func formatMoney(v any, currency ...string) (string, error) {
	if len(currency) > 1 {
		return "", fmt.Errorf("money: takes an amount and at most one currency, got %d currencies", len(currency))
	}
	code := ""
	if len(currency) == 1 {
		code = strings.ToUpper(strings.TrimSpace(currency[0]))
		if !contacts.ValidCurrency(code) {
			return "", fmt.Errorf("money: %q is not an ISO 4217 currency code such as EUR", currency[0])
		}
	}
	if m, ok := v.(Money); ok {
		if m.Currency != "" {
			code = m.Currency
		}
		return withSymbol(formatGrouped(m.Minor, contacts.CurrencyExponent(code)), code), nil
	}
	if code == "" {
		return "", fmt.Errorf("money: a plain amount needs its currency, as in {{money 10 \"EUR\"}}")
	}
	var major float64
	switch x := v.(type) {
	case int:
		major = float64(x)
	case int64:
		major = float64(x)
	case float64:
		major = x
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return "", fmt.Errorf("money: %q is not an amount", x)
		}
		major = f
	default:
		return "", fmt.Errorf("money: cannot format %T", v)
	}
	exp := contacts.CurrencyExponent(code)
	minor := math.Round(major * math.Pow10(exp))
	// Beyond 2^53 a float no longer holds every whole number of minor units.
	if math.IsNaN(minor) || math.Abs(minor) > 1<<53 {
		return "", fmt.Errorf("money: %v is out of range", v)
	}
	return withSymbol(formatGrouped(int64(minor), exp), code), nil
}

// withSymbol puts the currency's symbol before the amount ("€12.50"), or
// its code after it ("12.500 KWD") when it has no well-known symbol.
func withSymbol(amount, code string) string {
	if code == "" {
		return amount
	}
	if sym, ok := currencySymbols[code]; ok {
		return sym + amount
	}
	return amount + " " + code
}

// formatMinor prints minor units with exp decimals: (1250, 2) is "12.50",
// (10, 0) is "10", (10500, 3) is "10.500".
func formatMinor(minor int64, exp int) string {
	return formatMinorSep(minor, exp, "")
}

// formatGrouped is formatMinor with the thousands grouped (1234567, 2) is
// "12,345.67": amounts printed with their currency are read by people, in
// messages and on pages; the bare number ({{.TotalSpent}}) stays plain for
// templates that put it in a link or compare it.
func formatGrouped(minor int64, exp int) string {
	return formatMinorSep(minor, exp, ",")
}

func formatMinorSep(minor int64, exp int, sep string) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	frac := ""
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits, frac = digits[:len(digits)-exp], "."+digits[len(digits)-exp:]
	}
	if sep != "" && len(digits) > 3 {
		var b strings.Builder
		for i := range len(digits) {
			if i > 0 && (len(digits)-i)%3 == 0 {
				b.WriteString(sep)
			}
			b.WriteByte(digits[i])
		}
		digits = b.String()
	}
	if neg {
		return "-" + digits + frac
	}
	return digits + frac
}

// plural picks the singular or plural word for a count:
// {{.OrdersCount}} {{plural .OrdersCount "order" "orders"}}.
func plural(n any, one, many string) (string, error) {
	var f float64
	switch x := n.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case float64:
		f = x
	default:
		return "", fmt.Errorf("plural: %T is not a number", n)
	}
	if f == 1 {
		return one, nil
	}
	return many, nil
}

// FormatMinor formats an amount in minor units of currency as {{money}}
// does (€1,234.50), for Herald's own pages.
func FormatMinor(minor int64, currency string) string {
	code := strings.ToUpper(strings.TrimSpace(currency))
	return withSymbol(formatGrouped(minor, contacts.CurrencyExponent(code)), code)
}
