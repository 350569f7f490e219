package bounces

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"herald/internal/errs"
)

func seedSamples(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"type":"bounce"}`))
	f.Add([]byte(`[{"event":"bounce","email":"","type":"blocked"}]`))
}

// checkParsed holds for every payload parser: bad input is an
// InvalidError, never a panic or another error, and every report has a
// kind and someone to match it to.
func checkParsed(t *testing.T, reps []Report, err error) {
	if err != nil {
		if _, ok := errs.AsInvalid(err); !ok {
			t.Fatalf("error %v is not an invalid-input error", err)
		}
		return
	}
	for _, r := range reps {
		if r.Kind != Hard && r.Kind != Soft && r.Kind != Complaint {
			t.Fatalf("report of kind %q", r.Kind)
		}
		if r.Email == "" && r.MessageID == "" {
			t.Fatalf("report %+v names nobody", r)
		}
	}
}

func FuzzPayloadParsers(f *testing.F) {
	seedSamples(f)
	pm := Postmark{User: "u", Password: "p"}
	mg := Mailgun{SigningKey: []byte("k"), Now: func() time.Time { return time.Unix(1529006854, 0) }}
	sgKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sg := SendGrid{key: &sgKey.PublicKey}
	f.Fuzz(func(t *testing.T, body []byte) {
		// SendGrid's signature covers the body: sign each input, so the
		// parser behind it is what is fuzzed.
		d := sha256.Sum256(append([]byte("1741600000"), body...))
		sig, err := ecdsa.SignASN1(rand.Reader, sgKey, d[:])
		if err != nil {
			t.Fatal(err)
		}
		h := textproto.MIMEHeader{}
		h.Set(SendGridSignatureHeader, base64.StdEncoding.EncodeToString(sig))
		h.Set(SendGridTimestampHeader, "1741600000")
		reps, err := sg.Parse(context.Background(), Request{Header: h, Body: body})
		checkParsed(t, reps, err)
		reps, err = parseGeneric(body)
		checkParsed(t, reps, err)
		reps, err = parseSESNotification(string(body))
		checkParsed(t, reps, err)
		reps, err = pm.Parse(context.Background(), Request{Body: body, User: "u", Password: "p", HasAuth: true})
		checkParsed(t, reps, err)
		// Mailgun's signature is inside the body: a body without a valid
		// one is refused as unsigned, never read further.
		if _, err := mg.Parse(context.Background(), Request{Body: body}); err != nil {
			if _, ok := errs.AsInvalid(err); !ok && !errors.Is(err, ErrSignature) {
				t.Fatalf("mailgun: %v", err)
			}
		}
	})
}
