// Package worker is the asynq adapter of Herald: task types and payloads,
// the queue the domain enqueues on, the handlers that call the domain, the
// Redis records of claims, and a rate limit shared by all worker processes
// through Redis. Messages go out through package smtp.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types, noun:verb.
const (
	TypeCampaignLaunch  = "campaign:launch"
	TypeCampaignSweep   = "campaign:sweep"
	TypeEmailSend       = "email:send"
	TypeSegmentsRefresh = "segments:refresh"
	TypeSegmentsEval    = "segments:evaluate"
	TypeAutomationsTick = "automations:tick"
	TypeBouncesPoll     = "bounces:poll"
)

// Queue names and their weights: sending first, then launches, then the rest.
const (
	QueueEmail     = "email"
	QueueCampaigns = "campaigns"
	QueueDefault   = "default"
)

// queueWeights is the asynq queue configuration workers use.
func queueWeights() map[string]int {
	return map[string]int{QueueEmail: 6, QueueCampaigns: 3, QueueDefault: 1}
}

// LaunchPayload names the campaign to launch.
type LaunchPayload struct {
	CampaignID int64 `json:"campaign_id"`
}

// NewLaunchTask builds a campaign:launch task.
func NewLaunchTask(campaignID int64) (*asynq.Task, error) {
	b, err := json.Marshal(LaunchPayload{CampaignID: campaignID})
	if err != nil {
		return nil, fmt.Errorf("worker: encode launch: %w", err)
	}
	return asynq.NewTask(TypeCampaignLaunch, b, asynq.Queue(QueueCampaigns), asynq.MaxRetry(20), asynq.Timeout(2*time.Hour)), nil
}

// SendPayload is a batch of deliveries of one campaign.
type SendPayload struct {
	CampaignID  int64   `json:"campaign_id"`
	Batch       int     `json:"batch"`
	DeliveryIDs []int64 `json:"delivery_ids"`
}

// NewSendTask builds an email:send task.
func NewSendTask(campaignID int64, batch int, ids []int64) (*asynq.Task, error) {
	b, err := json.Marshal(SendPayload{CampaignID: campaignID, Batch: batch, DeliveryIDs: ids})
	if err != nil {
		return nil, fmt.Errorf("worker: encode send: %w", err)
	}
	return asynq.NewTask(TypeEmailSend, b, asynq.Queue(QueueEmail), asynq.MaxRetry(8), asynq.Timeout(30*time.Minute)), nil
}

// NewSweepTask builds the periodic campaign:sweep task.
func NewSweepTask() *asynq.Task {
	return asynq.NewTask(TypeCampaignSweep, nil, asynq.Queue(QueueCampaigns), asynq.MaxRetry(0), asynq.Timeout(5*time.Minute))
}

// NewAutomationsTickTask builds the periodic automations:tick task.
func NewAutomationsTickTask() *asynq.Task {
	return asynq.NewTask(TypeAutomationsTick, nil, asynq.Queue(QueueCampaigns), asynq.MaxRetry(0), asynq.Timeout(10*time.Minute))
}

// BouncesPollPayload is the payload of bounces:poll, which reads the
// bounce mailbox once; it carries nothing.
type BouncesPollPayload struct{}

// NewBouncesPollTask builds the periodic bounces:poll task.
func NewBouncesPollTask() (*asynq.Task, error) {
	b, err := json.Marshal(BouncesPollPayload{})
	if err != nil {
		return nil, fmt.Errorf("worker: encode bounces poll: %w", err)
	}
	return asynq.NewTask(TypeBouncesPoll, b, asynq.Queue(QueueDefault), asynq.MaxRetry(0), asynq.Timeout(bouncesPollTimeout)), nil
}

// NewRefreshTask builds the periodic segments:refresh task.
func NewRefreshTask() *asynq.Task {
	return asynq.NewTask(TypeSegmentsRefresh, nil, asynq.Queue(QueueDefault), asynq.MaxRetry(3), asynq.Timeout(2*time.Hour))
}

// EvaluatePayload names contacts that changed and what changed.
type EvaluatePayload struct {
	ContactIDs []int64  `json:"contact_ids"`
	Fields     []string `json:"fields"`
}

// NewEvaluateTask builds a segments:evaluate task.
func NewEvaluateTask(ids []int64, fields []string) (*asynq.Task, error) {
	b, err := json.Marshal(EvaluatePayload{ContactIDs: ids, Fields: fields})
	if err != nil {
		return nil, fmt.Errorf("worker: encode evaluate: %w", err)
	}
	return asynq.NewTask(TypeSegmentsEval, b, asynq.Queue(QueueDefault), asynq.MaxRetry(5), asynq.Timeout(10*time.Minute)), nil
}

