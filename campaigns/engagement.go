package campaigns

import (
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"herald/internal/db"
)

// Engagement roll-ups: what "opened none / any / all of the last N
// campaigns" needs, kept by the database itself so that a segment rule is
// a test of a few columns of the contact instead of a scan of every
// contact's deliveries and events.
//
// engagement_campaigns has a row per contact and campaign sent to them
// (status sent): when the campaign was last sent to the contact, and
// whether the contact opened or clicked it, by a person or counting
// machines too. The contact's eng_* columns sum up its rows by their rank
// in "the campaigns sent to the contact, latest first" (by latest send,
// then campaign id: repeats of an automation's campaign are one campaign):
// how many campaigns were sent (eng_sent), and for each kind of
// engagement the rank of the latest campaign engaged with (_hit) and of
// the latest one not (_miss). Then, for N:
//
//	any of the last N:  hit <= N
//	none of the last N: something was sent and not hit <= N
//	all of the last N:  something was sent and not miss <= N
//
// Triggers keep both in step with deliveries and events, whoever writes
// them (the sender, automations, imports, tests), in the writer's own
// transaction, so a preview never sees them behind. Only a sent delivery,
// an open or a click does any work. The migration builds them from
// deliveries and events whenever it has to create the triggers: on the
// first start of a version that has them, and after a bulk load that
// dropped them (DropEngagementTriggers).

// engagementVersion names the triggers; a change of their SQL takes a new
// version, so that the migration replaces them and rebuilds the tables.
const engagementVersion = "engagement_v1"

// engagementKinds are the roll-up columns' prefixes with the events they
// count: a person's opens and clicks, and those counting machines' too.
var engagementKinds = []struct{ flag, typ string }{
	{"opened", "email.open"},
	{"opened_any", "email.open"},
	{"clicked", "email.click"},
	{"clicked_any", "email.click"},
}

func engagementTriggerNames(pg bool) []string {
	v := engagementVersion
	if pg {
		return []string{v + "_deliveries_ins", v + "_deliveries_upd", v + "_deliveries_del", v + "_events_ins", v + "_events_upd", v + "_events_del"}
	}
	return []string{v + "_deliveries_ins", v + "_deliveries_upd", v + "_deliveries_del", v + "_events_ins", v + "_events_upd", v + "_events_del",
		v + "_campaigns_ins", v + "_campaigns_upd", v + "_campaigns_del"}
}

// existingEngagementTriggers lists the engagement triggers present, of
// any version.
func existingEngagementTriggers(g *gorm.DB, pg bool) ([]string, error) {
	var names []string
	q := `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'engagement\_v%' ESCAPE '\'`
	if pg {
		q = `SELECT tgname || ' ON ' || tgrelid::regclass::text FROM pg_trigger
			WHERE NOT tgisinternal AND tgname LIKE 'engagement\_v%' AND tgrelid IN (to_regclass('deliveries'), to_regclass('events'))`
	}
	if err := g.Raw(q).Scan(&names).Error; err != nil {
		return nil, err
	}
	return names, nil
}

// DropEngagementTriggers drops the triggers that keep the engagement
// roll-ups, for a bulk load of deliveries and events that should not pay
// for them row by row: the next Migrate rebuilds the roll-ups from the
// loaded rows and creates the triggers again.
func DropEngagementTriggers(g *gorm.DB) error {
	pg := db.IsPostgres(g)
	names, err := existingEngagementTriggers(g, pg)
	if err != nil {
		return fmt.Errorf("campaigns: engagement triggers: %w", err)
	}
	for _, n := range names {
		if err := g.Exec("DROP TRIGGER IF EXISTS " + n).Error; err != nil {
			return fmt.Errorf("campaigns: drop trigger %s: %w", n, err)
		}
	}
	return nil
}

