package main

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is the rendered results.
type report struct {
	terminal string // the ratio table and the targets
	markdown string // RESULTS.md
}

// rssLimitKB is the target's bound on the proxy's memory growth during a
// transfer: 16 MB.
const rssLimitKB = 16_000_000 / 1024

// tick is a clock tick of /proc/<pid>/stat.
const tick = 10 * time.Millisecond

// jsonStats summarises one target in one small-JSON cell over all rounds.
type jsonStats struct {
	ok               bool
	rate, spread     float64 // median req/s over rounds; (max-min)/median
	p50, p99, p999   time.Duration
	requests, errors int
	lastErr          error
	cpuPerReq        time.Duration // proxy CPU per request; -1 unknown
}

func jsonStatsOf(res *results, ci int, key string) jsonStats {
	var s jsonStats
	var rates []float64
	var lat []time.Duration
	var ticks int64
	var ticked int
	for _, round := range res.json[ci] {
		r, ok := round[key]
		if !ok {
			continue
		}
		if r.proxyTicks >= 0 {
			ticks += r.proxyTicks
			ticked += r.requests
		}
		s.requests += r.requests
		s.errors += r.errors
		if r.lastErr != nil {
			s.lastErr = r.lastErr
		}
		rates = append(rates, r.rate())
		lat = append(lat, r.lat...)
	}
	if len(rates) == 0 || len(lat) == 0 {
		return s
	}
	s.ok = true
	s.rate, s.spread = medianSpread(rates)
	s.cpuPerReq = -1
	if ticked > 0 {
		s.cpuPerReq = time.Duration(ticks) * tick / time.Duration(ticked)
	}
	slices.Sort(lat)
	s.p50, s.p99, s.p999 = quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 0.999)
	return s
}

// sseStats summarises a target's SSE streams.
type sseStats struct {
	ok      bool
	ttfe    time.Duration // median over full and short streams
	rate    float64       // median events/s of the full streams
	streams int           // full streams
	samples int           // streams timed for the first event
	errors  int
	lastErr error
}

func sseStatsOf(res *results, key string) sseStats {
	var s sseStats
	var ttfes []time.Duration
	var rates []float64
	for _, r := range res.sse[key] {
		if r.err != nil {
			s.errors++
			s.lastErr = r.err
			continue
		}
		ttfes = append(ttfes, r.ttfe)
		if !r.short {
			rates = append(rates, r.rate)
		}
	}
	if len(rates) == 0 {
		return s
	}
	s.ok, s.streams, s.samples = true, len(rates), len(ttfes)
	slices.Sort(ttfes)
	s.ttfe = ttfes[len(ttfes)/2]
	s.rate, _ = medianSpread(rates)
	return s
}

// transferStats summarises a target's downloads or uploads.
type transferStats struct {
	ok             bool
	mbps, spread   float64
	idleKB, growKB int64         // median idle; largest growth
	cpu            time.Duration // median proxy CPU per transfer; -1 unknown
	otherCPU       time.Duration // median client and upstream CPU per transfer; -1 unknown
	errors         int
	lastErr        error
}

func transferStatsOf(runs []transferRun) transferStats {
	var s transferStats
	var rates, cpus, others []float64
	var idles []int64
	s.growKB = -1
	for _, r := range runs {
		if r.err != nil {
			s.errors++
			s.lastErr = r.err
			continue
		}
		rates = append(rates, r.mbps)
		if r.proxyTicks >= 0 {
			cpus = append(cpus, float64(r.proxyTicks))
		}
		if r.otherTicks >= 0 {
			others = append(others, float64(r.otherTicks))
		}
		if r.idleKB >= 0 {
			idles = append(idles, r.idleKB)
		}
		s.growKB = max(s.growKB, r.growthKB())
	}
	if len(rates) == 0 {
		return s
	}
	s.ok = true
	s.mbps, s.spread = medianSpread(rates)
	s.cpu = -1
	if len(cpus) > 0 {
		m, _ := medianSpread(cpus)
		s.cpu = time.Duration(m * float64(tick))
	}
	s.otherCPU = -1
	if len(others) > 0 {
		m, _ := medianSpread(others)
		s.otherCPU = time.Duration(m * float64(tick))
	}
	s.idleKB = -1
	if len(idles) > 0 {
		slices.Sort(idles)
		s.idleKB = idles[len(idles)/2]
	}
	return s
}

