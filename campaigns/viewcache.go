package campaigns

import (
	"container/list"
	"context"
	"sync"
	"time"

	"herald/templates"
)

// viewCacheSize bounds the compiled templates the web view keeps: one per
// campaign whose links are being opened, far fewer than that in practice.
const viewCacheSize = 256

// compiledCache keeps the compiled templates of recently viewed campaigns,
// keyed by id and checked against the campaign's UpdatedAt, so a template
// is compiled once per version of the campaign rather than once per
// request. Least recently used entries go first.
type compiledCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *compiledItem, most recent first
	items map[int64]*list.Element
	// compiles counts the compilations done.
	compiles int
}

type compiledItem struct {
	id        int64
	updatedAt time.Time
	comp      *templates.Compiled
}

func newCompiledCache(max int) *compiledCache {
	return &compiledCache{max: max, order: list.New(), items: map[int64]*list.Element{}}
}

func (k *compiledCache) get(ctx context.Context, c *Campaign, compile func(context.Context, *Campaign) (*templates.Compiled, error)) (*templates.Compiled, error) {
	return k.getKey(ctx, c.ID, c, compile)
}

// getKey is get for the content c holds under key: an A/B test variant's
// content is kept under a key of its own (see variantViewKey).
func (k *compiledCache) getKey(ctx context.Context, key int64, c *Campaign, compile func(context.Context, *Campaign) (*templates.Compiled, error)) (*templates.Compiled, error) {
	k.mu.Lock()
	if el, ok := k.items[key]; ok {
		it := el.Value.(*compiledItem)
		if it.updatedAt.Equal(c.UpdatedAt) {
			k.order.MoveToFront(el)
			k.mu.Unlock()
			return it.comp, nil
		}
	}
	k.mu.Unlock()
	comp, err := compile(ctx, c)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.compiles++
	if el, ok := k.items[key]; ok {
		el.Value = &compiledItem{key, c.UpdatedAt, comp}
		k.order.MoveToFront(el)
		return comp, nil
	}
	k.items[key] = k.order.PushFront(&compiledItem{key, c.UpdatedAt, comp})
	for k.order.Len() > k.max {
		last := k.order.Back()
		k.order.Remove(last)
		delete(k.items, last.Value.(*compiledItem).id)
	}
	return comp, nil
}
