package automations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
	"herald/reports"
	"herald/segments"
)

// Status says whether an automation runs.
type Status string

// Automation statuses. A paused automation keeps its runs where they are.
const (
	AutomationDraft  Status = "draft"
	AutomationActive Status = "active"
	AutomationPaused Status = "paused"
)

// Automation is an automation: a trigger that enrols contacts, and a short
// sequence of steps (send, wait, exit_if) each enrolled contact walks.
type Automation struct {
	ID          int64      `gorm:"primaryKey"`
	Name        string     `gorm:"size:200;not null"`
	Description string     `gorm:"size:2000;not null;default:''"`
	Status      Status     `gorm:"size:8;not null;default:draft;index"`
	Trigger     db.JSONRaw `gorm:"not null"`
	Steps       db.JSONRaw `gorm:"not null"`
	// Exit is a segment definition; contacts who match it leave at once.
	Exit db.JSONRaw
	// Cursor is the id of the segment change or event up to which a
	// segment_entered or event trigger has looked at every row (see
	// Config.CursorLag: rows after it may be looked at again).
	Cursor int64 `gorm:"not null;default:0"`
	// LastError says what last stopped the flow from enrolling or moving a
	// run (a rule that no longer compiles, a message that is gone), so the
	// marketer can see it; it is cleared once nothing fails any more.
	LastError   string `gorm:"size:1000;not null;default:''"`
	LastErrorAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RunStatus is where an enrolled contact stands in a flow.
type RunStatus string

// Run statuses.
const (
	RunActive RunStatus = "active"
	RunDone   RunStatus = "done"
	RunExited RunStatus = "exited"
)

// Run is one contact walking a flow for one occurrence of its trigger
// (this year's birthday, one entry into a segment, one lapse). The unique
// (flow, contact, occurrence) is what makes "once per occurrence" hold
// across restarts and several workers.
type Run struct {
	ID           int64     `gorm:"primaryKey"`
	AutomationID int64     `gorm:"column:flow_id;not null;uniqueIndex:idx_flow_runs_once,priority:1"`
	ContactID    int64     `gorm:"not null;uniqueIndex:idx_flow_runs_once,priority:2;index"`
	Occurrence   string    `gorm:"size:80;not null;uniqueIndex:idx_flow_runs_once,priority:3"`
	Step         int       `gorm:"not null;default:0"`
	Status       RunStatus `gorm:"size:8;not null;default:active;index:idx_flow_runs_due,priority:1"`
	NextAt       time.Time `gorm:"not null;index:idx_flow_runs_due,priority:2"`
	StartedAt    time.Time `gorm:"not null"`
	FinishedAt   *time.Time
	// Note says why a run waits or ended (deferred by the frequency cap,
	// a step that failed, unsubscribed, met the exit rule).
	Note string `gorm:"size:500;not null;default:''"`
	// Hold is why an active run is held back: HoldDeferred (the frequency
	// cap) or HoldFailed (a step failed and is tried again later).
	Hold string `gorm:"size:8;not null;default:''"`
	// LastDeferral keeps the reason of the last time the frequency cap
	// held the run back, after the message went out.
	LastDeferral string `gorm:"size:500;not null;default:''"`
	// Version grows with every change, so two workers cannot both move a run.
	Version int `gorm:"not null;default:0"`
}

// TableName keeps the table name explicit.
func (Run) TableName() string { return "flow_runs" }

// TableName keeps the table automations had when they were called flows.
func (Automation) TableName() string { return "flows" }

// Run holds.
const (
	HoldDeferred = "deferred"
	HoldFailed   = "failed"
)

// Run states, besides the run statuses, that State reports for an active
// run and Runs filters on.
const (
	RunsDue      = "due"      // its next step can be taken now
	RunsWaiting  = "waiting"  // a wait step has not ended
	RunsDeferred = "deferred" // the frequency cap holds it back
	RunsFailing  = "failing"  // a step failed and is tried again later
)

// State refines an active run's status at now: RunsDeferred, RunsFailing,
// RunsWaiting or RunsDue. A finished run's state is its status.
func (r Run) State(now time.Time) string {
	switch {
	case r.Status != RunActive:
		return string(r.Status)
	case r.Hold == HoldDeferred:
		return RunsDeferred
	case r.Hold == HoldFailed:
		return RunsFailing
	case r.NextAt.After(now):
		return RunsWaiting
	}
	return RunsDue
}

// Trigger types.
const (
	TriggerDate           = "date"
	TriggerSegmentEntered = "segment_entered"
	TriggerInactivity     = "inactivity"
	TriggerEvent          = "event"
)

// Trigger says who enters a flow and when.
type Trigger struct {
	Type string `json:"type"`
	// date: birthday, anniversary, signup_at (signup anniversary) or
	// attr.NAME (a custom date field).
	Field string `json:"field,omitempty"`
	// OffsetDays moves the send relative to the date: -3 is three days
	// before, 1 the day after.
	OffsetDays int `json:"offset_days,omitempty"`
	// Hour is the local hour (0-23) of the send in the contact's time zone.
	Hour *int `json:"hour,omitempty"`
	// Timezone is used for contacts whose own is unknown.
	Timezone string `json:"timezone,omitempty"`
	// segment_entered
	SegmentID int64 `json:"segment_id,omitempty"`
	// inactivity: no purchase for Factor x the contact's own average days
	// between purchases, or OneTimeDays for one-time buyers; MinDays and
	// MaxDays bound the days since the last purchase (tiers).
	Factor      float64 `json:"factor,omitempty"`
	OneTimeDays int     `json:"one_time_days,omitempty"`
	MinDays     int     `json:"min_days,omitempty"`
	MaxDays     int     `json:"max_days,omitempty"`
	// event: an event type with optional property equality filters.
	Event string         `json:"event,omitempty"`
	Where map[string]any `json:"where,omitempty"`
}

// Step types.
const (
	StepSend   = "send"
	StepWait   = "wait"
	StepExitIf = "exit_if"
)

// Step is one step of a flow.
type Step struct {
	Type string `json:"type"`
	// send: the message, as a campaign's content; Herald keeps it as a
	// campaign of kind flow whose id is CampaignID.
	Message    *campaigns.Input `json:"message,omitempty"`
	CampaignID int64            `json:"campaign_id,omitempty"`
	// wait: a duration such as "7d" or "12h".
	Duration string `json:"duration,omitempty"`
	// exit_if: a segment definition; the run ends when the contact matches.
	// Time values may be "$flow_start", the time the run began, so
	// "bought since the flow started" is
	// {"field": "last_purchase_at", "op": "after", "value": "$flow_start"}.
	Definition json.RawMessage `json:"definition,omitempty"`
}

// Input is what a client sets on a flow.
type Input struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Trigger     json.RawMessage `json:"trigger"`
	Steps       json.RawMessage `json:"steps"`
	Exit        json.RawMessage `json:"exit"`
}

