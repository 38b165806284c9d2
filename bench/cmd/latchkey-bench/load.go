package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is one configuration under test, as the client sees it: where it
// sends requests, through which proxy, what it trusts and what it holds.
type target struct {
	key   string // "A" ... "F"
	label string
	base  string         // scheme and authority of request URLs
	proxy *url.URL       // forward proxy, nil for none
	dial  string         // address to dial when there is no proxy
	roots *x509.CertPool // what the client trusts
	auth  string         // Authorization value the client sends
	pid   int            // the proxy process, 0 for none
	na    string         // why the configuration cannot run; "" when it can

	// streamH2 makes the SSE and transfer workloads speak HTTP/2 instead
	// of HTTP/1.1 (the reference A over HTTP/2).
	streamH2 bool
}

// transport returns a fresh client transport for t: HTTP/2 or HTTP/1.1
// only, with or without keep-alive.
func (t *target) transport(h2, keepAlive bool) *http.Transport {
	dialAddr := t.dial
	if t.proxy != nil {
		dialAddr = t.proxy.Host
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", dialAddr)
		},
		TLSClientConfig:     tlsConfig(t.roots),
		ForceAttemptHTTP2:   h2,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		DisableKeepAlives:   !keepAlive,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	if t.proxy != nil {
		tr.Proxy = http.ProxyURL(t.proxy)
	}
	return tr
}

// request builds a request to t with its credential.
func (t *target) request(method, path string, body io.Reader) *http.Request {
	req, _ := http.NewRequest(method, t.base+path, body)
	req.Header.Set("Authorization", t.auth)
	req.Header.Set("User-Agent", "latchkey-bench/1")
	req.Header.Set("Accept", "application/json")
	return req
}

// jsonRun is one cell of the small-JSON workload.
type jsonRun struct {
	requests, errors int
	elapsed          time.Duration
	lat              []time.Duration
	lastErr          error
	proxyTicks       int64 // CPU clock ticks of the proxy process while measured; -1 unknown
}

func (r *jsonRun) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// maxRequestsPerWorker bounds a worker's loop whatever the duration.
const maxRequestsPerWorker = 5_000_000

// runJSON sends small JSON POSTs to t over kept-alive connections from conc
// workers for dur, after a warm-up that opens the connections.
func runJSON(t *target, h2 bool, conc int, dur time.Duration) *jsonRun {
	tr := t.transport(h2, true)
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	do := func() (time.Duration, error) {
		req := t.request(http.MethodPost, pathJSON, bytes.NewReader(jsonRequest))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		switch {
		case err != nil:
			return 0, err
		case resp.StatusCode != http.StatusOK:
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		case h2 != (resp.ProtoMajor == 2):
			return 0, fmt.Errorf("spoke %s", resp.Proto)
		}
		return d, nil
	}

	// Warm up: open every connection, then run briefly unmeasured.
	var werr atomic.Value
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := do(); err != nil {
				werr.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := werr.Load().(error); err != nil {
		return &jsonRun{errors: 1, elapsed: time.Nanosecond, lastErr: err}
	}
	measure := func(d time.Duration, record bool) *jsonRun {
		runs := make([]jsonRun, conc)
		start := time.Now()
		deadline := start.Add(d)
		for w := range conc {
			wg.Add(1)
			go func(r *jsonRun) {
				defer wg.Done()
				for i := 0; i < maxRequestsPerWorker && time.Now().Before(deadline); i++ {
					lat, err := do()
					if err != nil {
						r.errors++
						r.lastErr = err
						if r.errors > 50 {
							return
						}
						continue
					}
					r.requests++
					if record {
						r.lat = append(r.lat, lat)
					}
				}
			}(&runs[w])
		}
		wg.Wait()
		out := &jsonRun{elapsed: time.Since(start)}
		for _, r := range runs {
			out.requests += r.requests
			out.errors += r.errors
			out.lat = append(out.lat, r.lat...)
			if r.lastErr != nil {
				out.lastErr = r.lastErr
			}
		}
		return out
	}
	measure(300*time.Millisecond, false)
	ticks := cpuTicks(t.pid)
	run := measure(dur, true)
	run.proxyTicks = -1
	if t.pid != 0 && ticks >= 0 {
		if after := cpuTicks(t.pid); after >= 0 {
			run.proxyTicks = after - ticks
		}
	}
	return run
}

// sseRun is one stream of the SSE workload.
type sseRun struct {
	ttfe  time.Duration // request sent to first event read
	rate  float64       // events per second after the first
	short bool          // a stream of a few events, for the first-event time only
	err   error
}

// shortStreams is how many streams of shortEvents events follow the full
// ones: the time to the first event is noisy on a busy machine, and short
// streams give it more samples at little cost.
const (
	shortStreams = 10
	shortEvents  = 5
)

// runSSE reads streams streams of n events each over one kept-alive
// HTTP/1.1 connection, then short ones.
func runSSE(t *target, n, streams int) []sseRun {
	tr := t.transport(t.streamH2, true)
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	if err := warm(cl, t); err != nil {
		return []sseRun{{err: err}}
	}
	var out []sseRun
	for i := range streams + shortStreams {
		short := i >= streams
		n := n
		if short {
			n = shortEvents
		}
		req := t.request(http.MethodGet, pathSSE+"?n="+strconv.Itoa(n), nil)
		req.Header.Set("Accept", "text/event-stream")
		start := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			out = append(out, sseRun{err: err})
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			out = append(out, sseRun{err: fmt.Errorf("status %d", resp.StatusCode)})
			continue
		}
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		var first, last time.Time
		count := 0
		for count < n {
			line, err := br.ReadSlice('\n')
			if err != nil {
				break
			}
			if bytes.HasPrefix(line, []byte("data: ")) {
				count++
				last = time.Now()
				if count == 1 {
					first = last
				}
			}
		}
		// Read the end of the stream too, so the connection is reused for
		// the next one instead of being closed.
		io.Copy(io.Discard, br)
		resp.Body.Close()
		if count != n {
			out = append(out, sseRun{err: fmt.Errorf("read %d of %d events", count, n)})
			continue
		}
		out = append(out, sseRun{
			ttfe: first.Sub(start), short: short,
			rate: float64(n-1) / last.Sub(first).Seconds(),
		})
	}
	return out
}

