package tracking

import (
	"errors"
	"math"
	"strings"
	"testing"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func newSigner(t testing.TB, secret string) *Signer {
	t.Helper()
	s, err := NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var allKinds = []Kind{Open, Click, Unsubscribe, View}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name string
		tok  Token
	}{
		{"open", Token{Kind: Open, CampaignID: 1, ContactID: 2}},
		{"click", Token{Kind: Click, CampaignID: 12, ContactID: 345, LinkID: 6}},
		{"click of the first link", Token{Kind: Click, CampaignID: 12, ContactID: 345, LinkID: 0}},
		{"unsubscribe", Token{Kind: Unsubscribe, CampaignID: 99, ContactID: 1 << 40}},
		{"view", Token{Kind: View, CampaignID: 7, ContactID: 8}},
		{"zero ids", Token{Kind: Open}},
		{"largest ids", Token{Kind: Click, CampaignID: 1 << 62, ContactID: 1 << 62, LinkID: 1 << 62}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := s.Sign(tc.tok)
			if len(text) > 128 {
				t.Fatalf("token of %d characters; Verify refuses more than 128", len(text))
			}
			if strings.Trim(text, alphabet) != "" {
				t.Fatalf("token %q is not URL-safe base64", text)
			}
			got, err := s.Verify(text, tc.tok.Kind)
			if err != nil {
				t.Fatalf("Verify(Sign(%+v)): %v", tc.tok, err)
			}
			if got != tc.tok {
				t.Errorf("Verify(Sign(%+v)) = %+v", tc.tok, got)
			}
		})
	}
}

func TestSignIgnoresTheLinkOfOtherKinds(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123456789abcdef")
	for _, k := range []Kind{Open, Unsubscribe, View} {
		a := s.Sign(Token{Kind: k, CampaignID: 1, ContactID: 2})
		b := s.Sign(Token{Kind: k, CampaignID: 1, ContactID: 2, LinkID: 3})
		if a != b {
			t.Errorf("kind %c: the link id changed the token", k)
		}
		if got, err := s.Verify(b, k); err != nil || got.LinkID != 0 {
			t.Errorf("kind %c: Verify = %+v, %v; want no link", k, got, err)
		}
	}
}

func TestVerifyRefusesATokenOfAnotherKind(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123456789abcdef")
	for _, signed := range allKinds {
		text := s.Sign(Token{Kind: signed, CampaignID: 3, ContactID: 4, LinkID: 5})
		for _, asked := range allKinds {
			if asked == signed {
				continue
			}
			t.Run(string(signed)+" as "+string(asked), func(t *testing.T) {
				if tok, err := s.Verify(text, asked); !errors.Is(err, ErrInvalid) {
					t.Errorf("Verify = %+v, %v; want ErrInvalid", tok, err)
				}
			})
		}
	}
}

func TestVerifyRefusesEverySingleCharacterChange(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123456789abcdef")
	for _, tok := range []Token{
		{Kind: Open, CampaignID: 1, ContactID: 2},
		{Kind: Click, CampaignID: 300, ContactID: 70000, LinkID: 12},
		{Kind: Unsubscribe, CampaignID: 5, ContactID: 1 << 33},
		{Kind: View, CampaignID: 1 << 20, ContactID: 9},
	} {
		text := s.Sign(tok)
		t.Run(text, func(t *testing.T) {
			tried := 0
			for i := range len(text) {
				for _, r := range alphabet {
					if byte(r) == text[i] {
						continue
					}
					changed := text[:i] + string(r) + text[i+1:]
					tried++
					if got, err := s.Verify(changed, tok.Kind); !errors.Is(err, ErrInvalid) {
						t.Errorf("position %d changed to %c: Verify(%q) = %+v, %v; want ErrInvalid", i, r, changed, got, err)
					}
				}
			}
			if tried != len(text)*(len(alphabet)-1) {
				t.Fatalf("tried %d changes", tried)
			}
		})
	}
}