const maxSteps = 20

// decodeStrict decodes one JSON object into v, refusing unknown keys; an
// error names its place under path (trigger.offset_days, steps[2].mesage).
func decodeStrict(raw []byte, v any, path string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.JSONError(path, err)
	}
	return nil
}

// objectKeys returns the keys of a JSON object, sorted so the first
// refused key is always the same one.
func objectKeys(raw []byte, path string) ([]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errs.Invalid(path, "must be an object")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// triggerTakes tells whether a trigger of type typ has the setting key;
// a setting of another type (segment_id on a date trigger) is refused
// rather than silently ignored.
func triggerTakes(typ, key string) bool {
	if key == "type" {
		return true
	}
	switch typ {
	case TriggerDate:
		return key == "field" || key == "offset_days" || key == "hour" || key == "timezone"
	case TriggerSegmentEntered:
		return key == "segment_id"
	case TriggerInactivity:
		return key == "factor" || key == "one_time_days" || key == "min_days" || key == "max_days"
	case TriggerEvent:
		return key == "event" || key == "where"
	}
	return false
}

// stepTakes is triggerTakes for steps.
func stepTakes(typ, key string) bool {
	if key == "type" {
		return true
	}
	switch typ {
	case StepSend:
		return key == "message" || key == "campaign_id"
	case StepWait:
		return key == "duration"
	case StepExitIf:
		return key == "definition"
	}
	return false
}

// parseTrigger decodes and checks a trigger.
func (s *Service) parseTrigger(ctx context.Context, raw []byte) (Trigger, error) {
	var t Trigger
	if !hasRule(raw) {
		return t, errs.Invalid("trigger", "is required")
	}
	keys, err := objectKeys(raw, "trigger")
	if err != nil {
		return t, err
	}
	if err := decodeStrict(raw, &t, "trigger"); err != nil {
		return t, err
	}
	switch t.Type {
	case TriggerDate, TriggerSegmentEntered, TriggerInactivity, TriggerEvent:
	default:
		return t, errs.Invalid("trigger.type", "%q is not one of date, segment_entered, inactivity, event", t.Type)
	}
	for _, k := range keys {
		if !triggerTakes(t.Type, k) {
			return t, errs.Invalid("trigger."+k, "is not a setting of a %s trigger", t.Type)
		}
	}
	switch t.Type {
	case TriggerDate:
		if t.Hour == nil {
			nine := 9
			t.Hour = &nine
		}
		if *t.Hour < 0 || *t.Hour > 23 {
			return t, errs.Invalid("trigger.hour", "must be from 0 to 23")
		}
		if t.Timezone != "" {
			if _, err := time.LoadLocation(t.Timezone); err != nil || t.Timezone == "Local" {
				return t, errs.Invalid("trigger.timezone", "%q is not an IANA time zone", t.Timezone)
			}
		}
		switch {
		case t.Field == "birthday", t.Field == "anniversary", t.Field == "signup_at":
		case strings.HasPrefix(t.Field, "attr."):
			fields, err := s.contacts.Fields(ctx)
			if err != nil {
				return t, err
			}
			if f, ok := fields[strings.TrimPrefix(t.Field, "attr.")]; !ok || f.Type != contacts.FieldDate {
				return t, errs.Invalid("trigger.field", "%q is not a custom field of type date", t.Field)
			}
		default:
			return t, errs.Invalid("trigger.field", "%q is not a date: use birthday, anniversary, signup_at or attr.NAME of a date field", t.Field)
		}
		if t.OffsetDays < -60 || t.OffsetDays > 60 {
			return t, errs.Invalid("trigger.offset_days", "must be from -60 to 60")
		}
	case TriggerSegmentEntered:
		if _, err := s.segments.Get(ctx, t.SegmentID); err != nil {
			if errors.Is(err, errs.ErrNotFound) {
				return t, errs.Invalid("trigger.segment_id", "no segment has the id %d", t.SegmentID)
			}
			return t, err
		}
	case TriggerInactivity:
		if t.Factor < 0 || t.Factor > 20 {
			return t, errs.Invalid("trigger.factor", "must be from 0 to 20")
		}
		for _, d := range []struct {
			name string
			v    int
		}{{"one_time_days", t.OneTimeDays}, {"min_days", t.MinDays}, {"max_days", t.MaxDays}} {
			if d.v < 0 || d.v > 3650 {
				return t, errs.Invalid("trigger."+d.name, "must be from 0 to 3650")
			}
		}
		if t.Factor == 0 && t.OneTimeDays == 0 && t.MinDays == 0 {
			return t, errs.Invalid("trigger.factor", "give factor (times the contact's own average days between purchases), one_time_days or min_days")
		}
		if t.MaxDays > 0 && t.MaxDays < t.MinDays {
			return t, errs.Invalid("trigger.max_days", "is less than min_days")
		}
	case TriggerEvent:
		if !contacts.EventNameRe.MatchString(t.Event) {
			return t, errs.Invalid("trigger.event", "%q is not an event type", t.Event)
		}
		names := make([]string, 0, len(t.Where))
		for k := range t.Where {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if !contacts.ValidAttrName(k) {
				return t, errs.Invalid("trigger.where."+k, "is not a property name")
			}
			switch t.Where[k].(type) {
			case string, float64, bool:
			default:
				// Filters are equalities; an object, a list or null
				// would match nothing and hide the mistake.
				return t, errs.Invalid("trigger.where."+k, "must be a text, a number or true/false")
			}
		}
	}
	return t, nil
}

// stepInput is a step as a client writes it: the message is decoded on
// its own so an error inside it gets its full path.
type stepInput struct {
	Type       string          `json:"type"`
	Message    json.RawMessage `json:"message"`
	CampaignID int64           `json:"campaign_id"`
	Duration   string          `json:"duration"`
	Definition json.RawMessage `json:"definition"`
}

// parseSteps decodes and checks the steps of flow flowID (0 for a new
// one), one by one so errors name the step; send steps' messages are
// compiled so template errors show at save time.
func (s *Service) parseSteps(ctx context.Context, raw []byte, flowID int64) ([]Step, error) {
	if !hasRule(raw) {
		return nil, errs.Invalid("steps", "is required")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errs.Invalid("steps", "must be a list of steps")
	}
	if len(items) == 0 || len(items) > maxSteps {
		return nil, errs.Invalid("steps", "give 1 to %d steps", maxSteps)
	}
	steps := make([]Step, len(items))
	usedAt := map[int64]int{} // campaign -> step that sends it
	var owners map[int64]int64
	sends := 0
	for i, item := range items {
		p := fmt.Sprintf("steps[%d]", i)
		keys, err := objectKeys(item, p)
		if err != nil {
			return nil, err
		}
		var in stepInput
		if err := decodeStrict(item, &in, p); err != nil {
			return nil, err
		}
		switch in.Type {
		case StepSend, StepWait, StepExitIf:
		default:
			return nil, errs.Invalid(p+".type", "%q is not one of send, wait, exit_if", in.Type)
		}
		for _, k := range keys {
			if !stepTakes(in.Type, k) {
				return nil, errs.Invalid(p+"."+k, "is not a setting of a %s step", in.Type)
			}
		}
		st := Step{Type: in.Type, CampaignID: in.CampaignID, Duration: in.Duration}
		switch in.Type {
		case StepSend:
			sends++
			if !hasRule(in.Message) && st.CampaignID == 0 {
				return nil, errs.Invalid(p+".message", "is required")
			}
			// A message edits the step's campaign when it names one, so
			// it need only give what changes.
			base := campaigns.Campaign{Kind: campaigns.KindAutomation}
			if st.CampaignID != 0 {
				if owners == nil {
					if owners, err = s.stepOwners(ctx, flowID); err != nil {
						return nil, err
					}
				}
				if base, err = s.checkStepCampaign(ctx, st.CampaignID, owners, usedAt, p); err != nil {
					return nil, err
				}
				usedAt[st.CampaignID] = i
			}
			if hasRule(in.Message) {
				var msg campaigns.Input
				if err := decodeStrict(in.Message, &msg, p+".message"); err != nil {
					return nil, err
				}
				if err := s.checkStepMessage(ctx, base, msg, i, p); err != nil {
					return nil, err
				}
				st.Message = &msg
			}
		case StepWait:
			d, err := segments.ParseDuration(st.Duration)
			if err != nil {
				// The message names the value; the path says where it is.
				return nil, errs.Invalid(p+".duration", "%s", strings.TrimPrefix(err.Error(), "segments: "))
			}
			if d > 366*24*time.Hour {
				return nil, errs.Invalid(p+".duration", "is more than a year")
			}
		case StepExitIf:
			if !hasRule(in.Definition) {
				return nil, errs.Invalid(p+".definition", "is required")
			}
			if _, err := s.segments.Compile(ctx, bindFlowStart(in.Definition, s.cfg.Now())); err != nil {
				if ie, ok := errs.AsInvalid(err); ok {
					return nil, errs.Invalid(subPath(p+".definition", ie.Path), "%s", ie.Message)
				}
				return nil, err
			}
			st.Definition = in.Definition
		}
		steps[i] = st
	}
	if sends == 0 {
		return nil, errs.Invalid("steps", "a flow needs at least one send step")
	}
	return steps, nil
}

// checkStepMessage checks a send step's message as a flow campaign.
func (s *Service) checkStepMessage(ctx context.Context, c campaigns.Campaign, in campaigns.Input, i int, p string) error {
	if in.Name == nil && c.Name == "" {
		name := fmt.Sprintf("step %d", i+1)
		in.Name = &name
	}
	if in.SegmentIDs != nil || in.ExcludeSegmentIDs != nil {
		return errs.Invalid(p+".message.segment_ids", "a flow's trigger chooses who gets its messages")
	}
	if err := s.campaigns.Apply(ctx, &c, in); err != nil {
		if ie, ok := errs.AsInvalid(err); ok {
			return errs.Invalid(p+".message."+ie.Path, "%s", ie.Message)
		}
		return err
	}
	return nil
}

// checkStepCampaign accepts a send step that names its message by id
// (as GET returns steps) only if that campaign is an automation message
// no other flow or step sends: a regular campaign or another flow's
// message would fail, or be shared, at every pass.
func (s *Service) checkStepCampaign(ctx context.Context, id int64, owners map[int64]int64, usedAt map[int64]int, p string) (campaigns.Campaign, error) {
	var c campaigns.Campaign
	err := s.db.WithContext(ctx).Take(&c, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, errs.Invalid(p+".campaign_id", "no campaign has the id %d", id)
	}
	if err != nil {
		return c, fmt.Errorf("automations: step campaign %d: %w", id, err)
	}
	if c.Kind != campaigns.KindAutomation {
		return c, errs.Invalid(p+".campaign_id", "campaign %d is a regular campaign, not an automation message; give the step a message instead", id)
	}
	if other, ok := owners[id]; ok {
		return c, errs.Invalid(p+".campaign_id", "campaign %d is a message of automation %d", id, other)
	}
	if j, ok := usedAt[id]; ok {
		return c, errs.Invalid(p+".campaign_id", "campaign %d is already the message of steps[%d]", id, j)
	}
	return c, nil
}

// stepOwners maps the message campaigns of every flow but except to
// their flow.
func (s *Service) stepOwners(ctx context.Context, except int64) (map[int64]int64, error) {
	var fs []Automation
	if err := s.db.WithContext(ctx).Select("id", "steps").Where("id <> ?", except).Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("automations: flow messages: %w", err)
	}
	owners := map[int64]int64{}
	for _, f := range fs {
		steps, err := StepsOf(f)
		if err != nil {
			continue // a flow whose steps cannot be read sends nothing
		}
		for _, st := range steps {
			if st.CampaignID != 0 {
				owners[st.CampaignID] = f.ID
			}
		}
	}
	return owners, nil
}

