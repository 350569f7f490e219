package tracking

import (
	"errors"
	"strings"
	"testing"
)

func newTestReturnPath(t *testing.T, secret, addr string) *ReturnPath {
	t.Helper()
	r, err := NewReturnPath([]byte(secret), addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVERPAddressRoundTripsToTheDelivery(t *testing.T) {
	r := newTestReturnPath(t, "a test secret of enough length", "bounces@shop.example")
	for _, id := range []int64{1, 42, 127, 128, 1 << 20, 1<<62 - 1} {
		addr := r.Address(id)
		if !strings.HasPrefix(addr, "bounces+") || !strings.HasSuffix(addr, "@shop.example") {
			t.Fatalf("Address(%d) = %q, want bounces+TOKEN@shop.example", id, addr)
		}
		if len(addr) > 64 {
			t.Errorf("Address(%d) = %q is %d characters; keep it short", id, addr, len(addr))
		}
		for _, form := range []string{addr, strings.ToUpper(addr), "<" + addr + ">", "Mail Delivery <" + addr + ">"} {
			got, err := r.DeliveryID(form)
			if err != nil || got != id {
				t.Errorf("DeliveryID(%q) = %d, %v; want %d", form, got, err, id)
			}
		}
	}
	if r.Plain() != "bounces@shop.example" {
		t.Errorf("Plain() = %q", r.Plain())
	}
}

func TestVERPRefusesForgedAndForeignAddresses(t *testing.T) {
	r := newTestReturnPath(t, "a test secret of enough length", "bounces@shop.example")
	other := newTestReturnPath(t, "another secret of enough length", "bounces@shop.example")
	good := r.Address(42)
	token := strings.TrimSuffix(strings.TrimPrefix(good, "bounces+"), "@shop.example")
	flip := []byte(token)
	if flip[3] == 'a' {
		flip[3] = 'b'
	} else {
		flip[3] = 'a'
	}
	for _, tc := range []struct{ name, addr string }{
		{"signed with another secret", other.Address(42)},
		{"one character of the token changed", "bounces+" + string(flip) + "@shop.example"},
		{"another domain", "bounces+" + token + "@evil.example"},
		{"another local part", "news+" + token + "@shop.example"},
		{"the plain return path", "bounces@shop.example"},
		{"an empty token", "bounces+@shop.example"},
		{"not base32", "bounces+!!!!@shop.example"},
		{"a token cut short", "bounces+" + token[:len(token)-2] + "@shop.example"},
		{"a token too long", "bounces+" + strings.Repeat("a", 200) + "@shop.example"},
		{"no address at all", "nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if id, err := r.DeliveryID(tc.addr); !errors.Is(err, ErrNotVERP) {
				t.Errorf("DeliveryID(%q) = %d, %v; want ErrNotVERP", tc.addr, id, err)
			}
		})
	}
}

func TestNewReturnPathRefusesAddressesItCannotTag(t *testing.T) {
	for _, addr := range []string{"", "bounces", "Shop <bounces@shop.example>", "bounces+x@shop.example", "a b@shop.example"} {
		if _, err := NewReturnPath([]byte("a test secret of enough length"), addr); err == nil {
			t.Errorf("NewReturnPath(%q) accepted it", addr)
		}
	}
	if _, err := NewReturnPath([]byte("short"), "bounces@shop.example"); err == nil {
		t.Error("NewReturnPath accepted a short secret")
	}
}

func FuzzVERPDeliveryID(f *testing.F) {
	r, err := NewReturnPath([]byte("a test secret of enough length"), "bounces@shop.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Address(42))
	f.Add("bounces+@shop.example")
	f.Add("<bounces+aaaa@shop.example>")
	f.Fuzz(func(t *testing.T, addr string) {
		id, err := r.DeliveryID(addr)
		if err != nil {
			return
		}
		// Anything accepted must be the canonical address of its id.
		if !strings.EqualFold(r.Address(id), addrOf(addr)) {
			t.Fatalf("DeliveryID(%q) = %d, whose address is %q", addr, id, r.Address(id))
		}
	})
}

// addrOf strips what DeliveryID allows around an address.
func addrOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		s = strings.TrimSuffix(s[i+1:], ">")
	}
	return s
}
