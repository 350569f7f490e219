// Package tracking makes and checks the signed tokens in the links of every
// message Herald sends: the open pixel, click redirects, the unsubscribe
// page and the web view. A token names the campaign, the contact and (for a
// click) the campaign link; it cannot be forged or altered without the key.
package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind says what a token is for; a token of one kind is refused by the
// endpoints of the others.
type Kind byte

// Token kinds.
const (
	Open        Kind = 'o'
	Click       Kind = 'c'
	Unsubscribe Kind = 'u'
	View        Kind = 'v'
)

// Token is what a signed token carries.
type Token struct {
	Kind       Kind
	CampaignID int64
	ContactID  int64
	LinkID     int64 // clicks only
}

const (
	version = 1
	macLen  = 16
)

// ErrInvalid is returned for any token that does not verify.
var ErrInvalid = errors.New("tracking: invalid token")

// Signer signs and verifies tokens with a key derived from the secret.
type Signer struct {
	key []byte
}

// NewSigner derives the token key from Herald's secret, so the same secret
// can key other things without their MACs ever being interchangeable.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("tracking: secret is %d bytes, need at least 16", len(secret))
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald tracking token v1"))
	return &Signer{key: m.Sum(nil)}, nil
}

// Sign returns the URL-safe text of t.
func (s *Signer) Sign(t Token) string {
	buf := make([]byte, 0, 2+3*binary.MaxVarintLen64+macLen)
	buf = append(buf, version, byte(t.Kind))
	buf = binary.AppendUvarint(buf, uint64(t.CampaignID))
	buf = binary.AppendUvarint(buf, uint64(t.ContactID))
	if t.Kind == Click {
		buf = binary.AppendUvarint(buf, uint64(t.LinkID))
	}
	buf = append(buf, s.mac(buf)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}

// Verify checks a token's signature and kind and returns what it carries.
func (s *Signer) Verify(text string, kind Kind) (Token, error) {
	if len(text) > 128 || !urlSafe(text) {
		return Token{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(text)
	if err != nil || len(raw) < 2+macLen {
		return Token{}, ErrInvalid
	}
	payload, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if subtle.ConstantTimeCompare(mac, s.mac(payload)) != 1 {
		return Token{}, ErrInvalid
	}
	if payload[0] != version || Kind(payload[1]) != kind {
		return Token{}, ErrInvalid
	}
	t := Token{Kind: kind}
	rest := payload[2:]
	fields := []*int64{&t.CampaignID, &t.ContactID}
	if kind == Click {
		fields = append(fields, &t.LinkID)
	}
	for _, f := range fields {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<62 {
			return Token{}, ErrInvalid
		}
		*f = int64(v)
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return Token{}, ErrInvalid
	}
	return t, nil
}

// urlSafe reports whether text uses only the unpadded base64url alphabet.
// The decoder skips line breaks even in strict mode, which would let many
// texts stand for one token.
func urlSafe(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