// subPath puts the path of an error inside a definition under prefix.
func subPath(prefix, path string) string {
	path = strings.TrimPrefix(strings.TrimPrefix(path, "definition"), ".")
	if path == "" {
		return prefix
	}
	return prefix + "." + path
}

// hasRule reports whether an optional definition column holds a rule.
func hasRule(def []byte) bool {
	t := bytes.TrimSpace(def)
	return len(t) > 0 && string(t) != "null"
}

// bindFlowStart replaces "$flow_start" in a definition with the run's
// start time, so exit rules can ask about what happened since.
func bindFlowStart(def []byte, start time.Time) []byte {
	return bytes.ReplaceAll(def, []byte(`"$flow_start"`), []byte(`"`+start.UTC().Format(time.RFC3339Nano)+`"`))
}

// Create stores a draft flow and the campaigns of its send steps.
func (s *Service) Create(ctx context.Context, in Input) (Automation, error) {
	if in.Name == nil {
		return Automation{}, errs.Invalid("name", "is required")
	}
	var f Automation
	if err := s.applyInput(ctx, &f, in); err != nil {
		return Automation{}, err
	}
	f.Status = AutomationDraft
	if err := s.db.WithContext(ctx).Create(&f).Error; err != nil {
		return Automation{}, fmt.Errorf("automations: create flow: %w", err)
	}
	return f, nil
}

