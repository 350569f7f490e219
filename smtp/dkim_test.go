package smtp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"herald/internal/smtptest"
)

// dkimKey generates a key, writes it as PEM into a temp dir and returns
// the file and the DNS TXT record publishing its public half.
func dkimKey(t *testing.T, kind string) (file, record string) {
	t.Helper()
	var (
		der    []byte
		pub    []byte
		typ    = "PRIVATE KEY"
		keyTag string
		err    error
	)
	switch kind {
	case "ed25519":
		pk, sk, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			t.Fatal(gerr)
		}
		der, err = x509.MarshalPKCS8PrivateKey(sk)
		pub, keyTag = pk, "ed25519"
	case "rsa", "rsa-pkcs1":
		sk, gerr := rsa.GenerateKey(rand.Reader, 2048)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if kind == "rsa-pkcs1" {
			der, typ = x509.MarshalPKCS1PrivateKey(sk), "RSA PRIVATE KEY"
		} else {
			der, err = x509.MarshalPKCS8PrivateKey(sk)
		}
		if err == nil {
			pub, err = x509.MarshalPKIXPublicKey(sk.Public())
		}
		keyTag = "rsa"
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, "v=DKIM1; k=" + keyTag + "; p=" + base64.StdEncoding.EncodeToString(pub)
}

func TestMailerSignsWithDKIMThatVerifies(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		domain   string
		selector string
		unsub    bool
	}{
		{"Ed25519", "ed25519", "shop.test", "herald", true},
		{"RSA-2048 PKCS#8", "rsa", "shop.test", "herald", true},
		{"RSA-2048 PKCS#1 with a long domain and selector", "rsa-pkcs1", "newsletters.mail.example-flower-shop.co.uk", "herald-2026-11-rsa", true},
		{"Ed25519 test send without List-Unsubscribe", "ed25519", "shop.test", "herald", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, record := dkimKey(t, tt.key)
			srv := smtptest.Start(t, smtptest.Options{})
			m := newMailer(t, Config{DKIM: DKIMConfig{Domain: tt.domain, Selector: tt.selector, KeyFile: file}}, srv.URL())

			// Concurrent sends share one signer; a Hebrew subject and name
			// give long, folded encoded words to canonicalise.
			const n = 6
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cm := message(i, fmt.Sprintf("r%d@example.test", i))
					cm.Subject = "מזל טוב, דוד! 20% הנחה על זרי פרחים לכבוד יום ההולדת שלך 🎉"
					cm.ToName = "דוד כהן"
					if !tt.unsub {
						cm.ListUnsubscribe = ""
					}
					errs <- m.Send(context.Background(), cm)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
			}

			lookups := 0
			opts := &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
				lookups++
				if name != tt.selector+"._domainkey."+tt.domain {
					return nil, fmt.Errorf("unexpected lookup of %q", name)
				}
				return []string{record}, nil
			}}
			for _, msg := range srv.Messages() {
				vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg.Raw), opts)
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if len(vs) != 1 {
					t.Fatalf("%d signatures, want 1", len(vs))
				}
				v := vs[0]
				if v.Err != nil {
					t.Fatalf("signature does not verify: %v\n%s", v.Err, headerOf(msg.Raw))
				}
				if v.Domain != tt.domain {
					t.Errorf("d= %q, want %q", v.Domain, tt.domain)
				}
				want := []string{"From", "To", "Subject", "Date"}
				if tt.unsub {
					want = append(want, "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID")
				}
				for _, want := range want {
					if !containsFold(v.HeaderKeys, want) {
						t.Errorf("h= %v does not sign %s", v.HeaderKeys, want)
					}
				}
			}
			if lookups != n {
				t.Errorf("%d key lookups for %d messages", lookups, n)
			}
		})
	}
}

func TestDKIMSignatureFailsWhenASignedHeaderChanges(t *testing.T) {
	file, record := dkimKey(t, "ed25519")
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{DKIM: DKIMConfig{Domain: "shop.test", Selector: "herald", KeyFile: file}}, srv.URL())
	if err := m.Send(context.Background(), message(1, "a@example.test")); err != nil {
		t.Fatal(err)
	}
	raw := srv.Messages()[0].Raw
	opts := &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{record}, nil }}
	tests := []struct {
		name    string
		mutate  func([]byte) []byte
		wantErr bool
	}{
		{"untouched", func(b []byte) []byte { return b }, false},
		{"unsubscribe URL replaced", func(b []byte) []byte {
			return bytes.Replace(b, []byte("https://shop.test/u/token1"), []byte("https://evil.test/u/token1"), 1)
		}, true},
		{"one-click removed", func(b []byte) []byte {
			return bytes.Replace(b, []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), nil, 1)
		}, true},
		{"feedback id changed", func(b []byte) []byte {
			return bytes.Replace(b, []byte("Feedback-ID: 7:campaign:"), []byte("Feedback-ID: 8:campaign:"), 1)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutated := tt.mutate(append([]byte(nil), raw...))
			if tt.wantErr && bytes.Equal(mutated, raw) {
				t.Fatal("the mutation changed nothing")
			}
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(mutated), opts)
			if err != nil || len(vs) != 1 {
				t.Fatalf("verify: %v, %d signatures", err, len(vs))
			}
			if (vs[0].Err != nil) != tt.wantErr {
				t.Errorf("verification error = %v, want error %v", vs[0].Err, tt.wantErr)
			}
		})
	}
}

// TestDKIMSignerIsReadyForConcurrentUse guards the shared signer: go-mail
// records the algorithm on the first Sign, which must not happen while
// several connections sign at once (go test -race).
func TestDKIMSignerIsReadyForConcurrentUse(t *testing.T) {
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := NewDKIMSigner("shop.test", "herald", sk)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Sign([]byte("From: a@shop.test\r\n"), []byte("hi\r\n")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

func headerOf(raw []byte) string {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return string(raw[:i])
	}
	return string(raw)
}

func TestUnfoldInsideWordsKeepsOnlyFoldsBesideWhiteSpace(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"fold inside h=", "v=1; h=From:Fe\r\n edback-ID; bh=abc; b=sig", "v=1; h=From:Feedback-ID; bh=abc; b=sig"},
		{"fold after a tag separator", "v=1; \r\n h=From:To; bh=abc; b=sig", "v=1; \r\n h=From:To; bh=abc; b=sig"},
		{"fold inside bh=", "v=1; h=From; bh=ab\r\n c=; b=sig", "v=1; h=From; bh=abc=; b=sig"},
		{"folds inside b= stay", "v=1; h=From; bh=abc; b=si\r\n g", "v=1; h=From; bh=abc; b=si\r\n g"},
		{"nothing folded", "v=1; b=sig", "v=1; b=sig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unfoldInsideWords(tt.in); got != tt.want {
				t.Errorf("unfoldInsideWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
