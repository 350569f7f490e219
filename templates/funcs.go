package templates

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
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

// formatMoney prints an amount with its currency: {{money .TotalSpent "EUR"}}
// or {{money 10 "USD"}} (a plain number is in major units).
func formatMoney(v any, currency string) (string, error) {
	var minor int64
	switch x := v.(type) {
	case Money:
		minor = x.Minor
	case int:
		minor = int64(x) * 100
	case int64:
		minor = x * 100
	case float64:
		minor = int64(math.Round(x * 100))
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return "", fmt.Errorf("money: %q is not an amount", x)
		}
		minor = int64(math.Round(f * 100))
	default:
		return "", fmt.Errorf("money: cannot format %T", v)
	}
	code := strings.ToUpper(strings.TrimSpace(currency))
	if sym, ok := currencySymbols[code]; ok {
		return sym + formatMinor(minor), nil
	}
	return formatMinor(minor) + " " + code, nil
}

func formatMinor(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
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