// Update changes a flow. Changing the steps of a flow with active runs
// keeps those runs at their step number. Saving clears the recorded error:
// the next pass records it again if the change did not fix it.
func (s *Service) Update(ctx context.Context, id int64, in Input) (Automation, error) {
	f, err := s.Get(ctx, id)
	if err != nil {
		return Automation{}, err
	}
	if err := s.applyInput(ctx, &f, in); err != nil {
		return Automation{}, err
	}
	f.LastError, f.LastErrorAt = "", nil
	steps, err := StepsOf(f)
	if err != nil {
		return Automation{}, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Select("name", "description", "trigger", "steps", "exit", "last_error", "last_error_at", "updated_at").Save(&f).Error; err != nil {
			return err
		}
		// A step may now name a message that was paused (a step removed
		// earlier and put back): it sends only while its flow is active.
		return syncStepCampaigns(tx, steps, f.Status)
	})
	if err != nil {
		return Automation{}, fmt.Errorf("automations: update flow %d: %w", id, err)
	}
	s.exits.forget()
	return f, nil
}

// syncStepCampaigns sets the status of a flow's message campaigns to
// follow the flow's: sending while it is active, paused otherwise.
func syncStepCampaigns(tx *gorm.DB, steps []Step, st Status) error {
	status := campaigns.CampaignPaused
	if st == AutomationActive {
		status = campaigns.CampaignSending
	}
	var ids []int64
	for _, step := range steps {
		if step.CampaignID != 0 {
			ids = append(ids, step.CampaignID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return tx.Model(&campaigns.Campaign{}).Where("id IN ? AND kind = ?", ids, campaigns.KindAutomation).Update("status", status).Error
}

func (s *Service) applyInput(ctx context.Context, f *Automation, in Input) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" || utf8.RuneCountInString(name) > 200 {
			return errs.Invalid("name", "give a name of 1 to 200 characters")
		}
		f.Name = name
	}
	if in.Description != nil {
		f.Description = strings.TrimSpace(*in.Description)
	}
	if in.Trigger != nil {
		t, err := s.parseTrigger(ctx, in.Trigger)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(t)
		f.Trigger = b
	} else if f.ID == 0 {
		return errs.Invalid("trigger", "is required")
	}
	if in.Exit != nil && hasRule(in.Exit) {
		if _, err := s.segments.Compile(ctx, bindFlowStart(in.Exit, s.cfg.Now())); err != nil {
			if ie, ok := errs.AsInvalid(err); ok {
				return errs.Invalid(subPath("exit", ie.Path), "%s", ie.Message)
			}
			return err
		}
		f.Exit = db.JSONRaw(in.Exit)
	} else if in.Exit != nil {
		f.Exit = nil
	}
	if in.Steps != nil {
		steps, err := s.parseSteps(ctx, in.Steps, f.ID)
		if err != nil {
			return err
		}
		// Each send step's message becomes (or updates) a flow campaign:
		// the one the step names, else the one at the same place before,
		// unless another step names that one.
		var old []Step
		if len(f.Steps) > 0 {
			_ = json.Unmarshal(f.Steps, &old)
		}
		named := map[int64]bool{}
		for _, st := range steps {
			if st.CampaignID != 0 {
				named[st.CampaignID] = true
			}
		}
		for i := range steps {
			st := &steps[i]
			if st.Type != StepSend || st.Message == nil {
				continue
			}
			in := *st.Message
			if in.Name == nil {
				name := fmt.Sprintf("%s: step %d", f.Name, i+1)
				in.Name = &name
			}
			prev := st.CampaignID
			if prev == 0 && i < len(old) && old[i].Type == StepSend && !named[old[i].CampaignID] {
				prev = old[i].CampaignID
				named[prev] = true
			}
			id, err := s.campaigns.SaveStepMessage(ctx, prev, in, f.Status == AutomationActive)
			if err != nil {
				return err
			}
			st.CampaignID = id
			st.Message = nil
		}
		b, _ := json.Marshal(steps)
		f.Steps = b
	}
	return nil
}

