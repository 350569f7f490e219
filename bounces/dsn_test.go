package bounces_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"herald/bounces"
	"herald/internal/campaigntest"
	"herald/tracking"
)

// testReturnPath is the return path the samples' VERP addresses were
// made with: bounces+fihhpxvf2lxv54q@shop.example is delivery 42.
func testReturnPath(t testing.TB) *tracking.ReturnPath {
	t.Helper()
	rp, err := tracking.NewReturnPath([]byte(campaigntest.Secret), "bounces@shop.example")
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func dsnSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dsn", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseDSNReadsEachShapeOfBounce(t *testing.T) {
	tests := []struct {
		file string
		want []bounces.Report
	}{
		{"rfc3464-hard-postfix.eml", []bounces.Report{{
			Kind: bounces.Hard, Email: "anna.jansen@example.nl", MessageID: "herald.7.42@shop.example",
			Diagnostic: "550 5.1.1 <anna.jansen@example.nl>: Recipient address rejected: User unknown in virtual mailbox table",
			ProviderID: "20260309091502.4F1A2C0123@mail.shop.example/anna.jansen@example.nl", OccurredAt: utc("2026-03-09T09:15:01Z"),
		}}},
		{"rfc3464-soft-expired.eml", []bounces.Report{{
			Kind: bounces.Soft, Email: "piet@example.org", MessageID: "herald.7.43@shop.example",
			Diagnostic: "The recipient server did not accept our requests to connect. [mx.example.org. 203.0.113.9: timed out]",
			ProviderID: "5a2b.0c1d@mx.google.com/piet@example.org", OccurredAt: utc("2026-03-12T09:15:01Z"),
		}}},
		{"rfc3464-two-recipients.eml", []bounces.Report{{
			Kind: bounces.Hard, Email: "gone@example.com", MessageID: "list.2026.03@shop.example",
			Diagnostic: "550 5.1.1 The email account that you tried to reach does not exist",
			ProviderID: "20260310080000.AA11@relay.example.net/gone@example.com", OccurredAt: utc("2026-03-10T08:00:00Z"),
		}, {
			Kind: bounces.Soft, Email: "full@example.com", MessageID: "list.2026.03@shop.example",
			Diagnostic: "552 5.2.2 The email account that you tried to reach is over quota",
			ProviderID: "20260310080000.AA11@relay.example.net/full@example.com", OccurredAt: utc("2026-03-10T08:00:00Z"),
		}}},
		{"rfc3464-policy-block.eml", []bounces.Report{{
			Kind: bounces.Soft, Email: "lotte@outlook.com", MessageID: "herald.7.45@shop.example",
			Diagnostic: "550 5.7.1 Service unavailable, Client host [198.51.100.7] blocked using Spamhaus",
			ProviderID: "DB9P190MB1234@outlook.com/lotte@outlook.com", OccurredAt: utc("2026-03-11T10:59:58Z"),
		}}},
		{"arf-complaint.eml", []bounces.Report{{
			// The recipient is redacted; the VERP Return-Path of the
			// returned message names the delivery.
			Kind: bounces.Complaint, MessageID: "herald.7.46@shop.example", DeliveryID: 42,
			Diagnostic: "feedback report: abuse (ExampleISP-FBL/1.0)",
			ProviderID: "fbl.88231.1773418811@fbl.example-isp.net/", OccurredAt: utc("2026-03-13T16:19:58Z"),
		}}},
		{"arf-complaint-with-recipient.eml", []bounces.Report{{
			Kind: bounces.Complaint, Email: "jan@example.com", MessageID: "CAF=other-system-1234@mail.shop.example",
			Diagnostic: "feedback report: abuse (SomeGenerator/1.0)",
			ProviderID: "arf-2@mail.example.com/jan@example.com", OccurredAt: utc("2026-03-13T16:59:00Z"),
		}}},
		{"exim-plain.eml", []bounces.Report{{
			Kind: bounces.Hard, Email: "sam.smith@example.co.uk", MessageID: "herald.7.47@shop.example",
			Diagnostic: "550 5.1.1 <sam.smith@example.co.uk>: Recipient address rejected: User unknown",
			ProviderID: "E1w2XyZ-000abc-1Q@mx.example.co.uk/sam.smith@example.co.uk", OccurredAt: utc("2026-03-14T09:31:12Z"),
		}}},
		{"qmail-plain.eml", []bounces.Report{{
			Kind: bounces.Hard, Email: "noor@example.net", MessageID: "herald.7.48@shop.example",
			Diagnostic: "Remote host said: 550 5.1.1 <noor@example.net>... User unknown",
			ProviderID: "1773482564.qmail.31337@mail.example.net/noor@example.net", OccurredAt: utc("2026-03-14T10:02:44Z"),
		}}},
		{"postfix-plain.eml", []bounces.Report{{
			Kind: bounces.Hard, Email: "lena.mueller@example.de", MessageID: "herald.7.49@shop.example",
			Diagnostic: "<lena.mueller@example.de>: host mx.example.de[192.0.2.70] said: 550 5.1.1 <lena.mueller@example.de>... No such user here (in reply to RCPT TO command)",
			ProviderID: "20260314100000.7C2D1@old-relay.example.de/lena.mueller@example.de", OccurredAt: utc("2026-03-14T10:00:00Z"),
		}}},
		{"exchange-ndr.eml", []bounces.Report{{
			Kind: bounces.Hard, Email: "mark.devries@corp.example.com", MessageID: "herald.7.50@shop.example",
			Diagnostic: "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'",
			ProviderID: "9b8c7d6e-ndr@EXCH01.corp.example.com/mark.devries@corp.example.com", OccurredAt: utc("2026-03-15T12:00:00Z"),
		}}},
		{"office365-plain.eml", []bounces.Report{{
			Kind: bounces.Hard, Email: "joost@contoso.example", MessageID: "herald.7.51@shop.example",
			Diagnostic: "Remote server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'",
			ProviderID: "ndr-o365-1@AM0PR01MB1234.eurprd01.prod.outlook.com/joost@contoso.example", OccurredAt: utc("2026-03-16T10:00:00Z"),
		}}},
		{"verp-only.eml", []bounces.Report{{
			// Nothing of the message came back and the final recipient is
			// a forwarding target: the VERP address and the original
			// recipient say whose it was.
			Kind: bounces.Hard, Email: "anna.jansen@example.nl", DeliveryID: 42,
			Diagnostic: "550 5.1.1 mailbox does not exist",
			ProviderID: "20260317074500.F00D@gateway.example.org/anna.jansen@example.nl", OccurredAt: utc("2026-03-17T07:45:00Z"),
		}}},
	}
	rp := testReturnPath(t)
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".eml"), func(t *testing.T) {
			got, err := bounces.ParseDSN(dsnSample(t, tt.file), rp)
			if err != nil {
				t.Fatalf("ParseDSN: %v", err)
			}
			for i := range tt.want {
				tt.want[i].Source = bounces.SourceMailbox
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d reports %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("report %d:\n got  %+v\n want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseDSNWithoutReturnPathNamesNoDelivery(t *testing.T) {
	got, err := bounces.ParseDSN(dsnSample(t, "verp-only.eml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DeliveryID != 0 || got[0].Email != "anna.jansen@example.nl" {
		t.Fatalf("got %+v, want one report on anna.jansen@example.nl without a delivery", got)
	}
}

func TestParseDSNSaysWhatIsNotABounce(t *testing.T) {
	tests := []struct{ file, why string }{
		{"autoreply-out-of-office.eml", "automatic reply"},
		{"person-reply.eml", "no sign of a mail system"},
		{"rfc3464-delayed.eml", "delay warning"},
		{"exim-delay.eml", "delay warning"},
		{"arf-not-spam.eml", `feedback report of type "not-spam"`},
	}
	rp := testReturnPath(t)
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".eml"), func(t *testing.T) {
			got, err := bounces.ParseDSN(dsnSample(t, tt.file), rp)
			if !errors.Is(err, bounces.ErrNotBounce) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("got %+v, %v; want ErrNotBounce saying %q", got, err, tt.why)
			}
		})
	}
}

func TestParseDSNRefusesAForgedVERPAddress(t *testing.T) {
	raw := strings.ReplaceAll(string(dsnSample(t, "verp-only.eml")), "fihhpxvf2lxv54q", "fihhpxvf2lxv54a")
	got, err := bounces.ParseDSN([]byte(raw), testReturnPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DeliveryID != 0 {
		t.Fatalf("got %+v, want the bounce without a delivery", got)
	}
}

func FuzzParseDSN(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "dsn"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(dsnSample(f, e.Name()))
	}
	f.Add([]byte("Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nAction: failed\n"))
	rp := testReturnPath(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		reps, err := bounces.ParseDSN(raw, rp)
		if err != nil {
			if len(reps) != 0 {
				t.Fatalf("reports %+v with error %v", reps, err)
			}
			return
		}
		if len(reps) == 0 {
			t.Fatal("no reports and no error")
		}
		for _, r := range reps {
			if r.Kind != bounces.Hard && r.Kind != bounces.Soft && r.Kind != bounces.Complaint {
				t.Fatalf("kind %q", r.Kind)
			}
			if r.Email == "" && r.MessageID == "" && r.DeliveryID == 0 {
				t.Fatalf("a report that names nothing: %+v", r)
			}
		}
	})
}
