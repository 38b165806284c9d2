package app

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkeyproxy/latchkey/engine"
)

// metricsCollector exposes the engine's counters and the pools' live state
// on Caddy's metrics endpoint. It reads them at scrape time, so it adds
// nothing to the request path beyond the engine's atomic counters. Label
// values are configured names only (identities, pools, members), never
// hosts from requests.
type metricsCollector struct {
	eng *engine.Engine

	mu    sync.Mutex
	certs []CertificateStats
}

// CertificateStats reports how many intercepted-host certificates were
// minted and how many lookups hit the cache. The proxy handler's issuer
// satisfies it.
type CertificateStats interface {
	Stats() (minted, hits uint64)
}

var (
	counterDesc = prometheus.NewDesc("latchkey_events_total",
		"Events per credential or pool since start: injections, phantoms_stripped, failovers "+
			"(label: tag), retries, refreshes (label: upstream or coalesced), token_rewrites, "+
			"fail_closed.",
		[]string{"event", "identity", "label"}, nil)
	cooldownDesc = prometheus.NewDesc("latchkey_member_cooldown_seconds",
		"Seconds until a pool member may serve again; 0 when healthy.",
		[]string{"pool", "member"}, nil)
	activeDesc = prometheus.NewDesc("latchkey_member_active",
		"1 for the member that serves a pool's next request, else 0.",
		[]string{"pool", "member"}, nil)
	certDesc = prometheus.NewDesc("latchkey_certificates_total",
		"Certificates for intercepted hosts: minted, or served from the cache.",
		[]string{"result"}, nil)
)

// Describe sends the descriptors of every metric.
func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{counterDesc, cooldownDesc, activeDesc, certDesc} {
		ch <- d
	}
}

// Collect reads the current values.
func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.eng.Counters() {
		ch <- prometheus.MustNewConstMetric(counterDesc, prometheus.CounterValue,
			float64(v.Value), string(v.Metric), v.Identity, v.Label)
	}

	now := time.Now()
	for _, p := range c.eng.Pools() {
		st, err := c.eng.PoolStatus(p.Name)
		if err != nil {
			continue
		}
		for _, m := range st.Members {
			var left float64
			if m.CooldownUntil != nil {
				left = max(0, m.CooldownUntil.Sub(now).Seconds())
			}
			active := 0.0
			if m.Active {
				active = 1
			}
			ch <- prometheus.MustNewConstMetric(cooldownDesc, prometheus.GaugeValue, left,
				p.Name, m.Credential)
			ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, active,
				p.Name, m.Credential)
		}
	}

	var minted, hits uint64
	c.mu.Lock()
	for _, s := range c.certs {
		m, h := s.Stats()
		minted, hits = minted+m, hits+h
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(certDesc, prometheus.CounterValue, float64(minted), "minted")
	ch <- prometheus.MustNewConstMetric(certDesc, prometheus.CounterValue, float64(hits), "cached")
}

// RegisterCertificateStats adds a certificate issuer to the metrics. The
// proxy handler calls it when it is provisioned.
func (a *App) RegisterCertificateStats(s CertificateStats) {
	if a.metrics == nil {
		return
	}
	a.metrics.mu.Lock()
	defer a.metrics.mu.Unlock()
	a.metrics.certs = append(a.metrics.certs, s)
}