func decode(t *asynq.Task, v any) error {
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		// A payload that cannot be read will never succeed.
		return fmt.Errorf("worker: bad %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}

// Queue implements campaigns.Queue on asynq. Task ids make enqueueing the
// same batch twice a no-op while the first is still waiting or running.
type Queue struct {
	client *asynq.Client
	insp   *asynq.Inspector
}

// NewQueue returns a Queue on client; insp looks up the task that holds a
// batch's id (see enqueueSend).
func NewQueue(client *asynq.Client, insp *asynq.Inspector) *Queue {
	return &Queue{client: client, insp: insp}
}

// EnqueueLaunch enqueues a launch, at a time when at is set.
func (q *Queue) EnqueueLaunch(ctx context.Context, campaignID int64, at time.Time) error {
	t, err := NewLaunchTask(campaignID)
	if err != nil {
		return err
	}
	// One id per schedule time: rescheduling leaves the old task to run
	// and find nothing to do. Unscheduled launches share a per-second id,
	// which dedupes double clicks and sweeps without blocking later ones.
	var opts []asynq.Option
	if !at.IsZero() && at.After(time.Now()) {
		// asynq keeps whole seconds and would run the task up to a second
		// early: round up, so a campaign never starts before its time.
		if r := at.Truncate(time.Second); !r.Equal(at) {
			at = r.Add(time.Second)
		}
		opts = append(opts, asynq.ProcessAt(at), asynq.TaskID("launch:"+strconv.FormatInt(campaignID, 10)+":at:"+strconv.FormatInt(at.Unix(), 10)))
	} else {
		opts = append(opts, asynq.TaskID("launch:"+strconv.FormatInt(campaignID, 10)+":"+strconv.FormatInt(time.Now().Unix(), 10)))
	}
	return ignoreConflict(q.client.EnqueueContext(ctx, t, opts...))
}

// EnqueueSend enqueues a batch of deliveries.
func (q *Queue) EnqueueSend(ctx context.Context, campaignID int64, batch int, ids []int64) error {
	p := SendPayload{CampaignID: campaignID, Batch: batch, DeliveryIDs: ids}
	return q.enqueueSend(ctx, p, "send:"+strconv.FormatInt(campaignID, 10)+":"+strconv.Itoa(batch))
}

func (q *Queue) enqueueSend(ctx context.Context, p SendPayload, id string) error {
	t, err := NewSendTask(p.CampaignID, p.Batch, p.DeliveryIDs)
	if err != nil {
		return err
	}
	_, err = q.client.EnqueueContext(ctx, t, asynq.TaskID(id))
	if errors.Is(err, asynq.ErrTaskIDConflict) && q.insp != nil {
		// A task that ran out of retries stays archived under its id and
		// would keep the batch from ever being enqueued again, leaving the
		// campaign sending for good: the batch still has queued deliveries
		// (that is why it is enqueued), so give it a new task.
		info, ierr := q.insp.GetTaskInfo(QueueEmail, id)
		if ierr == nil && (info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted) {
			if derr := q.insp.DeleteTask(QueueEmail, id); derr != nil && !errors.Is(derr, asynq.ErrTaskNotFound) {
				return fmt.Errorf("worker: enqueue: replace archived %s: %w", id, derr)
			}
			_, err = q.client.EnqueueContext(ctx, t, asynq.TaskID(id))
		}
	}
	return ignoreConflict(nil, err)
}

// evaluateChunk bounds the contacts of one segments:evaluate task.
const evaluateChunk = 1000

// EnqueueEvaluate asks for the segment membership of changed contacts to
// be brought up to date (contacts.ChangeFunc and campaigns' OnDelivered).
func (q *Queue) EnqueueEvaluate(ctx context.Context, ids []int64, fields []string) error {
	for start := 0; start < len(ids); start += evaluateChunk {
		t, err := NewEvaluateTask(ids[start:min(start+evaluateChunk, len(ids))], fields)
		if err != nil {
			return err
		}
		if _, err := q.client.EnqueueContext(ctx, t); err != nil {
			return fmt.Errorf("worker: enqueue evaluate: %w", err)
		}
	}
	return nil
}

func ignoreConflict(_ *asynq.TaskInfo, err error) error {
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("worker: enqueue: %w", err)
	}
	return nil
}
