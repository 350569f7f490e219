// Package jsonstr appends JSON string literals to byte slices, for the hot
// paths that write JSON by hand instead of through encoding/json: tracked
// hits on their way to the event stream, and event batches bound as one
// JSON argument on SQLite.
package jsonstr

import "unicode/utf8"

// Append quotes s as a JSON string onto b; invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func Append(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