// Get returns a flow.
func (s *Service) Get(ctx context.Context, id int64) (Automation, error) {
	var f Automation
	err := s.db.WithContext(ctx).Take(&f, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Automation{}, errs.NotFound("automation", id)
	}
	if err != nil {
		return Automation{}, fmt.Errorf("automations: get flow %d: %w", id, err)
	}
	return f, nil
}

// List returns every flow, newest first.
func (s *Service) List(ctx context.Context) ([]Automation, error) {
	var fs []Automation
	if err := s.db.WithContext(ctx).Order("id DESC").Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("automations: list flows: %w", err)
	}
	return fs, nil
}

// StepsOf decodes a flow's steps.
func StepsOf(f Automation) ([]Step, error) {
	var steps []Step
	if err := json.Unmarshal(f.Steps, &steps); err != nil {
		return nil, fmt.Errorf("automations: steps of flow %d: %w", f.ID, err)
	}
	return steps, nil
}

// TriggerOf decodes a flow's trigger.
func TriggerOf(f Automation) (Trigger, error) {
	var t Trigger
	if err := json.Unmarshal(f.Trigger, &t); err != nil {
		return t, fmt.Errorf("automations: trigger of flow %d: %w", f.ID, err)
	}
	if t.Hour == nil {
		nine := 9
		t.Hour = &nine
	}
	return t, nil
}