// warm sends one small request so that the connection is open.
func warm(cl *http.Client, t *target) error {
	resp, err := cl.Do(t.request(http.MethodGet, pathJSON, nil))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("warm-up: status %d", resp.StatusCode)
	}
	return nil
}

// transferRun is one 100 MB download or upload.
type transferRun struct {
	mbps           float64
	idleKB, peakKB int64 // proxy VmRSS before, and its peak during; -1 unknown
	proxyTicks     int64 // CPU clock ticks of the proxy during the transfer; -1 unknown
	otherTicks     int64 // CPU clock ticks of the client (this process) and the upstream
	err            error
}

// upstreamPID is the fake upstream's process, whose CPU time the transfers
// account for next to the proxy's and the client's.
var upstreamPID int

// machineTicks is the CPU time of this process and the upstream.
func machineTicks() int64 {
	a, b := cpuTicks(os.Getpid()), cpuTicks(upstreamPID)
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

// growthKB is how much the proxy's resident memory grew over idle.
func (r transferRun) growthKB() int64 {
	if r.idleKB < 0 || r.peakKB < 0 {
		return -1
	}
	return max(0, r.peakKB-r.idleKB)
}

// rssWatch follows a process's resident memory during a transfer.
type rssWatch struct {
	pid      int
	idle     int64
	reset    bool
	sampled  atomic.Int64
	stop     chan struct{}
	finished chan struct{}
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{pid: pid, idle: -1, stop: make(chan struct{}), finished: make(chan struct{})}
	if pid == 0 {
		close(w.finished)
		return w
	}
	w.reset = resetPeakRSS(pid)
	w.idle = procStatusKB(pid, "VmRSS")
	w.sampled.Store(w.idle)
	go func() {
		defer close(w.finished)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				if v := procStatusKB(pid, "VmRSS"); v > w.sampled.Load() {
					w.sampled.Store(v)
				}
			}
		}
	}()
	return w
}

// done returns the idle and peak resident memory.
func (w *rssWatch) done() (idle, peak int64) {
	if w.pid == 0 {
		return -1, -1
	}
	close(w.stop)
	<-w.finished
	peak = w.sampled.Load()
	if w.reset {
		peak = max(peak, procStatusKB(w.pid, "VmHWM"))
	}
	return w.idle, peak
}

// runDownload downloads n bytes from t over HTTP/1.1.
func runDownload(t *target, n int64) transferRun {
	tr := t.transport(t.streamH2, true)
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	if err := warm(cl, t); err != nil {
		return transferRun{err: err, idleKB: -1, peakKB: -1}
	}
	time.Sleep(100 * time.Millisecond) // let the proxy settle before reading idle memory
	w := watchRSS(t.pid)
	ticks, other := cpuTicks(t.pid), machineTicks()
	start := time.Now()
	resp, err := cl.Do(t.request(http.MethodGet, pathDownload+"?bytes="+strconv.FormatInt(n, 10), nil))
	var got int64
	if err == nil {
		buf := make([]byte, 64<<10)
		got, err = io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	elapsed := time.Since(start)
	idle, peak := w.done()
	if err == nil && got != n {
		err = fmt.Errorf("received %d of %d bytes", got, n)
	}
	return transferRun{
		mbps: float64(n) / 1e6 / elapsed.Seconds(), idleKB: idle, peakKB: peak,
		proxyTicks: ticksSince(t.pid, ticks), otherTicks: machineTicks() - other, err: err,
	}
}

// runUpload uploads n bytes to t over HTTP/1.1 with a known length.
func runUpload(t *target, n int64, pattern []byte) transferRun {
	tr := t.transport(t.streamH2, true)
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	if err := warm(cl, t); err != nil {
		return transferRun{err: err, idleKB: -1, peakKB: -1}
	}
	time.Sleep(100 * time.Millisecond)
	w := watchRSS(t.pid)
	ticks, other := cpuTicks(t.pid), machineTicks()
	req := t.request(http.MethodPost, pathUpload, &patternReader{pattern: pattern, left: n})
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	start := time.Now()
	resp, err := cl.Do(req)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, answer)
		}
	}
	elapsed := time.Since(start)
	idle, peak := w.done()
	if err == nil && !bytes.Contains(answer, []byte(`"bytes":`+strconv.FormatInt(n, 10)+",")) {
		err = fmt.Errorf("upstream received something else: %s", answer)
	}
	return transferRun{
		mbps: float64(n) / 1e6 / elapsed.Seconds(), idleKB: idle, peakKB: peak,
		proxyTicks: ticksSince(t.pid, ticks), otherTicks: machineTicks() - other, err: err,
	}
}

