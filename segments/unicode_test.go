package segments_test

import (
	"context"
	"testing"
	"time"

	"herald/segments"
)

// Our users write in many scripts: text rules ignore case the same way on
// SQLite as on PostgreSQL, for every script that has case.
func TestTextRulesIgnoreCaseInEveryScript(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	w := newWorld(t, fixedClock(now), nil, []person{
		{email: "ann@example.com", city: "ÅLESUND", first: "ÉLODIE"},
		{email: "bob@example.com", city: "Ålesund", first: "élodie"},
		{email: "cleo@example.com", city: "ΑΘΉΝΑ", first: "Νίκος"},
		{email: "dan@example.com", city: "Αθήνα", first: "НИКОЛАЙ"},
		{email: "eve@example.com", city: "Alesund", first: "Николай"},
		{email: "fay@example.com", city: "Amsterdam", first: "מרים"},
	})
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	tests := []struct {
		name, def, want string
	}{
		{"Latin with diacritics", `{"field":"city","op":"eq","value":"ålesund"}`, "ann bob"},
		{"Greek", `{"field":"city","op":"eq","value":"αθήνα"}`, "cleo dan"},
		{"Cyrillic contains", `{"field":"first_name","op":"contains","value":"никол"}`, "dan eve"},
		{"starts with an accented capital", `{"field":"first_name","op":"starts_with","value":"ÉLO"}`, "ann bob"},
		{"in a list mixing scripts", `{"field":"city","op":"in","value":["ÅLESUND","amsterdam"]}`, "ann bob fay"},
		{"ASCII value does not match the accented city", `{"field":"city","op":"eq","value":"alesund"}`, "eve"},
		{"scripts without case match exactly", `{"field":"first_name","op":"eq","value":"מרים"}`, "fay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, sample, err := svc.Preview(context.Background(), []byte(tc.def), 100)
			if err != nil {
				t.Fatal(err)
			}
			got := set{}
			for _, c := range sample {
				got[w.names[c.ID]] = true
			}
			if want := names(tc.want); !got.equal(want) {
				t.Fatalf("members %v, want %v", got, want)
			}
		})
	}
}