// migrateEngagement creates the roll-up tables and, when its triggers are
// not all there, rebuilds the tables and creates them. It runs in the
// migration's transaction; on PostgreSQL it locks deliveries and events
// against writes first, so that no write falls between the rebuild and
// the triggers.
func migrateEngagement(g *gorm.DB) error {
	pg := db.IsPostgres(g)
	have, err := existingEngagementTriggers(g, pg)
	if err != nil {
		return fmt.Errorf("engagement triggers: %w", err)
	}
	var current []string
	for _, h := range have {
		current = append(current, strings.SplitN(h, " ", 2)[0])
	}
	complete := true
	for _, n := range engagementTriggerNames(pg) {
		if !slices.Contains(current, n) {
			complete = false
		}
	}
	if !complete || len(current) != len(engagementTriggerNames(pg)) {
		if err := g.Transaction(func(tx *gorm.DB) error {
			return rebuildEngagement(tx, pg, have)
		}); err != nil {
			return err
		}
	}
	// The rules read the roll-ups alone: from this index, a fraction of
	// the table's size, both engines answer them without reading the
	// contacts' rows. It is built after the rows are written, once.
	if err := g.Exec("CREATE INDEX IF NOT EXISTS idx_contacts_engagement ON contacts (" + rankColumns() + ")").Error; err != nil {
		return fmt.Errorf("engagement index: %w", err)
	}
	return nil
}

func rebuildEngagement(g *gorm.DB, pg bool, have []string) error {
	if err := addEngagementColumns(g, pg); err != nil {
		return fmt.Errorf("engagement columns: %w", err)
	}
	var stmts []string
	if pg {
		stmts = append(stmts, "LOCK TABLE deliveries, events IN SHARE ROW EXCLUSIVE MODE")
	}
	for _, h := range have {
		stmts = append(stmts, "DROP TRIGGER IF EXISTS "+h)
	}
	stmts = append(stmts, engagementTables(pg)...)
	stmts = append(stmts, engagementRebuild(pg)...)
	if pg {
		stmts = append(stmts, engagementPGFunctions()...)
		stmts = append(stmts, engagementPGTriggers()...)
	} else {
		stmts = append(stmts, engagementSQLiteTriggers()...)
	}
	for _, q := range stmts {
		if err := g.Exec(q).Error; err != nil {
			return fmt.Errorf("engagement roll-ups: %w\n%s", err, q)
		}
	}
	return nil
}

