package automations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"herald/automations"
	"herald/campaigns"
	"herald/internal/errs"
)

func flowInput(t *testing.T, def string) automations.Input {
	t.Helper()
	var in automations.Input
	if err := json.Unmarshal([]byte(def), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// TestFlowsRefuseMisplacedAndMistypedSettingsAtTheirPath: each mistake is
// refused with the path of the setting at fault, not of its parent, and
// settings of another trigger or step type are refused, not ignored.
func TestFlowsRefuseMisplacedAndMistypedSettingsAtTheirPath(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	ctx := context.Background()
	regular, err := w.svc.Create(ctx, campaigns.Input{Name: ptr("News"), Subject: ptr("News"), HTMLBody: ptr("<p>x</p>"), FromEmail: ptr("a@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	other := w.flow(t, `{"name": "Other", "trigger": {"type": "event", "event": "x"}, "steps": [`+sendStep("theirs")+`]}`)
	otherSteps, _ := automations.StepsOf(other)
	theirs := otherSteps[0].CampaignID

	ev := `"trigger": {"type": "event", "event": "x"}`
	send := sendStep("x")
	tests := []struct {
		name, def, path string
	}{
		{"unknown step key", `{"name": "x", ` + ev + `, "steps": [{"type": "send", "mesage": {}}]}`, "steps[0].mesage"},
		{"unknown key in a later step", `{"name": "x", ` + ev + `, "steps": [` + send + `, {"type": "wait", "durration": "1d"}]}`, "steps[1].durration"},
		{"unknown key in a message", `{"name": "x", ` + ev + `, "steps": [{"type": "send", "message": {"subjet": "x", "html_body": "x", "from_email": "a@example.com"}}]}`, "steps[0].message.subjet"},
		{"mistyped message field", `{"name": "x", ` + ev + `, "steps": [{"type": "send", "message": {"subject": 5, "html_body": "x", "from_email": "a@example.com"}}]}`, "steps[0].message.subject"},
		{"setting of another step type", `{"name": "x", ` + ev + `, "steps": [{"type": "send", "duration": "1d", "message": {"subject": "x", "html_body": "x", "from_email": "a@example.com"}}]}`, "steps[0].duration"},
		{"step that is not an object", `{"name": "x", ` + ev + `, "steps": [` + send + `, 5]}`, "steps[1]"},
		{"steps that are not a list", `{"name": "x", ` + ev + `, "steps": {"type": "send"}}`, "steps"},
		{"exit_if without a rule", `{"name": "x", ` + ev + `, "steps": [` + send + `, {"type": "exit_if"}]}`, "steps[1].definition"},
		{"offset as a text", `{"name": "x", "trigger": {"type": "date", "field": "birthday", "offset_days": "3"}, "steps": [` + send + `]}`, "trigger.offset_days"},
		{"hour as a text", `{"name": "x", "trigger": {"type": "date", "field": "birthday", "hour": "9"}, "steps": [` + send + `]}`, "trigger.hour"},
		{"one-time days out of range", `{"name": "x", "trigger": {"type": "inactivity", "one_time_days": 5000}, "steps": [` + send + `]}`, "trigger.one_time_days"},
		{"negative min days", `{"name": "x", "trigger": {"type": "inactivity", "factor": 2, "min_days": -1}, "steps": [` + send + `]}`, "trigger.min_days"},
		{"max days out of range", `{"name": "x", "trigger": {"type": "inactivity", "factor": 2, "max_days": 4000}, "steps": [` + send + `]}`, "trigger.max_days"},
		{"segment on a date trigger", `{"name": "x", "trigger": {"type": "date", "field": "birthday", "segment_id": 1}, "steps": [` + send + `]}`, "trigger.segment_id"},
		{"offset on an event trigger", `{"name": "x", "trigger": {"type": "event", "event": "x", "offset_days": 2}, "steps": [` + send + `]}`, "trigger.offset_days"},
		{"hour on an inactivity trigger", `{"name": "x", "trigger": {"type": "inactivity", "factor": 2, "hour": 9}, "steps": [` + send + `]}`, "trigger.hour"},
		{"object in where", `{"name": "x", "trigger": {"type": "event", "event": "x", "where": {"color": {"eq": "red"}}}, "steps": [` + send + `]}`, "trigger.where.color"},
		{"list in where", `{"name": "x", "trigger": {"type": "event", "event": "x", "where": {"size": [1, 2]}}, "steps": [` + send + `]}`, "trigger.where.size"},
		{"null in where", `{"name": "x", "trigger": {"type": "event", "event": "x", "where": {"size": null}}, "steps": [` + send + `]}`, "trigger.where.size"},
		{"trigger that is not an object", `{"name": "x", "trigger": "birthday", "steps": [` + send + `]}`, "trigger"},
		{"message campaign that does not exist", `{"name": "x", ` + ev + `, "steps": [{"type": "send", "campaign_id": 999999}]}`, "steps[0].campaign_id"},
		{"regular campaign as a message", fmt.Sprintf(`{"name": "x", `+ev+`, "steps": [{"type": "send", "campaign_id": %d}]}`, regular.ID), "steps[0].campaign_id"},
		{"another automation's message", fmt.Sprintf(`{"name": "x", `+ev+`, "steps": [{"type": "send", "campaign_id": %d}]}`, theirs), "steps[0].campaign_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.autos.Create(ctx, flowInput(t, tc.def))
			var ie *errs.InvalidError
			if !errors.As(err, &ie) || ie.Path != tc.path {
				t.Fatalf("got %v, want an error at %q", err, tc.path)
			}
		})
	}
}

// TestFlowStepsRoundTripByCampaignID: the steps GET returns (messages by
// campaign id) can be saved back, reordered, and the same message may not
// be two steps.
func TestFlowStepsRoundTripByCampaignID(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	ctx := context.Background()
	f := w.flow(t, `{"name": "Two", "trigger": {"type": "event", "event": "x"}, "steps": [`+sendStep("one")+`, {"type": "wait", "duration": "1d"}, `+sendStep("two")+`]}`)
	steps, err := automations.StepsOf(f)
	if err != nil {
		t.Fatal(err)
	}
	first, second := steps[0].CampaignID, steps[2].CampaignID
	swapped := fmt.Sprintf(`[{"type": "send", "campaign_id": %d}, {"type": "wait", "duration": "2d"}, {"type": "send", "campaign_id": %d}]`, second, first)
	got, err := w.autos.Update(ctx, f.ID, automations.Input{Steps: json.RawMessage(swapped)})
	if err != nil {
		t.Fatalf("saving the steps back: %v", err)
	}
	steps, _ = automations.StepsOf(got)
	if steps[0].CampaignID != second || steps[2].CampaignID != first || steps[1].Duration != "2d" {
		t.Fatalf("steps after the swap: %+v", steps)
	}
	// Editing one message in place keeps its campaign (and its stats).
	edit := fmt.Sprintf(`[{"type": "send", "campaign_id": %d, "message": {"subject": "two, again"}}, {"type": "send", "campaign_id": %d}]`, second, first)
	if got, err = w.autos.Update(ctx, f.ID, automations.Input{Steps: json.RawMessage(edit)}); err != nil {
		t.Fatal(err)
	}
	steps, _ = automations.StepsOf(got)
	c, err := w.svc.Get(ctx, steps[0].CampaignID)
	if err != nil || steps[0].CampaignID != second || c.Subject != "two, again" {
		t.Fatalf("edited message: campaign %d %q (%v), want %d", steps[0].CampaignID, c.Subject, err, second)
	}
	twice := fmt.Sprintf(`[{"type": "send", "campaign_id": %d}, {"type": "send", "campaign_id": %d}]`, first, first)
	_, err = w.autos.Update(ctx, f.ID, automations.Input{Steps: json.RawMessage(twice)})
	var ie *errs.InvalidError
	if !errors.As(err, &ie) || ie.Path != "steps[1].campaign_id" || !strings.Contains(ie.Message, "steps[0]") {
		t.Fatalf("the same message twice: %v", err)
	}
}

// TestTriggersAreStoredWithOnlyTheirOwnSettings: a trigger keeps only the
// settings of its type, so a date trigger gets its default hour and an
// event trigger none.
func TestTriggersAreStoredWithOnlyTheirOwnSettings(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	tests := []struct {
		trigger, want string
	}{
		{`{"type": "date", "field": "birthday"}`, `{"type":"date","field":"birthday","hour":9}`},
		{`{"type": "event", "event": "purchase", "where": {"sku": "tea", "qty": 2, "gift": true}}`, `{"type":"event","event":"purchase","where":{"gift":true,"qty":2,"sku":"tea"}}`},
		{`{"type": "inactivity", "factor": 1.5, "max_days": 180}`, `{"type":"inactivity","factor":1.5,"max_days":180}`},
	}
	for _, tc := range tests {
		f, err := w.autos.Create(context.Background(), flowInput(t, `{"name": "x", "trigger": `+tc.trigger+`, "steps": [`+sendStep("x")+`]}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.trigger, err)
		}
		if string(f.Trigger) != tc.want {
			t.Errorf("%s stored as %s, want %s", tc.trigger, f.Trigger, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
