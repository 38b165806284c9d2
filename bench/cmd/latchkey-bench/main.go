// Command latchkey-bench is the load driver behind `make bench`. It
// measures latchkey side by side with its baselines in one run, on
// loopback, against a fake TLS upstream of its own:
//
//	A  direct to the upstream (the limit)
//	B  a CONNECT tunnel through latchkey to an unbound host
//	C  Caddy's own reverse_proxy with TLS on both sides
//	D  latchkey intercepting and injecting a static credential
//	E  latchkey with a two-member OAuth pool bound to the host
//	F  latchkey as middleware before reverse_proxy
//
// Every configuration runs every workload in each round, in an order that
// rotates from round to round, so that drift on a shared machine hits all
// of them alike. It prints a table of ratios and writes bench/RESULTS.md.
//
// Usage:
//
//	latchkey-bench [-bin bin/latchkey] [-out bench/RESULTS.md] [-rounds 3] [-cell 3s]
//	latchkey-bench append-micro <go test -bench output>  (adds it to RESULTS.md)
//	latchkey-bench upstream -dir <dir>                   (the fake upstream; internal)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// jsonCell is one combination of protocol and concurrency of the small
// JSON workload.
type jsonCell struct {
	h2   bool
	conc int
}

func (c jsonCell) String() string {
	p := "HTTP/1.1"
	if c.h2 {
		p = "HTTP/2"
	}
	return fmt.Sprintf("%s c=%d", p, c.conc)
}

var jsonCells = []jsonCell{{false, 1}, {false, 32}, {true, 1}, {true, 32}}

// options are the run's parameters.
type options struct {
	bin, out, profileDir, goCmd string
	profileLoads                string
	rounds                      int
	cell, profile               time.Duration
	sseEvents, sseStreams       int
	transfer                    int64
	mintPerRound, cachedPerHost int
	keep                        bool
}

// results is every figure of a run.
type results struct {
	opts     options
	json     [][]map[string]*jsonRun // [cell][round][target]
	sse      map[string][]sseRun
	dl, ul   map[string][]transferRun
	mint     mintResult
	probes   []probeRun
	profiles []profileResult

	started            time.Time
	elapsed            time.Duration
	loadStart, loadEnd string
	peakResetSupported bool
	targets            []*target
	refs               []*target
	poolNA             string
	upstreamPID        int
	cpuTicksByProcess  map[string]int64
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "upstream":
			runUpstream(os.Args[2:])
			return
		case "append-micro":
			if err := appendMicro(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "latchkey-bench:", err)
				os.Exit(1)
			}
			return
		}
	}

	var o options
	flag.StringVar(&o.bin, "bin", "bin/latchkey", "the latchkey binary to measure")
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "where to write the results")
	flag.StringVar(&o.profileDir, "profile-dir", "bench/out", "where to keep CPU profiles")
	flag.StringVar(&o.goCmd, "go", "go", "the go command, for `go tool pprof`")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every cell once")
	flag.DurationVar(&o.cell, "cell", 3*time.Second, "measured duration of a small-JSON cell")
	flag.DurationVar(&o.profile, "profile", 3*time.Second, "length of each CPU profile of D and E (0: none)")
	flag.StringVar(&o.profileLoads, "profile-loads", "json-h1-c32,json-h2-c32,download,upload,sse",
		"workloads to profile D and E under")
	flag.IntVar(&o.sseEvents, "sse-events", 10000, "events per SSE stream")
	flag.IntVar(&o.sseStreams, "sse-streams", 2, "SSE streams per target per round")
	flag.Int64Var(&o.transfer, "transfer", 100_000_000, "bytes per download and upload")
	flag.IntVar(&o.mintPerRound, "mint-hosts", 4, "new hosts per round for certificate minting")
	flag.IntVar(&o.cachedPerHost, "cached-per-host", 3, "new connections per host after the first")
	flag.BoolVar(&o.keep, "keep", false, "keep the run directory (logs, Caddyfiles)")
	flag.Parse()

	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	res := &results{
		opts: o, started: time.Now(), loadStart: loadAverage(),
		sse: map[string][]sseRun{}, dl: map[string][]transferRun{},
		ul:                map[string][]transferRun{},
		cpuTicksByProcess: map[string]int64{},
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %v (run `make build` first)", o.bin, err)
	}
	// Short: unix socket paths must stay under about 100 bytes.
	dir, err := os.MkdirTemp("", "lkb-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("run directory: %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	logf("starting the upstream and three instances of %s", o.bin)
	w, err := setup(bin, dir, o.rounds*o.mintPerRound)
	if w != nil {
		defer w.close()
	}
	if err != nil {
		return err
	}
	res.targets, res.refs, res.poolNA, res.upstreamPID = w.targets, w.refs, w.poolNA, w.upstream.pid()
	upstreamPID = w.upstream.pid()
	if w.poolNA != "" {
		logf("E is n/a: %s", w.poolNA)
	}
	res.peakResetSupported = resetPeakRSS(w.lk.pid())
	pattern := bodyPattern()
	ticks0 := processTicks(w)

	res.json = make([][]map[string]*jsonRun, len(jsonCells))
	for r := range o.rounds {
		order := rotate(w.targets, r)
		logf("round %d of %d", r+1, o.rounds)
		for ci, cell := range jsonCells {
			runs := map[string]*jsonRun{}
			for _, t := range order {
				if t.na != "" {
					continue
				}
				run := runJSON(t, cell.h2, cell.conc, o.cell)
				runs[t.key] = run
				logf("  json %-13s %s: %8.0f req/s  errors %d%s", cell, t.key, run.rate(),
					run.errors, errSuffix(run.lastErr))
			}
			res.json[ci] = append(res.json[ci], runs)
		}
		for _, t := range append(order, w.refs...) {
			if t.na != "" {
				continue
			}
			runs := runSSE(t, o.sseEvents, o.sseStreams)
			res.sse[t.key] = append(res.sse[t.key], runs...)
			for _, s := range runs {
				if !s.short {
					logf("  sse  %s: first event %6.2f ms, %8.0f events/s%s", t.key,
						ms(s.ttfe), s.rate, errSuffix(s.err))
				}
			}
		}
		for _, t := range append(order, w.refs...) {
			if t.na != "" {
				continue
			}
			d := runDownload(t, o.transfer)
			res.dl[t.key] = append(res.dl[t.key], d)
			u := runUpload(t, o.transfer, pattern)
			res.ul[t.key] = append(res.ul[t.key], u)
			logf("  transfer %s: download %7.1f MB/s (+%s), upload %7.1f MB/s (+%s)%s%s",
				t.key, d.mbps, mib(d.growthKB()), u.mbps, mib(u.growthKB()),
				errSuffix(d.err), errSuffix(u.err))
		}
		hosts := w.mint[r*o.mintPerRound : (r+1)*o.mintPerRound]
		runMintRound(&res.mint, w, hosts, o.cachedPerHost)
	}

	logf("grant probe: 1 MiB POSTs released 4 KiB at a time")
	res.probes = append(res.probes, runProbe(w.byKey["D"], hostStatic))
	if w.poolNA == "" {
		res.probes = append(res.probes, runProbe(w.byKey["E"], hostPool))
		res.probes = append(res.probes, runProbe(w.byKey["D"], hostToken))
	}
	for _, p := range res.probes {
		logf("  %s: %d bytes sent before the upstream had the request; %d delivered, intact %v%s",
			p.host, p.held, p.delivered, p.intact, errSuffix(p.err))
	}
	ticks1 := processTicks(w)
	for k, v := range ticks1 {
		res.cpuTicksByProcess[k] = v - ticks0[k]
	}

	if o.profile > 0 {
		wanted := map[string]bool{}
		for _, l := range strings.Split(o.profileLoads, ",") {
			wanted[strings.TrimSpace(l)] = true
		}
		for _, load := range profileLoads(o, pattern) {
			if !wanted[load.name] {
				continue
			}
			for _, key := range []string{"D", "E"} {
				t := w.byKey[key]
				if t.na != "" {
					continue
				}
				p := captureProfile(w.lk, t, load, o.profile, o.profileDir, o.goCmd, bin)
				res.profiles = append(res.profiles, p)
				logf("profiled %s under %s: %s%s", key, load.name, p.achieved, errSuffix(p.err))
			}
		}
	}
	res.loadEnd = loadAverage()
	res.elapsed = time.Since(res.started)

	report := buildReport(res)
	fmt.Println(report.terminal)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(report.markdown), 0o644); err != nil {
		return err
	}
	logf("wrote %s in %v", o.out, res.elapsed.Round(time.Second))
	return nil
}