// Enable starts a flow. Segment and event triggers start from now:
// entries and events from before are not replayed.
func (s *Service) Enable(ctx context.Context, id int64) (Automation, error) {
	f, err := s.Get(ctx, id)
	if err != nil {
		return Automation{}, err
	}
	t, err := TriggerOf(f)
	if err != nil {
		return Automation{}, err
	}
	cursor := f.Cursor
	if f.Status == AutomationDraft {
		switch t.Type {
		case TriggerSegmentEntered:
			if err := s.db.WithContext(ctx).Model(&segments.Change{}).Select("COALESCE(MAX(id), 0)").Scan(&cursor).Error; err != nil {
				return Automation{}, fmt.Errorf("automations: enable flow %d: %w", id, err)
			}
		case TriggerEvent:
			if err := s.db.WithContext(ctx).Model(&contacts.Event{}).Select("COALESCE(MAX(id), 0)").Scan(&cursor).Error; err != nil {
				return Automation{}, fmt.Errorf("automations: enable flow %d: %w", id, err)
			}
		}
	}
	return f, s.setStatus(ctx, &f, AutomationActive, cursor)
}

// Disable pauses a flow: no one enters, runs wait where they are.
func (s *Service) Disable(ctx context.Context, id int64) (Automation, error) {
	f, err := s.Get(ctx, id)
	if err != nil {
		return Automation{}, err
	}
	if f.Status == AutomationDraft {
		return f, nil
	}
	return f, s.setStatus(ctx, &f, AutomationPaused, f.Cursor)
}

