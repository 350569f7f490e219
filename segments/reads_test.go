package segments_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/db"
	"herald/internal/testenv"
	"herald/segments"
)

// longEventTypes is a valid definition that reads 60 event types of 64
// characters: some 4,000 characters of reads.
func longEventTypes() (string, []string) {
	var rules, types []string
	for i := 0; i < 60; i++ {
		typ := fmt.Sprintf("custom.%02d.%s", i, strings.Repeat("x", 64-len("custom.00.")))
		types = append(types, typ)
		rules = append(rules, `{"field":"event.`+typ+`","op":"count_gte","value":{"n":1}}`)
	}
	return `{"any":[` + strings.Join(rules, ",") + `]}`, types
}

// TestSegmentsReadingManyEventTypes checks that a definition reading more
// than 2,000 characters' worth of fields and event types is stored, and
// that an event of the last of them still reaches the segment.
func TestSegmentsReadingManyEventTypes(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, townPeople)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	def, types := longEventTypes()
	seg := createSegment(t, svc, "many event types", def)
	if len(seg.Reads) < 2000 || !strings.Contains(seg.Reads, ",event."+types[59]+",") {
		t.Fatalf("reads of %d characters %q..., want all %d event types", len(seg.Reads), seg.Reads[:min(len(seg.Reads), 80)], len(types))
	}
	w.record(t, ev{who: "amy", typ: types[59], at: daysAgo(1)})
	if err := svc.ContactsChanged(ctx, []int64{w.id(t, "amy")}, []string{"event." + types[59]}); err != nil {
		t.Fatal(err)
	}
	checkSegment(t, svc, seg.ID, "amy")
}

// segmentV1 is the segments table as the first release created it, with
// reads limited to 2,000 characters.
type segmentV1 struct {
	ID           int64      `gorm:"primaryKey"`
	Name         string     `gorm:"size:200;not null"`
	Description  string     `gorm:"size:2000;not null;default:''"`
	Definition   db.JSONRaw `gorm:"not null"`
	Reads        string     `gorm:"size:2000;not null;default:''"`
	TimeRelative bool       `gorm:"not null;default:false"`
	MemberCount  int64      `gorm:"not null;default:0"`
	RefreshedAt  *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (segmentV1) TableName() string { return "segments" }

// TestMigrateWidensReads checks that migrating a database made by the
// first release lets its segments read more than 2,000 characters' worth.
func TestMigrateWidensReads(t *testing.T) {
	g := testenv.DB(t, func(g *gorm.DB) error {
		if err := contacts.Migrate(g); err != nil {
			return err
		}
		return g.AutoMigrate(&segmentV1{})
	})
	if err := g.Create(&segmentV1{Name: "old", Definition: db.JSONRaw(`{"all":[]}`), Reads: ",,"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := migrate(g); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if testenv.Postgres() {
		var typ string
		if err := g.Raw("SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'segments' AND column_name = 'reads'").Scan(&typ).Error; err != nil {
			t.Fatal(err)
		}
		if typ != "text" {
			t.Errorf("segments.reads is %s after migrating, want text", typ)
		}
	}
	store := contacts.NewStore(g, contacts.Options{Now: fixedClock(now)})
	svc := segments.NewService(g, store, fixedClock(now), nil)
	def, _ := longEventTypes()
	name := "many event types"
	if _, err := svc.Create(context.Background(), segments.Input{Name: &name, Definition: []byte(def)}); err != nil {
		t.Fatalf("Create after migrating: %v", err)
	}
	old, err := svc.Get(context.Background(), 1)
	if err != nil || old.Name != "old" {
		t.Errorf("the old segment after migrating: %+v, %v", old, err)
	}
}
