package campaigns

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"herald/internal/db"
)

// ledger writes a Sender's claims and settlements with group commit. A
// send task hands its write (the outcomes of the chunk it has just sent
// and the chunk it wants to send next) to the ledger and waits; one
// goroutine puts every write waiting at that moment into a single
// transaction. With eight tasks a process then commits a few times per
// ClaimSize messages instead of eight times, and only one of its database
// connections writes deliveries at a time, which keeps PostgreSQL's
// backends from contending for the same index pages and SQLite's writers
// from queueing for its one lock. Each task still claims at most ClaimSize
// deliveries and sends only after its claim has committed, so the window
// of doubt (see Sender) is unchanged.
type ledger struct {
	db  *gorm.DB
	now func() time.Time

	mu      sync.Mutex
	queue   []*ledgerWrite
	running bool
}

// ledgerWrite is one task's part of a transaction.
type ledgerWrite struct {
	outs  []outcome  // to settle
	chunk []Delivery // to claim
	token string     // the claim token chunk is claimed under
	won   []int64    // ids of chunk this write claimed
	// settled tells whether outs were written, even when err is set.
	settled bool
	err     error
	done    chan struct{}
}

// write settles outs and claims chunk, and returns the ids it claimed
// and whether outs were settled.
func (l *ledger) write(outs []outcome, chunk []Delivery, token string) ([]int64, bool, error) {
	if len(outs) == 0 && len(chunk) == 0 {
		return nil, true, nil
	}
	w := &ledgerWrite{outs: outs, chunk: chunk, token: token, done: make(chan struct{})}
	l.mu.Lock()
	l.queue = append(l.queue, w)
	if !l.running {
		l.running = true
		go l.run()
	}
	l.mu.Unlock()
	<-w.done
	return w.won, w.settled, w.err
}

// run commits what is queued, transaction after transaction, and stops
// when nothing is left (the next write starts it again).
func (l *ledger) run() {
	for {
		l.mu.Lock()
		ws := l.queue
		l.queue = nil
		if len(ws) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		if err := l.apply(ws, true); err != nil {
			// Apply them one by one, so that one write at fault does not
			// fail the others, and a failed claim still lets its
			// settlement (messages already sent) be recorded.
			for _, w := range ws {
				w.won = nil
				if w.err = l.apply([]*ledgerWrite{w}, true); w.err != nil && len(w.outs) > 0 && len(w.chunk) > 0 {
					w.won = nil
					w.settled = l.apply([]*ledgerWrite{w}, false) == nil
				}
			}
		}
		for _, w := range ws {
			close(w.done)
		}
	}
}

// apply writes ws in one transaction: every settlement, then every claim
// (when claim is set).
func (l *ledger) apply(ws []*ledgerWrite, claim bool) error {
	var outs []outcome
	claims := 0
	for _, w := range ws {
		outs = append(outs, w.outs...)
		if claim && len(w.chunk) > 0 {
			claims++
		}
	}
	now := l.now()
	won := make(map[int64]bool)
	do := func(tx *gorm.DB) error {
		if err := settleIn(tx, outs, now); err != nil {
			return err
		}
		if !claim {
			return nil
		}
		// One statement per task's chunk: each is claimed under its own
		// token, which names the Sender's record of what it attempted
		// (see Attempts). RETURNING tells which rows this claim took
		// (SQLite 3.35 and PostgreSQL both have it) without a second
		// query.
		//
		// COALESCE hides the status column from the planner. Otherwise
		// PostgreSQL, whose statistics describe the table before the
		// campaign (when few deliveries were queued), may pick the
		// (campaign_id, status, ...) index and walk every queued delivery of
		// the campaign, dead versions included, to find ten ids:
		// milliseconds per claim instead of microseconds.
		for _, w := range ws {
			if len(w.chunk) == 0 {
				continue
			}
			ids := make([]int64, len(w.chunk))
			for i, d := range w.chunk {
				ids[i] = d.ID
			}
			var got []int64
			err := tx.Raw(`UPDATE deliveries SET status = ?, claim = ?, claimed_at = ?, attempts = attempts + 1
				WHERE id IN ? AND COALESCE(status, '') = ? RETURNING id`, DeliverySending, w.token, now, ids, DeliveryQueued).Scan(&got).Error
			if err != nil {
				return err
			}
			for _, id := range got {
				won[id] = true
			}
		}
		return nil
	}
	g := l.db.WithContext(context.Background())
	var err error
	switch {
	case claims == 0 && len(outs) > 0 && singleGroup(outs) || len(outs) == 0 && claims <= 1:
		err = do(g) // one statement: no transaction needed
	case !db.IsPostgres(g):
		// SQLite: settlement and claim need not be atomic together, and
		// as separate statements each is its own transaction, which costs
		// less in the pure-Go engine than BEGIN IMMEDIATE, COMMIT and the
		// statement journal a multi-statement transaction keeps.
		err = do(g)
	default:
		var got []int64
		got, err = applyPostgres(g, outs, ws, claim, now)
		for _, id := range got {
			won[id] = true
		}
	}
	if err != nil {
		return err
	}
	// Each claimed row goes to one write only: two tasks of this process
	// may hold the same batch (a duplicated or recovered task) and ask
	// for the same deliveries in one transaction; the row went to the
	// first statement, whose token it carries.
	for _, w := range ws {
		w.settled = true
		if !claim {
			continue
		}
		for _, d := range w.chunk {
			if won[d.ID] {
				w.won = append(w.won, d.ID)
				delete(won, d.ID)
			}
		}
	}
	return nil
}