func (s *Service) setStatus(ctx context.Context, f *Automation, st Status, cursor int64) error {
	steps, err := StepsOf(*f)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// A flow that is switched on again starts with a clean slate; the
		// next pass records what still fails.
		if err := tx.Model(&Automation{}).Where("id = ?", f.ID).Updates(map[string]any{"status": st, "cursor": cursor, "last_error": "", "last_error_at": nil, "updated_at": now}).Error; err != nil {
			return err
		}
		return syncStepCampaigns(tx, steps, st)
	})
	if err != nil {
		return fmt.Errorf("automations: set flow %d %s: %w", f.ID, st, err)
	}
	s.exits.forget()
	f.Status, f.Cursor, f.LastError, f.LastErrorAt, f.UpdatedAt = st, cursor, "", nil, now
	return nil
}

// Delete removes a flow that is not active, with its runs.
func (s *Service) Delete(ctx context.Context, id int64) error {
	f, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if f.Status == AutomationActive {
		return errs.Conflict("automation %d is active; disable it first", id)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("flow_id = ?", id).Delete(&Run{}).Error; err != nil {
			return err
		}
		return tx.Delete(&Automation{}, id).Error
	})
	if err != nil {
		return fmt.Errorf("automations: delete flow %d: %w", id, err)
	}
	s.exits.forget()
	return nil
}

// Stats is how a flow is doing: its runs, and each step's message.
type Stats struct {
	Active int64 `json:"active"`
	// Deferred counts the active runs the frequency cap holds back now,
	// Failing those whose step failed and waits to be tried again.
	Deferred int64       `json:"deferred"`
	Failing  int64       `json:"failing"`
	Done     int64       `json:"done"`
	Exited   int64       `json:"exited"`
	Steps    []StepStats `json:"steps"`
	// Totals sum the send steps' stats.
	Sent         int64 `json:"sent"`
	OpensUnique  int64 `json:"opens_unique"`
	ClicksUnique int64 `json:"clicks_unique"`
}