func medianSpread(v []float64) (median, spread float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		median = s[n/2]
	} else {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	if median > 0 {
		spread = (s[n-1] - s[0]) / median
	}
	return median, spread
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// check is one target of the issue with its measured value.
type check struct {
	target   string
	measured string
	verdict  string // "pass", "miss", "n/a", "error"
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "miss"
}

func buildReport(res *results) report {
	var md strings.Builder
	var checks []check
	has := func(key string) bool {
		for _, t := range res.targets {
			if t.key == key {
				return t.na == ""
			}
		}
		return false
	}

	// Targets: requests/s against C.
	for ci, cell := range jsonCells {
		c := jsonStatsOf(res, ci, "C")
		for _, k := range []string{"D", "E"} {
			name := fmt.Sprintf("%s req/s ≥ 0.9× C, %s", k, cell)
			s := jsonStatsOf(res, ci, k)
			switch {
			case !has(k):
				checks = append(checks, check{name, "n/a: " + res.poolNA, "n/a"})
			case !s.ok || !c.ok || s.errors > 0:
				checks = append(checks, check{name, fmt.Sprintf("errors: %d (%v)", s.errors,
					s.lastErr), "error"})
			default:
				r := s.rate / c.rate
				checks = append(checks, check{name, fmt.Sprintf("%.2f× (%.0f vs %.0f)", r,
					s.rate, c.rate), verdict(r >= 0.9)})
			}
		}
	}
	// Targets: p99 added latency at concurrency 1.
	for ci, cell := range jsonCells {
		if cell.conc != 1 {
			continue
		}
		a, c, d := jsonStatsOf(res, ci, "A"), jsonStatsOf(res, ci, "C"), jsonStatsOf(res, ci, "D")
		name := fmt.Sprintf("p99 added by D over A − added by C ≤ 100 µs, %s", cell)
		if !a.ok || !c.ok || !d.ok {
			checks = append(checks, check{name, "no data", "error"})
			continue
		}
		extra := (d.p99 - a.p99) - (c.p99 - a.p99)
		checks = append(checks, check{name, fmt.Sprintf("%+.0f µs (D +%.0f µs, C +%.0f µs over A)",
			us(extra), us(d.p99-a.p99), us(c.p99-a.p99)), verdict(extra <= 100*time.Microsecond)})
	}
	// Targets: SSE.
	sa, sa2 := sseStatsOf(res, "A"), sseStatsOf(res, "A/h2")
	for _, k := range []string{"D", "E"} {
		s := sseStatsOf(res, k)
		n1 := fmt.Sprintf("SSE first event ≤ A's + 1 ms, %s", k)
		n2 := fmt.Sprintf("SSE events/s ≥ 0.95× A, %s", k)
		switch {
		case !has(k):
			checks = append(checks, check{n1, "n/a", "n/a"}, check{n2, "n/a", "n/a"})
		case !s.ok || !sa.ok || s.errors > 0:
			checks = append(checks, check{n1, fmt.Sprintf("errors (%v)", s.lastErr), "error"},
				check{n2, "errors", "error"})
		default:
			dt := s.ttfe - sa.ttfe
			checks = append(checks, check{n1, fmt.Sprintf("%+.2f ms (%.2f vs %.2f ms)", ms(dt),
				ms(s.ttfe), ms(sa.ttfe)), verdict(dt <= time.Millisecond)})
			r := s.rate / sa.rate
			m := fmt.Sprintf("%.2f× (%.0f vs %.0f)", r, s.rate, sa.rate)
			if sa2.ok {
				m += fmt.Sprintf("; %.2f× A over HTTP/2, which the proxy speaks upstream", s.rate/sa2.rate)
			}
			checks = append(checks, check{n2, m, verdict(r >= 0.95)})
		}
	}
	// Targets: transfers.
	for _, dir := range []struct {
		name string
		runs map[string][]transferRun
	}{{"download", res.dl}, {"upload", res.ul}} {
		a, a2 := transferStatsOf(dir.runs["A"]), transferStatsOf(dir.runs["A/h2"])
		for _, k := range []string{"D", "E"} {
			s := transferStatsOf(dir.runs[k])
			n1 := fmt.Sprintf("100 MB %s ≥ 0.9× A, %s", dir.name, k)
			n2 := fmt.Sprintf("100 MB %s: proxy RSS growth < 16 MB, %s", dir.name, k)
			switch {
			case !has(k):
				checks = append(checks, check{n1, "n/a", "n/a"}, check{n2, "n/a", "n/a"})
			case !s.ok || !a.ok || s.errors > 0:
				checks = append(checks, check{n1, fmt.Sprintf("errors (%v)", s.lastErr), "error"},
					check{n2, "errors", "error"})
			default:
				r := s.mbps / a.mbps
				m := fmt.Sprintf("%.2f× (%.0f vs %.0f MB/s)", r, s.mbps, a.mbps)
				if a2.ok {
					m += fmt.Sprintf("; %.2f× A over HTTP/2", s.mbps/a2.mbps)
				}
				checks = append(checks, check{n1, m, verdict(r >= 0.9)})
				if s.growKB < 0 {
					checks = append(checks, check{n2, "unknown (no /proc)", "n/a"})
				} else {
					checks = append(checks, check{n2, fmt.Sprintf("+%.1f MiB over %.1f MiB idle",
						float64(s.growKB)/1024, float64(s.idleKB)/1024), verdict(s.growKB < rssLimitKB)})
				}
			}
		}
	}
	// Targets: certificates.
	m := res.mint
	certOK := m.hosts > 0 && len(m.errs) == 0 && int(m.mintedDelta) == m.hosts &&
		int(m.cachedDelta) == m.handshakes
	checks = append(checks, check{
		"certificate: every request after the first per host hits the cache",
		fmt.Sprintf("%d new hosts → %.0f minted; %d later handshakes → %.0f cache hits", m.hosts,
			m.mintedDelta, m.handshakes, m.cachedDelta), verdict(certOK),
	})
	// Targets: grant probe.
	for _, p := range res.probes {
		if p.host == hostToken {
			continue
		}
		name := "grant probe: 0 bytes read on a bound non-token host (" + p.host + ")"
		if p.err != nil {
			checks = append(checks, check{name, p.err.Error(), "error"})
			continue
		}
		checks = append(checks, check{name, fmt.Sprintf("%d bytes held before forwarding; "+
			"1 MiB delivered intact: %v", p.held, p.intact), verdict(p.held == 0 && p.intact)})
	}
	if !has("E") {
		checks = append(checks, check{"grant probe: 0 bytes read on a bound non-token host (" +
			hostPool + ")", "n/a: " + res.poolNA, "n/a"})
	}

	// The header.
	o := res.opts
	fmt.Fprintf(&md, "# latchkey benchmark results\n\n")
	fmt.Fprintf(&md, "Written by `make bench` (`bench/cmd/latchkey-bench`); every figure below "+
		"comes from one run, with the six configurations interleaved round by round.\n\n")
	fmt.Fprintf(&md, "| | |\n|---|---|\n")
	fmt.Fprintf(&md, "| machine | %d CPUs (nproc), %s, %s |\n", runtime.NumCPU(), cpuModel(), kernel())
	fmt.Fprintf(&md, "| Go | %s (driver); %s |\n", runtime.Version(), binGoVersion(o.bin, o.goCmd))
	fmt.Fprintf(&md, "| commit | %s |\n", commit())
	fmt.Fprintf(&md, "| date | %s |\n", res.started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&md, "| load average | %s at start, %s at end |\n", res.loadStart, res.loadEnd)
	fmt.Fprintf(&md, "| parameters | %d rounds; small JSON %v per cell per round (+0.3 s warm-up); "+
		"SSE %d events × %d streams per round; transfers %d MB; %d new hosts per round, %d "+
		"handshakes each after the first |\n", o.rounds, o.cell, o.sseEvents, o.sseStreams,
		o.transfer/1_000_000, o.mintPerRound, o.cachedPerHost)
	fmt.Fprintf(&md, "| run time | %v (driver) |\n\n", res.elapsed.Round(time.Second))
	fmt.Fprintf(&md, "Client, proxy and upstream share the machine's CPUs, so every figure "+
		"includes their contention; on a machine shared with other work the figures are noisy. "+
		"*spread* is (max − min) / median over the rounds. Medians over rounds are reported.\n\n")

	md.WriteString("## Configurations\n\n| | configuration | client connects to |\n|---|---|---|\n")
	for _, t := range res.targets {
		how := "the upstream on loopback"
		switch t.key {
		case "B", "D", "E":
			how = "latchkey as HTTP proxy (CONNECT " + strings.TrimPrefix(t.base, "https://") + ":443)"
		case "C", "F":
			how = "a Caddy site with `tls internal` (" + strings.TrimPrefix(t.base, "https://") + ")"
		}
		label := t.label
		if t.na != "" {
			label += " — **n/a**: " + t.na
		}
		fmt.Fprintf(&md, "| %s | %s | %s |\n", t.key, label, how)
	}
	for _, t := range res.refs {
		fmt.Fprintf(&md, "| %s | %s | the upstream on loopback |\n", t.key, t.label)
	}
	md.WriteString("\nThe upstream is a Go `net/http` server (HTTP/1.1 and HTTP/2, its own test CA) in " +
		"a child process; every proxy reaches it over TLS, and both latchkey and Caddy speak HTTP/2 " +
		"to it. The upstream checks that each request carries a real secret, so a configuration " +
		"whose injection broke shows errors rather than speed.\n\n")

	// Targets.
	var tg strings.Builder
	tg.WriteString("## Targets of issue 7\n\n| target | measured | result |\n|---|---|---|\n")
	for _, c := range checks {
		fmt.Fprintf(&tg, "| %s | %s | **%s** |\n", c.target, c.measured, c.verdict)
	}
	tg.WriteString("\n")
	md.WriteString(tg.String())

	// Ratio table.
	var rt strings.Builder
	rt.WriteString("## Ratios\n\nThroughput of each configuration as a multiple of A (the limit); D, E and F " +
		"also against C (a Caddy proxy per request).\n\n")
	rt.WriteString("| workload | B/A | C/A | D/A | E/A | F/A | D/C | E/C | F/C |\n")
	rt.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	ratioRow := func(name string, val func(key string) (float64, bool)) {
		fmt.Fprintf(&rt, "| %s", name)
		a, aok := val("A")
		c, cok := val("C")
		for _, k := range []string{"B", "C", "D", "E", "F"} {
			v, ok := val(k)
			rt.WriteString(" | " + ratio(v, ok, a, aok))
		}
		for _, k := range []string{"D", "E", "F"} {
			v, ok := val(k)
			rt.WriteString(" | " + ratio(v, ok, c, cok))
		}
		rt.WriteString(" |\n")
	}
	for ci, cell := range jsonCells {
		ratioRow("small JSON req/s, "+cell.String(), func(k string) (float64, bool) {
			s := jsonStatsOf(res, ci, k)
			return s.rate, s.ok && s.errors == 0
		})
	}
	ratioRow("SSE events/s", func(k string) (float64, bool) {
		s := sseStatsOf(res, k)
		return s.rate, s.ok && s.errors == 0
	})
	ratioRow("100 MB download MB/s", func(k string) (float64, bool) {
		s := transferStatsOf(res.dl[k])
		return s.mbps, s.ok && s.errors == 0
	})
	ratioRow("100 MB upload MB/s", func(k string) (float64, bool) {
		s := transferStatsOf(res.ul[k])
		return s.mbps, s.ok && s.errors == 0
	})
	rt.WriteString("\n")
	md.WriteString(rt.String())

	// Small JSON.
	md.WriteString("## Small JSON request/response (kept-alive connections)\n\n")
	md.WriteString("A POST of 160 bytes of JSON answered with 320 bytes of JSON. At c=32 HTTP/1.1 uses " +
		"32 connections, HTTP/2 32 streams on one connection. Latency is per request, client side, " +
		"over all rounds.\n\n")
	md.WriteString("*proxy CPU/req* is the proxy process's CPU time (user + system, /proc/<pid>/stat) " +
		"over the requests it served, which contention on the machine affects far less than " +
		"throughput does.\n\n")
	md.WriteString("| cell | config | req/s | spread | ×A | ×C | p50 µs | p99 µs | p99.9 µs | proxy CPU/req µs | requests | errors |\n")
	md.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for ci, cell := range jsonCells {
		a, c := jsonStatsOf(res, ci, "A"), jsonStatsOf(res, ci, "C")
		for _, t := range res.targets {
			s := jsonStatsOf(res, ci, t.key)
			if !s.ok {
				fmt.Fprintf(&md, "| %s | %s | n/a | | | | | | | | | %d |\n", cell, t.key, s.errors)
				continue
			}
			cpu := "–"
			if s.cpuPerReq >= 0 {
				cpu = fmt.Sprintf("%.0f", us(s.cpuPerReq))
			}
			fmt.Fprintf(&md, "| %s | %s | %.0f | %.0f%% | %s | %s | %.0f | %.0f | %.0f | %s | %d | %d |\n",
				cell, t.key, s.rate, 100*s.spread, ratio(s.rate, true, a.rate, a.ok),
				ratio(s.rate, true, c.rate, c.ok), us(s.p50), us(s.p99), us(s.p999), cpu, s.requests,
				s.errors)
		}
	}
	md.WriteString("\n")

	// SSE.
	fmt.Fprintf(&md, "## Server-sent events (%d events, each flushed by the upstream)\n\n", o.sseEvents)
	fmt.Fprintf(&md, "Over a kept-alive HTTP/1.1 connection (A/h2: HTTP/2), as fast as the upstream writes them. *first event* "+
		"is the median time from sending the request to reading the first event, over the full "+
		"streams and %d streams of %d events per round; events/s is over the rest of each full "+
		"stream.\n\n", shortStreams, shortEvents)
	md.WriteString("| config | first event ms | vs A ms | events/s | ×A | full streams | timed streams | errors |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range append(slices.Clone(res.targets), res.refs...) {
		s := sseStatsOf(res, t.key)
		if !s.ok {
			fmt.Fprintf(&md, "| %s | n/a | | | | | | %d |\n", t.key, s.errors)
			continue
		}
		fmt.Fprintf(&md, "| %s | %.2f | %+.2f | %.0f | %s | %d | %d | %d |\n", t.key, ms(s.ttfe),
			ms(s.ttfe-sa.ttfe), s.rate, ratio(s.rate, true, sa.rate, sa.ok), s.streams, s.samples,
			s.errors)
	}
	md.WriteString("\n")

	// Transfers.
	fmt.Fprintf(&md, "## %d MB download and upload\n\n", o.transfer/1_000_000)
	md.WriteString("One HTTP/1.1 request each way (A/h2: HTTP/2); the body is JSON-like text with no secret in it, which " +
		"the proxies scan. RSS is the proxy process's: idle VmRSS just before the transfer, and the " +
		"largest growth over it (VmHWM after resetting it through /proc/<pid>/clear_refs, and VmRSS " +
		"sampled every 10 ms). B, D and E are one process, C and F one each.\n\n")
	if !res.peakResetSupported {
		md.WriteString("(The kernel refused to reset VmHWM; growth comes from the 10 ms samples only.)\n\n")
	}
	md.WriteString("*proxy CPU* is the proxy process's CPU time for one transfer.\n\n")
	md.WriteString("| config | download MB/s | spread | ×A | proxy CPU s | upload MB/s | spread | ×A | proxy CPU s | idle RSS MiB | growth download MiB | growth upload MiB |\n")
	md.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	da, ua := transferStatsOf(res.dl["A"]), transferStatsOf(res.ul["A"])
	for _, t := range append(slices.Clone(res.targets), res.refs...) {
		d, u := transferStatsOf(res.dl[t.key]), transferStatsOf(res.ul[t.key])
		if !d.ok || !u.ok {
			fmt.Fprintf(&md, "| %s | n/a (%v %v) | | | | | | | | | | |\n", t.key, d.lastErr, u.lastErr)
			continue
		}
		fmt.Fprintf(&md, "| %s | %.0f | %.0f%% | %s | %s | %.0f | %.0f%% | %s | %s | %s | %s | %s |\n", t.key,
			d.mbps, 100*d.spread, ratio(d.mbps, true, da.mbps, da.ok), cpuSeconds(d.cpu), u.mbps,
			100*u.spread, ratio(u.mbps, true, ua.mbps, ua.ok), cpuSeconds(u.cpu), kbMiB(d.idleKB),
			kbMiB(d.growKB), kbMiB(u.growKB))
	}
	md.WriteString("\n")
	md.WriteString("CPU time of one transfer, in seconds, by process, and the total as a multiple of A's. " +
		"The client, the proxy and the upstream share the machine's cores, so a configuration that " +
		"costs k× A's CPU per byte reaches at best about 1/k of A's throughput once the cores are " +
		"busy.\n\n")
	md.WriteString("| config | download: proxy | client + upstream | total | ×A | upload: proxy | client + upstream | total | ×A |\n")
	md.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range append(slices.Clone(res.targets), res.refs...) {
		d, u := transferStatsOf(res.dl[t.key]), transferStatsOf(res.ul[t.key])
		if !d.ok || !u.ok {
			continue
		}
		row := func(s, a transferStats) string {
			total := max(0, s.cpu) + s.otherCPU
			aTotal := a.otherCPU
			bound := "–"
			if total > 0 && aTotal > 0 {
				bound = fmt.Sprintf("%.1f", total.Seconds()/aTotal.Seconds())
			}
			return fmt.Sprintf("%s | %s | %s | %s", cpuSeconds(s.cpu), cpuSeconds(s.otherCPU),
				cpuSeconds(total), bound)
		}
		fmt.Fprintf(&md, "| %s | %s | %s |\n", t.key, row(d, da), row(u, ua))
	}
	md.WriteString("\n")

	// Certificates.
	md.WriteString("## Certificates for intercepted hosts\n\n")
	md.WriteString("Each request on a fresh connection (CONNECT, full TLS handshake without resumption, " +
		"one GET) through D's instance. The first to a new host mints its leaf; the later ones must " +
		"find it cached. The counts are latchkey's `latchkey_certificates_total` on the admin " +
		"`/metrics`.\n\n")
	md.WriteString("| | median ms | p90 ms | samples |\n|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		v    []time.Duration
	}{
		{"first request to a new host (minting)", m.first},
		{"new connection, cached host", m.cached},
		{"new connection direct to the upstream (A), for reference", m.direct},
	} {
		if len(row.v) == 0 {
			fmt.Fprintf(&md, "| %s | n/a | | 0 |\n", row.name)
			continue
		}
		v := slices.Clone(row.v)
		slices.Sort(v)
		fmt.Fprintf(&md, "| %s | %.2f | %.2f | %d |\n", row.name, ms(v[len(v)/2]), ms(quantile(v, 0.9)), len(v))
	}
	fmt.Fprintf(&md, "\nminted: %.0f for %d new hosts; cache hits: %.0f for %d later handshakes.\n",
		m.mintedDelta, m.hosts, m.cachedDelta, m.handshakes)
	for _, err := range m.errs {
		fmt.Fprintf(&md, "- error: %v\n", err)
	}
	md.WriteString("\n")

	// Grant probe.
	md.WriteString("## Grant probe\n\n")
	md.WriteString("A 1 MiB JSON POST over HTTP/2 whose body the client releases 4 KiB at a time, and only " +
		"while the upstream has not answered; the upstream answers (and flushes) as soon as it has the " +
		"request headers, before reading the body. The body bytes released by then bound what the " +
		"proxy read before forwarding, which is where the grant probe reads: 0 means the probe read " +
		"nothing. The token host is the control: its probe reads up to 64 KiB + 1 first, so that " +
		"row must show about 64 KiB. In the code the probe is `serveTokenPost`, which `forward` " +
		"(proxy/intercept.go) calls only when `plan.TokenHost` is true; bound API hosts are no " +
		"token host, so no product hook is needed to count it.\n\n")
	md.WriteString("| host | kind | bytes held before forwarding | delivered | intact |\n|---|---|---|---|---|\n")
	for _, p := range res.probes {
		kind := "bound, static credential (D)"
		switch p.host {
		case hostPool:
			kind = "bound, OAuth pool (E)"
		case hostToken:
			kind = "token host, unbound (control)"
		}
		if p.err != nil {
			fmt.Fprintf(&md, "| %s | %s | error: %v | | |\n", p.host, kind, p.err)
			continue
		}
		fmt.Fprintf(&md, "| %s | %s | %d | %d | %v |\n", p.host, kind, p.held, p.delivered, p.intact)
	}
	md.WriteString("\n")

	// CPU time.
	md.WriteString("## CPU time per process over the measured rounds\n\n| process | CPU s |\n|---|---|\n")
	for _, name := range slices.Sorted(maps.Keys(res.cpuTicksByProcess)) {
		v := res.cpuTicksByProcess[name]
		if v < 0 {
			continue
		}
		fmt.Fprintf(&md, "| %s | %.1f |\n", name, float64(v)/100)
	}
	md.WriteString("\n")

	// Profiles.
	if len(res.profiles) > 0 {
		md.WriteString("## CPU profiles of D and E\n\n")
		fmt.Fprintf(&md, "Each taken from latchkey's admin endpoint (`/debug/pprof/profile` over the unix "+
			"socket) for %v while the driver ran one workload against D or E alone; the raw profiles "+
			"are in `%s/` (`go tool pprof %s <file>`). The table sorts the samples of each by the kind "+
			"of work (flat time of each function, by package).\n\n", o.profile, o.profileDir, o.bin)
		md.WriteString("| share of proxy CPU % |")
		for _, p := range res.profiles {
			fmt.Fprintf(&md, " %s %s |", p.target, p.load)
		}
		md.WriteString("\n|---|" + strings.Repeat("---|", len(res.profiles)) + "\n")
		for ci := 0; ci <= len(categories); ci++ {
			name := "other"
			if ci < len(categories) {
				name = categories[ci].name
			}
			fmt.Fprintf(&md, "| %s |", name)
			for _, p := range res.profiles {
				if ci < len(p.breakdown) {
					fmt.Fprintf(&md, " %.1f |", p.breakdown[ci].percent)
				} else {
					md.WriteString(" – |")
				}
			}
			md.WriteString("\n")
		}
		md.WriteString("| achieved while profiling |")
		for _, p := range res.profiles {
			fmt.Fprintf(&md, " %s |", p.achieved)
		}
		md.WriteString("\n\n")
		for _, p := range res.profiles {
			fmt.Fprintf(&md, "<details><summary>%s under %s (%s): top functions</summary>\n\n", p.target,
				p.load, p.achieved)
			if p.err != nil {
				fmt.Fprintf(&md, "error: %v\n\n</details>\n\n", p.err)
				continue
			}
			fmt.Fprintf(&md, "```\n%s\n```\n\n</details>\n\n", p.top)
		}
	}

	term := rt.String() + tg.String()
	return report{terminal: term, markdown: md.String()}
}

func ratio(v float64, ok bool, base float64, baseOK bool) string {
	if !ok || !baseOK || base == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v/base)
}