// processTicks reads the CPU time of every child.
func processTicks(w *world) map[string]int64 {
	return map[string]int64{
		"upstream":           cpuTicks(w.upstream.pid()),
		"latchkey (B, D, E)": cpuTicks(w.lk.pid()),
		"caddy (C)":          cpuTicks(w.caddy.pid()),
		"latchkey rp (F)":    cpuTicks(w.rp.pid()),
	}
}

// rotate returns ts starting at index r.
func rotate(ts []*target, r int) []*target {
	r %= len(ts)
	return append(append([]*target{}, ts[r:]...), ts[:r]...)
}

// mintResult is the certificate workload.
type mintResult struct {
	first, cached, direct    []time.Duration
	mintedDelta, cachedDelta float64
	hosts, handshakes        int
	errs                     []error
}

// runMintRound sends the first request to each new host (the proxy mints
// its certificate) and then more requests to it on fresh connections (each
// a full handshake that must find the certificate cached), and checks the
// proxy's certificate counters.
func runMintRound(m *mintResult, w *world, hosts []string, cachedPerHost int) {
	d := w.byKey["D"]
	minted0 := w.lk.metric(`latchkey_certificates_total{result="minted"}`)
	cached0 := w.lk.metric(`latchkey_certificates_total{result="cached"}`)
	for _, h := range hosts {
		lat, err := oneShot(d, h)
		if err != nil {
			m.errs = append(m.errs, fmt.Errorf("%s first: %v", h, err))
			continue
		}
		m.first = append(m.first, lat)
		m.hosts++
		for range cachedPerHost {
			lat, err := oneShot(d, h)
			if err != nil {
				m.errs = append(m.errs, fmt.Errorf("%s again: %v", h, err))
				continue
			}
			m.cached = append(m.cached, lat)
			m.handshakes++
		}
		if lat, err := oneShot(w.byKey["A"], hostDirect); err == nil {
			m.direct = append(m.direct, lat)
		}
	}
	m.mintedDelta += w.lk.metric(`latchkey_certificates_total{result="minted"}`) - minted0
	m.cachedDelta += w.lk.metric(`latchkey_certificates_total{result="cached"}`) - cached0
	logf("  certificates: %d new hosts, %d cached handshakes so far; minted +%.0f, cached +%.0f",
		m.hosts, m.handshakes, m.mintedDelta, m.cachedDelta)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (error: " + err.Error() + ")"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(kb int64) string {
	if kb < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}