func engagementTables(pg bool) []string {
	ts, rowid := "timestamptz", ""
	if !pg {
		ts, rowid = "datetime", " WITHOUT ROWID"
	}
	var flags []string
	for _, k := range engagementKinds {
		flags = append(flags, k.flag+" smallint NOT NULL DEFAULT 0")
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS engagement_campaigns (contact_id bigint NOT NULL, campaign_id bigint NOT NULL, last_sent_at ` + ts + `, ` +
			strings.Join(flags, ", ") + `, PRIMARY KEY (contact_id, campaign_id))` + rowid,
	}
}

// engagementContactColumns are the columns of contacts the roll-ups keep,
// with their types.
func engagementContactColumns() [][2]string {
	cols := [][2]string{{"eng_sent", "integer NOT NULL DEFAULT 0"}}
	for _, k := range engagementKinds {
		cols = append(cols, [2]string{"eng_" + k.flag + "_hit", "integer"}, [2]string{"eng_" + k.flag + "_miss", "integer"})
	}
	return cols
}

// addEngagementColumns adds the roll-up columns to contacts where missing.
func addEngagementColumns(g *gorm.DB, pg bool) error {
	for _, c := range engagementContactColumns() {
		if pg {
			if err := g.Exec("ALTER TABLE contacts ADD COLUMN IF NOT EXISTS " + c[0] + " " + c[1]).Error; err != nil {
				return err
			}
			continue
		}
		var n int64
		if err := g.Raw("SELECT COUNT(*) FROM pragma_table_info('contacts') WHERE name = ?", c[0]).Scan(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			if err := g.Exec("ALTER TABLE contacts ADD COLUMN " + c[0] + " " + c[1]).Error; err != nil {
				return err
			}
		}
	}
	return nil
}

// engagementFlags are the four flags of the pair (contact, campaign), as
// SQL expressions: probes of idx_events_type_campaign_contact.
func engagementFlags(pg bool, contact, campaign string) []string {
	f, t := "0", "1"
	if pg {
		f, t = "FALSE", "TRUE"
	}
	probe := func(typ, machine string) string {
		return "EXISTS (SELECT 1 FROM events e WHERE e.type = '" + typ + "' AND e.campaign_id = " + campaign +
			" AND e.machine = " + machine + " AND e.contact_id = " + contact + ")"
	}
	var out []string
	for _, k := range engagementKinds {
		human := probe(k.typ, f)
		if strings.HasSuffix(k.flag, "_any") {
			out = append(out, "CASE WHEN "+human+" OR "+probe(k.typ, t)+" THEN 1 ELSE 0 END")
		} else {
			out = append(out, "CASE WHEN "+human+" THEN 1 ELSE 0 END")
		}
	}
	return out
}

func flagColumns() string {
	var cs []string
	for _, k := range engagementKinds {
		cs = append(cs, k.flag)
	}
	return strings.Join(cs, ", ")
}

func rankColumns() string {
	var cs []string
	for _, c := range engagementContactColumns() {
		cs = append(cs, c[0])
	}
	return strings.Join(cs, ", ")
}

// summaryAggregates sum up a contact's engagement_campaigns rows, ranked
// in rn, into the values of rankColumns. The ranks follow the order
// segments always gave "the last N campaigns": latest send first, then
// the larger campaign id.
func summaryAggregates() string {
	aggs := []string{"COUNT(*)"}
	for _, k := range engagementKinds {
		aggs = append(aggs, "MIN(CASE WHEN "+k.flag+" = 1 THEN rn END)", "MIN(CASE WHEN "+k.flag+" = 0 THEN rn END)")
	}
	return strings.Join(aggs, ", ")
}

const rankOrder = "ORDER BY last_sent_at DESC, campaign_id DESC"

// summaryUpdate sets the roll-up columns of the contacts matching where
// from their engagement_campaigns rows (none: nothing sent).
func summaryUpdate(where string) string {
	return "UPDATE contacts SET (" + rankColumns() + ") = (SELECT " + summaryAggregates() +
		" FROM (SELECT " + flagColumns() + ", ROW_NUMBER() OVER (" + rankOrder + ") AS rn FROM engagement_campaigns g WHERE g.contact_id = contacts.id) r)" +
		" WHERE " + where
}

func pairUpsert() string {
	sets := []string{"last_sent_at = excluded.last_sent_at"}
	for _, k := range engagementKinds {
		sets = append(sets, k.flag+" = excluded."+k.flag)
	}
	return " ON CONFLICT (contact_id, campaign_id) DO UPDATE SET " + strings.Join(sets, ", ")
}

// engagementRebuild fills both tables from deliveries and events.
func engagementRebuild(pg bool) []string {
	human := "machine = 0"
	if pg {
		human = "machine = FALSE"
	}
	var flags, aggs []string
	for _, k := range engagementKinds {
		flags = append(flags, "COALESCE(e."+k.flag+", 0)")
		cond := "type = '" + k.typ + "'"
		if !strings.HasSuffix(k.flag, "_any") {
			cond += " AND " + human
		}
		aggs = append(aggs, "MAX(CASE WHEN "+cond+" THEN 1 ELSE 0 END) AS "+k.flag)
	}
	return []string{
		"DELETE FROM engagement_campaigns",
		"INSERT INTO engagement_campaigns (contact_id, campaign_id, last_sent_at, " + flagColumns() + ")" +
			" SELECT d.contact_id, d.campaign_id, d.at, " + strings.Join(flags, ", ") +
			" FROM (SELECT contact_id, campaign_id, MAX(sent_at) AS at FROM deliveries WHERE status = 'sent' AND campaign_id IS NOT NULL GROUP BY contact_id, campaign_id) d" +
			" LEFT JOIN (SELECT contact_id, campaign_id, " + strings.Join(aggs, ", ") +
			" FROM events WHERE type IN ('email.open', 'email.click') AND campaign_id IS NOT NULL GROUP BY contact_id, campaign_id) e" +
			" ON e.contact_id = d.contact_id AND e.campaign_id = d.campaign_id ORDER BY d.contact_id, d.campaign_id",
		// Contacts sent nothing keep the defaults; only those that had
		// something are reset before the sums are written.
		"UPDATE contacts SET (" + rankColumns() + ") = (SELECT 0" + strings.Repeat(", CAST(NULL AS integer)", len(engagementContactColumns())-1) + ") WHERE eng_sent <> 0",
		"UPDATE contacts SET (" + rankColumns() + ") = (SELECT " + sumColumns("s") + ") FROM (SELECT contact_id, " + summaryAggregatesAs() +
			" FROM (SELECT contact_id, " + flagColumns() + ", ROW_NUMBER() OVER (PARTITION BY contact_id " + rankOrder + ") AS rn FROM engagement_campaigns) r GROUP BY contact_id) s" +
			" WHERE contacts.id = s.contact_id",
	}
}

func summaryAggregatesAs() string {
	aggs := strings.Split(summaryAggregates(), ", ")
	cols := strings.Split(rankColumns(), ", ")
	for i := range aggs {
		aggs[i] += " AS " + cols[i]
	}
	return strings.Join(aggs, ", ")
}

func sumColumns(alias string) string {
	cols := strings.Split(rankColumns(), ", ")
	for i := range cols {
		cols[i] = alias + "." + cols[i]
	}
	return strings.Join(cols, ", ")
}

// engagementPGFunctions are the PostgreSQL functions the triggers call:
// set-based, once per statement, over the (contact, campaign) pairs the
// statement touched.
func engagementPGFunctions() []string {
	pairsOf := func(rel string) string {
		return "SELECT array_agg(contact_id ORDER BY contact_id, campaign_id), array_agg(campaign_id ORDER BY contact_id, campaign_id) INTO cs, ks" +
			" FROM (SELECT DISTINCT contact_id, campaign_id FROM " + rel + ") p"
	}
	return []string{
		// Rows are locked in (contact, campaign) order, and summaries in
		// contact order, so that two statements never wait for each other
		// in a circle.
		`CREATE OR REPLACE FUNCTION engagement_contacts(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
	` + summaryUpdate("contacts.id = ANY(ids)") + `;
END $f$`,
		`CREATE OR REPLACE FUNCTION engagement_pairs(cs bigint[], ks bigint[]) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
	-- The contacts first, in id order, as contacts.Store locks them
	-- before it writes events: a send and an open of the same contact
	-- then never hold what the other waits for.
	PERFORM 1 FROM contacts WHERE id = ANY(cs) ORDER BY id FOR NO KEY UPDATE;
	DELETE FROM engagement_campaigns g USING unnest(cs, ks) AS p(contact_id, campaign_id)
		WHERE g.contact_id = p.contact_id AND g.campaign_id = p.campaign_id
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = p.campaign_id AND d.contact_id = p.contact_id AND d.status = 'sent');
	INSERT INTO engagement_campaigns (contact_id, campaign_id, last_sent_at, ` + flagColumns() + `)
		SELECT p.contact_id, p.campaign_id, s.at, ` + strings.Join(engagementFlags(true, "p.contact_id", "p.campaign_id"), ", ") + `
		FROM unnest(cs, ks) AS p(contact_id, campaign_id)
		CROSS JOIN LATERAL (SELECT MAX(d.sent_at) AS at, COUNT(*) AS n FROM deliveries d
			WHERE d.campaign_id = p.campaign_id AND d.contact_id = p.contact_id AND d.status = 'sent') s
		WHERE s.n > 0 ORDER BY p.contact_id, p.campaign_id` + pairUpsert() + `;
	PERFORM engagement_contacts(cs);
END $f$`,
		`CREATE OR REPLACE FUNCTION engagement_flags(cs bigint[], ks bigint[]) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE changed bigint[];
BEGIN
	WITH f AS (
		SELECT g.contact_id, g.campaign_id, ` + strings.Join(engagementFlagsAs(), ", ") + `
		FROM engagement_campaigns g JOIN unnest(cs, ks) AS p(contact_id, campaign_id) ON g.contact_id = p.contact_id AND g.campaign_id = p.campaign_id
		ORDER BY g.contact_id, g.campaign_id FOR UPDATE OF g
	), u AS (
		UPDATE engagement_campaigns g SET ` + engagementFlagSets() + `
		FROM f WHERE g.contact_id = f.contact_id AND g.campaign_id = f.campaign_id
		AND (g.` + strings.ReplaceAll(flagColumns(), ", ", ", g.") + `) IS DISTINCT FROM (f.` + strings.ReplaceAll(flagColumns(), ", ", ", f.") + `)
		RETURNING g.contact_id
	)
	SELECT array_agg(DISTINCT contact_id) INTO changed FROM u;
	IF changed IS NOT NULL THEN
		PERFORM engagement_contacts(changed);
	END IF;
END $f$`,
		`CREATE OR REPLACE FUNCTION engagement_deliveries() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE cs bigint[]; ks bigint[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		` + pairsOf("new_rows WHERE status = 'sent' AND campaign_id IS NOT NULL") + `;
	ELSIF TG_OP = 'DELETE' THEN
		` + pairsOf("old_rows WHERE status = 'sent' AND campaign_id IS NOT NULL") + `;
	ELSE
		` + pairsOf(`(SELECT x.contact_id, x.campaign_id FROM new_rows n JOIN old_rows o ON o.id = n.id
			CROSS JOIN LATERAL (VALUES (n.contact_id, n.campaign_id), (o.contact_id, o.campaign_id)) AS x(contact_id, campaign_id)
			WHERE (n.status = 'sent' OR o.status = 'sent')
			AND (n.status IS DISTINCT FROM o.status OR n.sent_at IS DISTINCT FROM o.sent_at OR n.contact_id <> o.contact_id OR n.campaign_id IS DISTINCT FROM o.campaign_id)
			AND x.campaign_id IS NOT NULL) c`) + `;
	END IF;
	IF cs IS NOT NULL THEN
		PERFORM engagement_pairs(cs, ks);
	END IF;
	RETURN NULL;
END $f$`,
		`CREATE OR REPLACE FUNCTION engagement_events() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE cs bigint[]; ks bigint[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		` + pairsOf("new_rows WHERE type IN ('email.open', 'email.click') AND campaign_id IS NOT NULL") + `;
	ELSIF TG_OP = 'DELETE' THEN
		` + pairsOf("old_rows WHERE type IN ('email.open', 'email.click') AND campaign_id IS NOT NULL") + `;
	ELSE
		` + pairsOf(`(SELECT contact_id, campaign_id, type FROM new_rows UNION ALL SELECT contact_id, campaign_id, type FROM old_rows) c
			WHERE type IN ('email.open', 'email.click') AND campaign_id IS NOT NULL`) + `;
	END IF;
	IF cs IS NOT NULL THEN
		PERFORM engagement_flags(cs, ks);
	END IF;
	RETURN NULL;
END $f$`,
	}
}

func engagementFlagsAs() []string {
	out := engagementFlags(true, "g.contact_id", "g.campaign_id")
	for i, k := range engagementKinds {
		out[i] += " AS " + k.flag
	}
	return out
}

func engagementFlagSets() string {
	var sets []string
	for _, k := range engagementKinds {
		sets = append(sets, k.flag+" = f."+k.flag)
	}
	return strings.Join(sets, ", ")
}

func engagementPGTriggers() []string {
	v := engagementVersion
	return []string{
		"CREATE TRIGGER " + v + "_deliveries_ins AFTER INSERT ON deliveries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_deliveries()",
		"CREATE TRIGGER " + v + "_deliveries_upd AFTER UPDATE ON deliveries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_deliveries()",
		"CREATE TRIGGER " + v + "_deliveries_del AFTER DELETE ON deliveries REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_deliveries()",
		"CREATE TRIGGER " + v + "_events_ins AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_events()",
		"CREATE TRIGGER " + v + "_events_upd AFTER UPDATE ON events REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_events()",
		"CREATE TRIGGER " + v + "_events_del AFTER DELETE ON events REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_events()",
	}
}

// engagementSQLiteTriggers keep the tables row by row (SQLite has no
// statement-level triggers): a change of a pair's row in
// engagement_campaigns sums its contact up again.
func engagementSQLiteTriggers() []string {
	v := engagementVersion
	pair := func(x string) string {
		c, k := x+".contact_id", x+".campaign_id"
		return "DELETE FROM engagement_campaigns WHERE contact_id = " + c + " AND campaign_id = " + k +
			" AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = " + k + " AND d.contact_id = " + c + " AND d.status = 'sent');\n" +
			"INSERT INTO engagement_campaigns (contact_id, campaign_id, last_sent_at, " + flagColumns() + ")" +
			" SELECT d.contact_id, d.campaign_id, MAX(d.sent_at), " + strings.Join(engagementFlags(false, c, k), ", ") +
			" FROM deliveries d WHERE d.campaign_id = " + k + " AND d.contact_id = " + c + " AND d.status = 'sent' GROUP BY d.contact_id, d.campaign_id" +
			pairUpsert() + ";\n"
	}
	flags := func(x string) string {
		c, k := x+".contact_id", x+".campaign_id"
		fl := engagementFlags(false, c, k)
		var sets []string
		for i, kd := range engagementKinds {
			sets = append(sets, kd.flag+" = "+fl[i])
		}
		return "UPDATE engagement_campaigns SET " + strings.Join(sets, ", ") + " WHERE contact_id = " + c + " AND campaign_id = " + k + ";\n"
	}
	summary := func(c string) string {
		return summaryUpdate("id = "+c) + ";\n"
	}
	sent := func(x string) string { return x + ".status = 'sent' AND " + x + ".campaign_id IS NOT NULL" }
	tracked := func(x string) string {
		return x + ".type IN ('email.open', 'email.click') AND " + x + ".campaign_id IS NOT NULL"
	}
	var changed []string
	for _, k := range engagementKinds {
		changed = append(changed, "OLD."+k.flag+" IS NOT NEW."+k.flag)
	}
	return []string{
		"CREATE TRIGGER " + v + "_deliveries_ins AFTER INSERT ON deliveries WHEN " + sent("NEW") + " BEGIN\n" + pair("NEW") + "END",
		"CREATE TRIGGER " + v + "_deliveries_upd AFTER UPDATE ON deliveries WHEN (NEW.status = 'sent' OR OLD.status = 'sent')" +
			" AND (NEW.status IS NOT OLD.status OR NEW.sent_at IS NOT OLD.sent_at OR NEW.contact_id IS NOT OLD.contact_id OR NEW.campaign_id IS NOT OLD.campaign_id) BEGIN\n" +
			pair("OLD") + pair("NEW") + "END",
		"CREATE TRIGGER " + v + "_deliveries_del AFTER DELETE ON deliveries WHEN " + sent("OLD") + " BEGIN\n" + pair("OLD") + "END",
		"CREATE TRIGGER " + v + "_events_ins AFTER INSERT ON events WHEN " + tracked("NEW") + " BEGIN\n" + flags("NEW") + "END",
		"CREATE TRIGGER " + v + "_events_upd AFTER UPDATE ON events WHEN (" + tracked("OLD") + ") OR (" + tracked("NEW") + ") BEGIN\n" + flags("OLD") + flags("NEW") + "END",
		"CREATE TRIGGER " + v + "_events_del AFTER DELETE ON events WHEN " + tracked("OLD") + " BEGIN\n" + flags("OLD") + "END",
		"CREATE TRIGGER " + v + "_campaigns_ins AFTER INSERT ON engagement_campaigns BEGIN\n" + summary("NEW.contact_id") + "END",
		"CREATE TRIGGER " + v + "_campaigns_upd AFTER UPDATE ON engagement_campaigns WHEN OLD.last_sent_at IS NOT NEW.last_sent_at OR " +
			strings.Join(changed, " OR ") + " BEGIN\n" + summary("NEW.contact_id") + "END",
		"CREATE TRIGGER " + v + "_campaigns_del AFTER DELETE ON engagement_campaigns BEGIN\n" + summary("OLD.contact_id") + "END",
	}
}