// StepStats is one step and, for sends, its message's stats.
type StepStats struct {
	Step       int            `json:"step"`
	Type       string         `json:"type"`
	CampaignID int64          `json:"campaign_id,omitempty"`
	Waiting    int64          `json:"waiting"` // active runs at this step
	Stats      *reports.Stats `json:"stats,omitempty"`
}

// Stats counts a flow's runs and its steps' sends.
func (s *Service) Stats(ctx context.Context, id int64) (Stats, error) {
	f, err := s.Get(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	steps, err := StepsOf(f)
	if err != nil {
		return Stats{}, err
	}
	out := Stats{Steps: []StepStats{}}
	type row struct {
		Status RunStatus
		Step   int
		Hold   string
		N      int64
	}
	var rows []row
	if err := s.db.WithContext(ctx).Model(&Run{}).Select("status, step, hold, COUNT(*) AS n").Where("flow_id = ?", id).Group("status, step, hold").Scan(&rows).Error; err != nil {
		return Stats{}, fmt.Errorf("automations: flow stats %d: %w", id, err)
	}
	waiting := map[int]int64{}
	for _, r := range rows {
		switch r.Status {
		case RunActive:
			out.Active += r.N
			waiting[r.Step] += r.N
			switch r.Hold {
			case HoldDeferred:
				out.Deferred += r.N
			case HoldFailed:
				out.Failing += r.N
			}
		case RunDone:
			out.Done += r.N
		case RunExited:
			out.Exited += r.N
		}
	}
	for i, st := range steps {
		ss := StepStats{Step: i + 1, Type: st.Type, CampaignID: st.CampaignID, Waiting: waiting[i]}
		if st.Type == StepSend && st.CampaignID != 0 {
			cs, err := s.reports.Stats(ctx, st.CampaignID)
			if errors.Is(err, errs.ErrNotFound) {
				// A message lost from an older install; the flow's
				// last_error says so.
				out.Steps = append(out.Steps, ss)
				continue
			}
			if err != nil {
				return Stats{}, err
			}
			ss.Stats = &cs
			out.Sent += cs.Sent
			out.OpensUnique += cs.OpensUnique
			out.ClicksUnique += cs.ClicksUnique
		}
		out.Steps = append(out.Steps, ss)
	}
	return out, nil
}

// Runs returns a page of limit of a flow's runs, newest first, and
// the cursor of the next page (0 at the end). filter is "" (every run), a
// run status (active, done, exited), RunsDeferred (held back by the
// frequency cap) or RunsFailing (a step failed and will be tried again).
// How large a page may be is the caller's to bound (the API's page does).
func (s *Service) Runs(ctx context.Context, flowID int64, filter string, before int64, limit int) ([]Run, int64, error) {
	if _, err := s.Get(ctx, flowID); err != nil {
		return nil, 0, err
	}
	limit = max(limit, 1)
	q := s.db.WithContext(ctx).Where("flow_id = ?", flowID)
	switch filter {
	case "":
	case string(RunActive), string(RunDone), string(RunExited):
		q = q.Where("status = ?", filter)
	case RunsDeferred:
		q = q.Where("status = ? AND hold = ?", RunActive, HoldDeferred)
	case RunsFailing:
		q = q.Where("status = ? AND hold = ?", RunActive, HoldFailed)
	default:
		return nil, 0, errs.Invalid("status", "%q is not one of %s, %s, %s, %s, %s", filter, RunActive, RunDone, RunExited, RunsDeferred, RunsFailing)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var runs []Run
	if err := q.Order("id DESC").Limit(limit + 1).Find(&runs).Error; err != nil {
		return nil, 0, fmt.Errorf("automations: runs of flow %d: %w", flowID, err)
	}
	var next int64
	if len(runs) > limit {
		runs = runs[:limit]
		next = runs[len(runs)-1].ID
	}
	return runs, next, nil
}