// singleGroup reports whether outs settle with one UPDATE.
func singleGroup(outs []outcome) bool {
	for _, o := range outs[1:] {
		if o.status != outs[0].status || o.err != outs[0].err {
			return false
		}
	}
	return true
}

// applyPostgres writes every settlement of outs and every claim of ws
// (when claim is set) in one statement, each UPDATE a data-modifying WITH
// query: PostgreSQL runs a statement atomically, so this is the
// transaction without BEGIN and COMMIT, one round trip where separate
// statements took one each and two more. It returns the ids claimed. The
// ids go as one array parameter per UPDATE, so that the statement's text,
// and so the prepared statement it gets, depends only on how many
// settlement groups and claims it holds. The claims use the same
// conditions as apply's, COALESCE included.
func applyPostgres(g *gorm.DB, outs []outcome, ws []*ledgerWrite, claim bool, now time.Time) ([]int64, error) {
	var q strings.Builder
	var args []any
	ctes := 0
	cte := func(name string, i int) {
		if ctes == 0 {
			q.WriteString("WITH ")
		} else {
			q.WriteString(", ")
		}
		ctes++
		q.WriteString(name + strconv.Itoa(i) + " AS (")
	}
	for i, gr := range settleGroups(outs) {
		cte("s", i)
		q.WriteString(`UPDATE deliveries SET status = ?, claim = '', error = ?, sent_at = COALESCE(?, sent_at)
			WHERE id = ANY(?::bigint[]) AND COALESCE(status, '') = ?)`)
		args = append(args, gr.status, gr.err, gr.sentAt(now), db.Int64Array(gr.ids), DeliverySending)
	}
	var sel []string
	for _, w := range ws {
		if !claim || len(w.chunk) == 0 {
			continue
		}
		ids := make([]int64, len(w.chunk))
		for i, d := range w.chunk {
			ids[i] = d.ID
		}
		cte("c", len(sel))
		q.WriteString(`UPDATE deliveries SET status = ?, claim = ?, claimed_at = ?, attempts = attempts + 1
			WHERE id = ANY(?::bigint[]) AND COALESCE(status, '') = ? RETURNING id)`)
		args = append(args, DeliverySending, w.token, now, db.Int64Array(ids), DeliveryQueued)
		sel = append(sel, "SELECT id FROM c"+strconv.Itoa(len(sel)))
	}
	if ctes == 0 {
		return nil, nil
	}
	if len(sel) == 0 {
		// The settlements run all the same: PostgreSQL completes every
		// data-modifying WITH query whether or not the query reads it.
		sel = []string{"SELECT 0::bigint AS id WHERE false"}
	}
	q.WriteString(" " + strings.Join(sel, " UNION ALL "))
	var got []int64
	err := g.Raw(q.String(), args...).Scan(&got).Error
	return got, err
}
