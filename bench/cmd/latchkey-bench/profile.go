package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileLoad is a workload run while a profile is taken. It returns a
// figure describing what it achieved ("12000 req/s").
type profileLoad struct {
	name string
	run  func(t *target, d time.Duration) string
}

// profileLoads are the workloads the proxy is profiled under: the small
// JSON requests the targets weigh most, and the streams whose targets
// compare with the limit.
func profileLoads(o options, pattern []byte) []profileLoad {
	return []profileLoad{
		{"json-h1-c32", func(t *target, d time.Duration) string {
			return fmt.Sprintf("%.0f req/s", runJSON(t, false, 32, d).rate())
		}},
		{"json-h2-c32", func(t *target, d time.Duration) string {
			return fmt.Sprintf("%.0f req/s", runJSON(t, true, 32, d).rate())
		}},
		{"download", func(t *target, d time.Duration) string {
			return loopTransfers(d, func() transferRun { return runDownload(t, o.transfer) })
		}},
		{"upload", func(t *target, d time.Duration) string {
			return loopTransfers(d, func() transferRun { return runUpload(t, o.transfer, pattern) })
		}},
		{"sse", func(t *target, d time.Duration) string {
			deadline := time.Now().Add(d)
			var rates []float64
			for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
				for _, s := range runSSE(t, o.sseEvents, 1) {
					if s.err == nil && !s.short {
						rates = append(rates, s.rate)
					}
				}
			}
			if len(rates) == 0 {
				return "no stream completed"
			}
			m, _ := medianSpread(rates)
			return fmt.Sprintf("%.0f events/s", m)
		}},
	}
}

func loopTransfers(d time.Duration, one func() transferRun) string {
	deadline := time.Now().Add(d)
	var rates []float64
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		if r := one(); r.err == nil {
			rates = append(rates, r.mbps)
		}
	}
	if len(rates) == 0 {
		return "no transfer completed"
	}
	m, _ := medianSpread(rates)
	return fmt.Sprintf("%.0f MB/s", m)
}

// profileResult is a CPU profile of the proxy under one load.
type profileResult struct {
	target, load string
	file         string // the raw profile
	top          string // the first rows of `go tool pprof -top`
	breakdown    []share
	achieved     string
	err          error
}

// share is the part of a profile's samples spent in one kind of work.
type share struct {
	name    string
	percent float64
}

// categories sort the functions of a profile by their flat samples into
// the kinds of work a proxy does, first match wins.
var categories = []struct {
	name     string
	prefixes []string
}{
	{"latchkey: body and header scan (swap)", []string{"github.com/latchkeyproxy/latchkey/swap."}},
	{"latchkey: everything else", []string{"github.com/latchkeyproxy/latchkey/"}},
	{"system calls (socket reads and writes, wake-ups)", []string{
		"internal/runtime/syscall", "syscall.",
		"runtime.futex", "runtime.netpoll", "runtime.epoll", "runtime.usleep", "runtime/internal/syscall",
	}},
	{"TLS (AES-GCM, handshakes)", []string{"crypto/", "vendor/golang.org/x/crypto"}},
	{"net/http, HTTP/2, bufio", []string{
		"net/http", "net/textproto", "bufio.", "golang.org/x/net",
		"vendor/golang.org/x/net", "net.", "internal/poll.", "mime.",
	}},
	{"Caddy", []string{"github.com/caddyserver/"}},
	{"memory copies", []string{"runtime.memmove", "runtime.memclr"}},
	{"allocation and GC", []string{
		"runtime.mallocgc", "runtime.gc", "runtime.scan", "internal/runtime/gc",
		"runtime.mark", "runtime.(*mspan)", "runtime.(*mcache)", "runtime.(*mheap)", "runtime.(*gcWork)",
		"runtime.greyobject", "runtime.findObject", "runtime.nextFreeFast", "runtime.sweep",
		"runtime.(*sweep", "runtime.wbBuf", "runtime.bulkBarrier", "runtime.typePointers",
		"runtime.heapSetType", "runtime.newobject", "runtime.makeslice", "runtime.growslice",
		"runtime.(*mcentral)", "runtime.tryDeferToSpanScan", "runtime.step", "runtime.pcvalue",
		"runtime.(*spanSet)", "runtime.deductAssistCredit", "runtime.gcAssist", "runtime.(*unwinder)",
		"runtime.copystack", "runtime.newstack", "runtime.adjust", "runtime.(*stkframe)",
		"runtime.funcInfo", "runtime.findfunc", "runtime.(*gcBits)", "runtime.(*pageAlloc)",
	}},
	{"scheduler and other runtime", []string{
		"runtime.", "internal/runtime/", "internal/sync.", "sync.",
		"context.", "aeshash", "indexbyte", "memeqbody", "cmpbody", "gogo", "gosave",
	}},
}