func cpuSeconds(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", d.Seconds())
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func kbMiB(kb int64) string {
	if kb < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", float64(kb)/1024)
}

func kernel() string {
	raw, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return runtime.GOOS
	}
	return runtime.GOOS + " " + strings.TrimSpace(string(raw))
}

// commit is the short commit, marked when the tree has changes.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil &&
		len(strings.TrimSpace(string(st))) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

// binGoVersion is the Go version the measured binary was built with.
func binGoVersion(bin, goCmd string) string {
	out, err := exec.Command(goCmd, "version", bin).Output()
	if err != nil {
		return "binary: unknown"
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "binary: unknown"
	}
	return "binary built with " + f[len(f)-1]
}

// microMarker starts the section append-micro writes.
const microMarker = "## Go micro-benchmarks"

// appendMicro adds the output of `go test -bench` to RESULTS.md, replacing
// an earlier such section.
func appendMicro(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: latchkey-bench append-micro <bench output> [RESULTS.md]")
	}
	out := "bench/RESULTS.md"
	if len(args) == 2 {
		out = args[1]
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "pkg:") || strings.HasPrefix(l, "Benchmark") ||
			strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "--- ") {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	doc := string(raw)
	if i := strings.Index(doc, microMarker); i >= 0 {
		doc = doc[:i]
	}
	doc = strings.TrimRight(doc, "\n") + "\n\n" + microMarker + "\n\n" +
		"`go test -run '^$' -bench . -benchmem` on the hot paths, run by `make bench` after the driver. " +
		"`BenchmarkHandlerRequest` and `BenchmarkProxiedRequest` (proxy/) give the allocations per " +
		"proxied request.\n\n```\n" + strings.Join(lines, "\n") + "\n```\n"
	return os.WriteFile(out, []byte(doc), 0o644)
}