func TestVerifyRefusesMalformedTokens(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123456789abcdef")
	valid := s.Sign(Token{Kind: Click, CampaignID: 1, ContactID: 2, LinkID: 3})
	for _, tc := range []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"one character", "A"},
		{"garbage", "not-a-token"},
		{"not base64", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/"},
		{"padded", valid + "="},
		{"truncated", valid[:len(valid)-1]},
		{"shortened by a byte", valid[:len(valid)-2]},
		{"extended", valid + "A"},
		{"extended by a byte", valid + "AA"},
		{"doubled", valid + valid},
		{"longer than 128 characters", valid + strings.Repeat("A", 129-len(valid))},
		{"very long", strings.Repeat("A", 10000)},
		{"with a line break", valid[:5] + "\n" + valid[5:]},
		{"with a carriage return", valid[:5] + "\r" + valid[5:]},
		{"with a trailing line break", valid + "\n"},
		{"with a space", valid[:5] + " " + valid[5:]},
		{"with a dot", valid[:5] + "." + valid[5:]},
		{"MAC only", valid[len(valid)-22:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := s.Verify(tc.text, Click); !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify(%q) = %+v, %v; want ErrInvalid", tc.text, got, err)
			}
		})
	}
}

func TestVerifyRefusesTokensSignedWithAnotherSecret(t *testing.T) {
	a := newSigner(t, "0123456789abcdef0123456789abcdef")
	b := newSigner(t, "0123456789abcdef0123456789abcdeF")
	for _, k := range allKinds {
		tok := Token{Kind: k, CampaignID: 10, ContactID: 20, LinkID: 30}
		if _, err := b.Verify(a.Sign(tok), k); !errors.Is(err, ErrInvalid) {
			t.Errorf("kind %c: a token of secret A verified with secret B: %v", k, err)
		}
		if _, err := a.Verify(b.Sign(tok), k); !errors.Is(err, ErrInvalid) {
			t.Errorf("kind %c: a token of secret B verified with secret A: %v", k, err)
		}
	}
}

func TestNewSignerNeedsALongSecret(t *testing.T) {
	for _, tc := range []struct {
		secret string
		ok     bool
	}{
		{"", false},
		{"short", false},
		{strings.Repeat("x", 15), false},
		{strings.Repeat("x", 16), true},
		{strings.Repeat("x", 64), true},
	} {
		s, err := NewSigner([]byte(tc.secret))
		if tc.ok != (err == nil) || tc.ok != (s != nil) {
			t.Errorf("NewSigner(%d bytes) = %v, %v; want ok=%v", len(tc.secret), s, err, tc.ok)
		}
	}
}

func TestVerifyRefusesIDsOutOfRange(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123456789abcdef")
	// A negative id signs as a huge unsigned number and must not come back
	// as a valid (negative or wrapped) id.
	for _, tok := range []Token{
		{Kind: Open, CampaignID: -1, ContactID: 1},
		{Kind: Open, CampaignID: 1, ContactID: math.MinInt64},
		{Kind: Click, CampaignID: 1, ContactID: 1, LinkID: -5},
	} {
		if got, err := s.Verify(s.Sign(tok), tok.Kind); !errors.Is(err, ErrInvalid) {
			t.Errorf("Verify(Sign(%+v)) = %+v, %v; want ErrInvalid", tok, got, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	s := newSigner(f, "0123456789abcdef0123456789abcdef")
	for _, k := range allKinds {
		f.Add(s.Sign(Token{Kind: k, CampaignID: 1, ContactID: 2, LinkID: 3}), byte(k))
	}
	f.Add("", byte(Open))
	f.Fuzz(func(t *testing.T, text string, kind byte) {
		tok, err := s.Verify(text, Kind(kind))
		if err != nil {
			if !errors.Is(err, ErrInvalid) || tok != (Token{}) {
				t.Fatalf("Verify(%q) = %+v, %v", text, tok, err)
			}
			return
		}
		// Whatever verifies is exactly what this signer would make.
		if again := s.Sign(tok); again != text {
			t.Fatalf("Verify(%q) accepted a token that signs as %q", text, again)
		}
	})
}