// captureProfile takes a CPU profile of inst through its admin endpoint's
// /debug/pprof/profile while t is under load, keeps it in dir and
// summarises it with `go tool pprof`.
func captureProfile(inst *instance, t *target, load profileLoad, d time.Duration, dir, goCmd,
	bin string,
) profileResult {
	res := profileResult{target: t.key, load: load.name}
	secs := max(1, int(d/time.Second))
	loadDone := make(chan string, 1)
	go func() {
		// The load starts a little before the profile and ends after it.
		loadDone <- load.run(t, time.Duration(secs)*time.Second+time.Second)
	}()
	time.Sleep(500 * time.Millisecond)
	status, raw, err := inst.call(http.MethodGet, "/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	res.achieved = <-loadDone
	if err != nil || status != http.StatusOK {
		res.err = fmt.Errorf("GET /debug/pprof/profile: status %d, %v", status, err)
		return res
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.err = err
		return res
	}
	res.file = filepath.Join(dir, "cpu-"+t.key+"-"+load.name+".pprof")
	if err := os.WriteFile(res.file, raw, 0o644); err != nil {
		res.err = err
		return res
	}
	out, err := exec.Command(goCmd, "tool", "pprof", "-top", "-nodecount=100000", bin, res.file).CombinedOutput()
	if err != nil {
		res.err = fmt.Errorf("go tool pprof: %v: %s", err, out)
		return res
	}
	res.top, res.breakdown = summarise(string(out), 20)
	return res
}

// summarise keeps the header and the first rows of `go tool pprof -top`
// output and sorts every row's flat samples into categories.
func summarise(out string, rows int) (string, []share) {
	var kept []string
	flat := make([]float64, len(categories)+1)
	var total float64
	inTable := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "File:"), strings.HasPrefix(l, "Build ID:"),
			strings.HasPrefix(l, "Type:"), strings.HasPrefix(l, "Time:"),
			strings.HasPrefix(l, "Main binary"), strings.HasPrefix(l, "Local symbolization"),
			strings.HasPrefix(l, "Showing top"), strings.HasPrefix(l, "Dropped"):
			continue
		case strings.Contains(l, "flat%") && strings.Contains(l, "cum%"):
			inTable = true
			kept = append(kept, l)
			continue
		case !inTable:
			kept = append(kept, l)
			continue
		}
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		v := seconds(f[0])
		total += v
		name := strings.Join(f[5:], " ")
		c := len(categories)
		for i, cat := range categories {
			if hasAnyPrefix(name, cat.prefixes) {
				c = i
				break
			}
		}
		flat[c] += v
		if rows > 0 {
			kept = append(kept, l)
			rows--
		}
	}
	var shares []share
	if total > 0 {
		for i, v := range flat {
			name := "other"
			if i < len(categories) {
				name = categories[i].name
			}
			shares = append(shares, share{name, 100 * v / total})
		}
	}
	return strings.TrimSpace(strings.Join(kept, "\n")), shares
}

// seconds parses a pprof duration such as "0.34s" or "120ms".
func seconds(s string) float64 {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d.Seconds()
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
