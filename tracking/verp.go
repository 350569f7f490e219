package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// ReturnPath makes and reads VERP envelope senders (variable envelope
// return paths): the envelope sender of delivery 42 of a return path
// bounces@shop.example is bounces+TOKEN@shop.example, where TOKEN carries
// the delivery id and a MAC of it. A bounce sent to that address names the
// delivery however badly the bounce itself is written, and the MAC keeps
// anyone who can send mail to the bounce address from passing off a
// made-up address as a bounce of someone else's delivery.
type ReturnPath struct {
	local, domain string
	key           []byte
}

// verpDelimiter separates the return path's local part from the token:
// Postfix's and Exim's usual recipient delimiter, so the mailbox behind
// the plain address receives every tagged one.
const verpDelimiter = "+"

// verpMACLen is the MAC's length in bytes: 64 bits keep a forger guessing
// far longer than anyone will try, with a short address.
const verpMACLen = 8

// verpEncoding is lower-case base32 without padding: local parts are
// often lower-cased on the way back, and base32 survives that.
var verpEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrNotVERP is returned for an address that is not a valid VERP address
// of this return path: another address, a bad token or a forged MAC.
var ErrNotVERP = errors.New("tracking: not a VERP address of this return path")

// NewReturnPath returns the return path of address addr (bounces@shop.example),
// keyed by a key derived from Herald's secret.
func NewReturnPath(secret []byte, addr string) (*ReturnPath, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("tracking: secret is %d bytes, need at least 16", len(secret))
	}
	local, domain, err := splitReturnPath(addr)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald verp v1"))
	return &ReturnPath{local: local, domain: strings.ToLower(domain), key: m.Sum(nil)}, nil
}

// CheckReturnPath tells whether addr can be a return path: a bare
// address whose local part can take a tag.
func CheckReturnPath(addr string) error {
	_, _, err := splitReturnPath(addr)
	return err
}

func splitReturnPath(addr string) (local, domain string, err error) {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(addr) {
		return "", "", fmt.Errorf("tracking: return path %q is not a bare address such as bounces@shop.example", addr)
	}
	local, domain, _ = strings.Cut(a.Address, "@")
	if strings.Contains(local, verpDelimiter) || strings.HasPrefix(local, `"`) {
		return "", "", fmt.Errorf("tracking: return path %q: the local part may not contain %q or quotes", addr, verpDelimiter)
	}
	return local, domain, nil
}

// Plain is the return path itself, for messages outside the ledger (test
// sends).
func (r *ReturnPath) Plain() string { return r.local + "@" + r.domain }

// Address is the VERP address of a delivery.
func (r *ReturnPath) Address(deliveryID int64) string {
	buf := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+verpMACLen), uint64(deliveryID))
	buf = append(buf, r.mac(buf)...)
	return r.local + verpDelimiter + verpEncoding.EncodeToString(buf) + "@" + r.domain
}

func (r *ReturnPath) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, r.key)
	m.Write(payload)
	return m.Sum(nil)[:verpMACLen]
}

// maxVERPToken bounds the token text DeliveryID decodes.
const maxVERPToken = 32

// DeliveryID returns the delivery whose VERP address addr is, checking
// its MAC. The local part is compared without regard to case, as mail
// systems on the way back may change it; angle brackets and a display
// name around the address are allowed.
func (r *ReturnPath) DeliveryID(addr string) (int64, error) {
	addr = strings.TrimSpace(addr)
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], r.domain) {
		return 0, ErrNotVERP
	}
	local := addr[:at]
	prefix := r.local + verpDelimiter
	if len(local) <= len(prefix) || !strings.EqualFold(local[:len(prefix)], prefix) {
		return 0, ErrNotVERP
	}
	token := strings.ToLower(local[len(prefix):])
	if len(token) > maxVERPToken {
		return 0, ErrNotVERP
	}
	raw, err := verpEncoding.DecodeString(token)
	if err != nil || len(raw) <= verpMACLen {
		return 0, ErrNotVERP
	}
	payload, mac := raw[:len(raw)-verpMACLen], raw[len(raw)-verpMACLen:]
	if subtle.ConstantTimeCompare(mac, r.mac(payload)) != 1 {
		return 0, ErrNotVERP
	}
	id, n := binary.Uvarint(payload)
	if n != len(payload) || id == 0 || id > 1<<62 {
		return 0, ErrNotVERP
	}
	// Only the canonical text of a token is accepted, so one delivery has
	// one address.
	if verpEncoding.EncodeToString(raw) != token {
		return 0, ErrNotVERP
	}
	return int64(id), nil
}
