// Package metrics is Herald's process metrics on the Prometheus client
// library: counters and histograms created on first use under the names
// Herald has always exposed, gauges read at scrape time, the Go runtime
// and process collectors, and whatever collectors the wiring adds (asynq's
// queue collector). Write serves the text format at /metrics.
package metrics

import (
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Labels name one series of a metric.
type Labels map[string]string

// Registry holds the metrics of one process.
type Registry struct {
	reg      *prometheus.Registry
	mu       sync.Mutex
	counters map[string]*prometheus.CounterVec
	hists    map[string]*prometheus.HistogramVec
	buckets  map[string][]float64
}

// NewRegistry returns a registry with the Go runtime and process metrics.
func NewRegistry() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: reg, counters: map[string]*prometheus.CounterVec{}, hists: map[string]*prometheus.HistogramVec{}, buckets: map[string][]float64{}}
}

// Register adds a collector, such as asynq's queue collector.
func (r *Registry) Register(c prometheus.Collector) error { return r.reg.Register(c) }

// Buckets sets the histogram buckets of name before its first Observe
// (prometheus.DefBuckets otherwise, which suit seconds of a request).
func (r *Registry) Buckets(name string, b []float64) {
	r.mu.Lock()
	r.buckets[name] = b
	r.mu.Unlock()
}

func names(l Labels) []string { return slices.Sorted(maps.Keys(l)) }

// counter returns the series of name for l, creating the metric with l's
// label names at its first use. A series whose label names differ from the
// first use's is dropped (nil): a programming error, not worth a panic in
// a hot path.
func (r *Registry) counter(name string, l Labels) prometheus.Counter {
	r.mu.Lock()
	v := r.counters[name]
	if v == nil {
		v = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: name}, names(l))
		if err := r.reg.Register(v); err != nil {
			r.mu.Unlock()
			return nil
		}
		r.counters[name] = v
	}
	r.mu.Unlock()
	c, err := v.GetMetricWith(prometheus.Labels(l))
	if err != nil {
		return nil
	}
	return c
}

func (r *Registry) histogram(name string, l Labels) prometheus.Observer {
	r.mu.Lock()
	v := r.hists[name]
	if v == nil {
		b := r.buckets[name]
		if b == nil {
			b = prometheus.DefBuckets
		}
		v = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: name, Buckets: b}, names(l))
		if err := r.reg.Register(v); err != nil {
			r.mu.Unlock()
			return nil
		}
		r.hists[name] = v
	}
	r.mu.Unlock()
	o, err := v.GetMetricWith(prometheus.Labels(l))
	if err != nil {
		return nil
	}
	return o
}

// Add adds v to a counter.
func (r *Registry) Add(name string, l Labels, v float64) {
	if r == nil {
		return
	}
	if c := r.counter(name, l); c != nil {
		c.Add(v)
	}
}

// Inc adds one to a counter.
func (r *Registry) Inc(name string, l Labels) { r.Add(name, l, 1) }

// Observe records a value in a histogram.
func (r *Registry) Observe(name string, l Labels, v float64) {
	if r == nil {
		return
	}
	if o := r.histogram(name, l); o != nil {
		o.Observe(v)
	}
}

// ObserveMany records count values summing to sum at once: hot paths
// aggregate their observations and hand them over now and then. Each
// counts as the mean, so the count and sum are exact and the buckets
// approximate.
func (r *Registry) ObserveMany(name string, l Labels, count, sum float64) {
	if r == nil || count <= 0 {
		return
	}
	o := r.histogram(name, l)
	if o == nil {
		return
	}
	mean := sum / count
	for range int(count) {
		o.Observe(mean)
	}
}

// Gauge registers a value read when metrics are gathered.
func (r *Registry) Gauge(name string, f func() float64) {
	_ = r.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: name}, f))
}

// Counter returns the current value of a counter series (for tests).
func (r *Registry) Counter(name string, l Labels) float64 {
	r.mu.Lock()
	v := r.counters[name]
	r.mu.Unlock()
	if v == nil {
		return 0
	}
	c, err := v.GetMetricWith(prometheus.Labels(l))
	if err != nil {
		return 0
	}
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Write prints every metric in the Prometheus text format.
func (r *Registry) Write(w io.Writer) error {
	mfs, err := r.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}