// ticksSince returns the CPU ticks pid used since before, or -1.
func ticksSince(pid int, before int64) int64 {
	if pid == 0 || before < 0 {
		return -1
	}
	if now := cpuTicks(pid); now >= 0 {
		return now - before
	}
	return -1
}

// patternReader yields left bytes of pattern, repeated.
type patternReader struct {
	pattern []byte
	off     int
	left    int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.pattern[r.off:])
		n += c
		r.off = (r.off + c) % len(r.pattern)
	}
	r.left -= int64(n)
	return n, nil
}

// oneShot sends one request to host on a fresh connection (a full TLS
// handshake, no session resumption) and returns how long it took.
func oneShot(t *target, host string) (time.Duration, error) {
	tt := *t
	tt.base = "https://" + host
	tr := tt.transport(false, false)
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	start := time.Now()
	resp, err := cl.Do(tt.request(http.MethodGet, pathJSON, nil))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// probeRun is the outcome of a 1 MiB POST whose body is released slowly.
type probeRun struct {
	host      string
	held      int64 // body bytes the client had sent when the upstream's answer arrived
	delivered int64 // body bytes the upstream received
	intact    bool  // and they were the bytes sent
	err       error
}

// probeBodySize is the size of the grant-probe POST.
const probeBodySize = 1 << 20

// probeChunk is how much body the client releases at a time.
const probeChunk = 4 << 10

// runProbe POSTs 1 MiB to host through t's proxy over HTTP/2, releasing
// the body 4 KiB at a time only while the upstream has not yet answered.
// The upstream answers as soon as it has the request headers, so the body
// bytes sent by then bound what the proxy read before forwarding: a grant
// probe reads up to 64 KiB first, a host without one reads nothing.
func runProbe(t *target, host string) probeRun {
	res := probeRun{host: host}
	tt := *t
	tt.base = "https://" + host
	tr := tt.transport(true, true)
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: time.Minute}

	body := make([]byte, probeBodySize)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz0123456789{}\":,\n"[i*7%41]
	}
	copy(body, `{"grant_type":"client_credentials","data":"`)
	sum := sha256.Sum256(body)

	pr, pw := io.Pipe()
	req := tt.request(http.MethodPost, pathProbe, pr)
	req.ContentLength = probeBodySize
	req.Header.Set("Content-Type", "application/json")

	type answer struct {
		resp *http.Response
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, err := cl.Do(req)
		answers <- answer{resp, err}
	}()

	// The writer releases one chunk per permit; all at once after the
	// answer came.
	var sent atomic.Int64
	permits := make(chan int, 1)
	writeDone := make(chan error, 1)
	go func() {
		var off int
		for n := range permits {
			end := min(len(body), off+n)
			// Counted before the write, so that held is an upper bound.
			sent.Store(int64(end))
			if _, err := pw.Write(body[off:end]); err != nil {
				writeDone <- err
				return
			}
			off = end
		}
		writeDone <- pw.Close()
	}()

	var a answer
	wait := 2 * time.Second
	for got := false; !got; {
		select {
		case a = <-answers:
			got = true
			res.held = sent.Load()
		case <-time.After(wait):
			if sent.Load() >= probeBodySize {
				close(permits)
				pw.CloseWithError(errors.New("no answer"))
				res.err = errors.New("no answer from the upstream after the whole body")
				return res
			}
			permits <- probeChunk
			wait = 50 * time.Millisecond
		}
	}
	if a.err != nil {
		close(permits)
		res.err = a.err
		return res
	}
	defer a.resp.Body.Close()
	permits <- probeBodySize
	close(permits)
	if err := <-writeDone; err != nil {
		res.err = err
		return res
	}
	raw, err := io.ReadAll(io.LimitReader(a.resp.Body, 1<<16))
	if err != nil {
		res.err = err
		return res
	}
	text := string(raw)
	if !strings.Contains(text, "headers-seen") {
		res.err = fmt.Errorf("unexpected answer %q", text)
		return res
	}
	if i := strings.Index(text, "bytes="); i >= 0 {
		fmt.Sscanf(text[i:], "bytes=%d", &res.delivered)
	}
	res.intact = res.delivered == probeBodySize &&
		strings.Contains(text, "sha256="+hex.EncodeToString(sum[:]))
	return res
}
