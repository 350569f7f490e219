// Package metrics keeps counters, summaries and gauges and writes them in
// the Prometheus text format at /metrics, without a client library.
package metrics

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// Labels name one series of a metric.
type Labels map[string]string

func (l Labels) key() string {
	if len(l) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(l[k])
		parts[i] = fmt.Sprintf(`%s="%s"`, k, v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

type summary struct{ count, sum float64 }

// Registry holds the metrics of one process.
type Registry struct {
	mu       sync.Mutex
	counters map[string]map[string]float64
	sums     map[string]map[string]*summary
	gauges   map[string]func() float64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{counters: map[string]map[string]float64{}, sums: map[string]map[string]*summary{}, gauges: map[string]func() float64{}}
}

// Add adds v to a counter.
func (r *Registry) Add(name string, l Labels, v float64) {
	if r == nil {
		return
	}
	k := l.key()
	r.mu.Lock()
	m := r.counters[name]
	if m == nil {
		m = map[string]float64{}
		r.counters[name] = m
	}
	m[k] += v
	r.mu.Unlock()
}

// Inc adds one to a counter.
func (r *Registry) Inc(name string, l Labels) { r.Add(name, l, 1) }

// Observe records a value in a summary (count and sum).
func (r *Registry) Observe(name string, l Labels, v float64) {
	if r == nil {
		return
	}
	k := l.key()
	r.mu.Lock()
	m := r.sums[name]
	if m == nil {
		m = map[string]*summary{}
		r.sums[name] = m
	}
	s := m[k]
	if s == nil {
		s = &summary{}
		m[k] = s
	}
	s.count++
	s.sum += v
	r.mu.Unlock()
}

// ObserveMany records count values summing to sum in a summary at once:
// hot paths aggregate their observations and hand them over now and then.
func (r *Registry) ObserveMany(name string, l Labels, count, sum float64) {
	if r == nil || count == 0 {
		return
	}
	k := l.key()
	r.mu.Lock()
	m := r.sums[name]
	if m == nil {
		m = map[string]*summary{}
		r.sums[name] = m
	}
	s := m[k]
	if s == nil {
		s = &summary{}
		m[k] = s
	}
	s.count += count
	s.sum += sum
	r.mu.Unlock()
}

// Gauge registers a value read when metrics are written.
func (r *Registry) Gauge(name string, f func() float64) {
	r.mu.Lock()
	r.gauges[name] = f
	r.mu.Unlock()
}

// Counter returns the current value of a counter series (for tests).
func (r *Registry) Counter(name string, l Labels) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters[name][l.key()]
}

// Write prints every metric in the Prometheus text format.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	var b strings.Builder
	for _, name := range sortedKeys(r.counters) {
		fmt.Fprintf(&b, "# TYPE %s counter\n", name)
		series := r.counters[name]
		for _, k := range sortedKeys(series) {
			fmt.Fprintf(&b, "%s%s %g\n", name, k, series[k])
		}
	}
	for _, name := range sortedKeys(r.sums) {
		fmt.Fprintf(&b, "# TYPE %s summary\n", name)
		series := r.sums[name]
		for _, k := range sortedKeys(series) {
			fmt.Fprintf(&b, "%s_count%s %g\n%s_sum%s %g\n", name, k, series[k].count, name, k, series[k].sum)
		}
	}
	gauges := make(map[string]func() float64, len(r.gauges))
	for k, v := range r.gauges {
		gauges[k] = v
	}
	r.mu.Unlock()
	for _, name := range sortedKeys(gauges) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n%s %g\n", name, name, gauges[name]())
	}
	io.WriteString(w, b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
