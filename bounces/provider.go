package bounces

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/textproto"
	"time"
)

// Request is what a provider's webhook received: its headers, body, the
// HTTP basic credentials when it sent any, and the secret path segment
// when the route has one.
type Request struct {
	Header         textproto.MIMEHeader
	Body           []byte
	User, Password string
	HasAuth        bool
	PathSecret     string
}

// Provider checks that a request comes from the provider and reads its
// reports. A request that does not prove its origin is an ErrSignature
// error and a body that cannot be read an errs.InvalidError; in either
// case nothing is to be stored.
type Provider interface {
	Parse(ctx context.Context, req Request) ([]Report, error)
}

// MaxBody is the largest webhook body read; providers batch events well
// below it.
const MaxBody = 1 << 20

// replayWindow is how old a signed timestamp may be: a captured request
// played again later is refused (and within the window counted once).
const replayWindow = 15 * time.Minute

func signatureError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSignature, fmt.Sprintf(format, args...))
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// equalHex compares a hex MAC given by a request with the expected one in
// constant time.
func equalHex(given string, want []byte) bool {
	b, err := hex.DecodeString(given)
	return err == nil && hmac.Equal(b, want)
}

// unixTime reads a provider's Unix timestamp in seconds (JSON number).
func unixTime(sec float64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	// Providers give microseconds; a float64 holds no more than that.
	s := int64(sec)
	return time.Unix(s, int64(math.Round((sec-float64(s))*1e6))*1e3).UTC()
}
