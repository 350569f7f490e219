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
	"hash"
	"sync"
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
	// Resubscribe is the link of the confirmation email a person who
	// unsubscribed asks for to subscribe again; it carries its expiry.
	Resubscribe Kind = 'r'
)

// Token is what a signed token carries.
type Token struct {
	Kind       Kind
	CampaignID int64
	ContactID  int64
	LinkID     int64 // clicks only
	// Expires is when a Resubscribe token stops working, in Unix seconds;
	// the caller checks it.
	Expires int64
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
	// macs holds keyed HMACs for reuse: every tracking request verifies a
	// token, and a reset HMAC starts from its saved keyed state instead of
	// hashing the key pads again.
	macs sync.Pool
}

// NewSigner derives the token key from Herald's secret, so the same secret
// can key other things without their MACs ever being interchangeable.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("tracking: secret is %d bytes, need at least 16", len(secret))
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald tracking token v1"))
	s := &Signer{key: m.Sum(nil)}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, s.key)} }
	return s, nil
}

// Sign returns the URL-safe text of t.
func (s *Signer) Sign(t Token) string {
	buf := make([]byte, 0, 2+3*binary.MaxVarintLen64+macLen)
	buf = append(buf, version, byte(t.Kind))
	buf = binary.AppendUvarint(buf, uint64(t.CampaignID))
	buf = binary.AppendUvarint(buf, uint64(t.ContactID))
	switch t.Kind {
	case Click:
		buf = binary.AppendUvarint(buf, uint64(t.LinkID))
	case Resubscribe:
		buf = binary.AppendUvarint(buf, uint64(t.Expires))
	}
	st := s.macs.Get().(*macState)
	buf = append(buf, st.sum(buf)...)
	s.macs.Put(st)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// macState is a keyed HMAC with room for its input and output, so that
// neither escapes to the heap through the hash.Hash interface.
type macState struct {
	h   hash.Hash
	in  [maxTokenLen]byte
	out [sha256.Size]byte
}

// sum returns the first macLen bytes of the payload's HMAC; they are valid
// until the state goes back to the pool.
func (m *macState) sum(payload []byte) []byte {
	n := copy(m.in[:], payload)
	m.h.Reset()
	m.h.Write(m.in[:n])
	return m.h.Sum(m.out[:0])[:macLen]
}

// maxTokenLen is the longest token text Verify accepts.
const maxTokenLen = 128

// Verify checks a token's signature and kind and returns what it carries.
func (s *Signer) Verify(text string, kind Kind) (Token, error) {
	if len(text) > maxTokenLen || !urlSafe(text) {
		return Token{}, ErrInvalid
	}
	// Decoded on the stack: no allocation per request.
	var in [maxTokenLen]byte
	var dec [maxTokenLen]byte
	n, err := base64.RawURLEncoding.Strict().Decode(dec[:], in[:copy(in[:], text)])
	if err != nil || n < 2+macLen {
		return Token{}, ErrInvalid
	}
	raw := dec[:n]
	payload, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	st := s.macs.Get().(*macState)
	ok := subtle.ConstantTimeCompare(mac, st.sum(payload)) == 1
	s.macs.Put(st)
	if !ok {
		return Token{}, ErrInvalid
	}
	if payload[0] != version || Kind(payload[1]) != kind {
		return Token{}, ErrInvalid
	}
	t := Token{Kind: kind}
	rest := payload[2:]
	fields := [3]*int64{&t.CampaignID, &t.ContactID, &t.LinkID}
	nFields := 2
	switch kind {
	case Click:
		nFields = 3
	case Resubscribe:
		fields[2], nFields = &t.Expires, 3
	}
	for _, f := range fields[:nFields] {
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
