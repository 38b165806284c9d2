package main

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Names the run configures.
const (
	staticCred = "bench_static"
	memberA    = "bench_a"
	memberB    = "bench_b"
	poolName   = "bench_pool"

	hostDirect = "api.bench"    // A: the upstream itself
	hostTunnel = "tunnel.bench" // B: no binding, no token URL
	hostRP     = "rp.bench"     // C: Caddy's reverse_proxy site
	hostStatic = "static.bench" // D and F: bound to the static credential
	hostPool   = "pool.bench"   // E: bound to the pool
	hostToken  = "auth.bench"   // the pool members' token host
	mintDomain = "mint.bench"   // *.mint.bench: new hosts for certificate minting
	tokenURL   = "https://" + hostToken + "/oauth/token"
)

// world is everything the run started.
type world struct {
	dir      string
	caPool   *x509.CertPool
	upstream *upstreamProc
	lk       *instance // B, D, E: latchkey as a forward proxy
	caddy    *instance // C: Caddy's reverse_proxy
	rp       *instance // F: latchkey before reverse_proxy
	targets  []*target
	refs     []*target // references measured only for streams: A over HTTP/2
	byKey    map[string]*target
	mint     []string // hosts for the certificate workload
	poolNA   string   // why E cannot run, "" when it can

	secret, accessA, accessB string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// setup starts the upstream and the three instances, configures
// credentials, bindings and the pool over REST, and describes the targets.
func setup(bin, dir string, mintHosts int) (*world, error) {
	w := &world{dir: dir, byKey: map[string]*target{}}
	w.secret = "sk-bench-" + randHex(20)
	w.accessA = "at-bench-a-" + randHex(24)
	w.accessB = "at-bench-b-" + randHex(24)
	for i := range mintHosts {
		w.mint = append(w.mint, fmt.Sprintf("h%02d.%s", i, mintDomain))
	}

	if err := writeTestPKI(dir); err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, err
	}
	w.caPool = x509.NewCertPool()
	w.caPool.AppendCertsFromPEM(pem)
	caPath := filepath.Join(dir, caFile)

	if w.upstream, err = startUpstream(dir, []string{w.secret, w.accessA, w.accessB}); err != nil {
		return nil, err
	}

	// latchkey as a forward proxy: B, D, E and the certificate and probe
	// workloads.
	if w.lk, err = newInstance(dir, "lk"); err != nil {
		return w, err
	}
	var cf strings.Builder
	cf.WriteString(w.lk.globalOptions(true))
	fmt.Fprintf(&cf, "http://:%d {\n\tbind 127.0.0.1\n\troute {\n\t\tlatchkey {\n", w.lk.port)
	for _, h := range append([]string{hostTunnel, hostStatic, hostPool, hostToken}, w.mint...) {
		fmt.Fprintf(&cf, "\t\t\tupstream_override %s %s\n", h, w.upstream.addr)
	}
	fmt.Fprintf(&cf, "\t\t\tupstream_root_ca %s\n\t\t}\n\t}\n}\n", caPath)
	if err := w.lk.start(bin, cf.String(), true); err != nil {
		return w, err
	}

	// Caddy's own reverse_proxy with TLS on both sides: C.
	reverseProxy := fmt.Sprintf("reverse_proxy https://%s {\n\t\ttransport http {\n"+
		"\t\t\ttls_trust_pool file %s\n\t\t\ttls_server_name %s\n\t\t}\n\t}\n",
		w.upstream.addr, caPath, hostDirect)
	if w.caddy, err = newInstance(dir, "caddy"); err != nil {
		return w, err
	}
	cf.Reset()
	cf.WriteString(w.caddy.globalOptions(false))
	fmt.Fprintf(&cf, "https://%s:%d {\n\tbind 127.0.0.1\n\ttls internal\n\t%s}\n", hostRP,
		w.caddy.port, reverseProxy)
	if err := w.caddy.start(bin, cf.String(), false); err != nil {
		return w, err
	}

	// latchkey as middleware before reverse_proxy: F.
	if w.rp, err = newInstance(dir, "rp"); err != nil {
		return w, err
	}
	cf.Reset()
	cf.WriteString(w.rp.globalOptions(true))
	fmt.Fprintf(&cf, "https://%s:%d {\n\tbind 127.0.0.1\n\ttls internal\n\troute {\n"+
		"\t\tlatchkey {\n\t\t\tdestination %s\n\t\t}\n\t\t%s\t}\n}\n", hostStatic, w.rp.port,
		hostStatic, reverseProxy)
	if err := w.rp.start(bin, cf.String(), true); err != nil {
		return w, err
	}

	// Credentials and bindings, over REST as an operator would.
	staticPhantom := map[string]string{}
	for _, inst := range []*instance{w.lk, w.rp} {
		if err := inst.api(http.MethodPost, "/api/credentials", map[string]string{
			"name": staticCred, "type": "static", "value": w.secret,
		}, http.StatusCreated, nil); err != nil {
			return w, err
		}
		if err := inst.api(http.MethodPost, "/api/bindings", map[string]string{
			"credential": staticCred, "destination": hostStatic,
		}, http.StatusCreated, nil); err != nil {
			return w, err
		}
		var ph struct {
			Phantom string `json:"phantom"`
		}
		if err := inst.api(http.MethodGet, "/api/phantom/"+staticCred, nil, http.StatusOK, &ph); err != nil {
			return w, err
		}
		staticPhantom[inst.name] = ph.Phantom
	}
	if err := w.lk.api(http.MethodPost, "/api/bindings", map[string]string{
		"credential": staticCred, "destination": "*." + mintDomain,
	}, http.StatusCreated, nil); err != nil {
		return w, err
	}
	poolPhantom, err := w.setupPool()
	if err != nil {
		w.poolNA = err.Error()
	}

	proxyURL := &url.URL{Scheme: "http", Host: w.lk.addr()}
	w.targets = []*target{
		{
			key: "A", label: "direct to the upstream", base: "https://" + hostDirect,
			dial: w.upstream.addr, roots: w.caPool, auth: "Bearer " + w.secret,
		},
		{
			key: "B", label: "latchkey CONNECT tunnel (no interception)", base: "https://" + hostTunnel,
			proxy: proxyURL, roots: w.caPool, auth: "Bearer " + w.secret, pid: w.lk.pid(),
		},
		{
			key: "C", label: "Caddy reverse_proxy, TLS both sides",
			base: fmt.Sprintf("https://%s:%d", hostRP, w.caddy.port), dial: w.caddy.addr(),
			roots: w.caddy.root, auth: "Bearer " + w.secret, pid: w.caddy.pid(),
		},
		{
			key: "D", label: "latchkey intercept + static credential", base: "https://" + hostStatic,
			proxy: proxyURL, roots: w.lk.root, auth: "Bearer " + staticPhantom["lk"], pid: w.lk.pid(),
		},
		{
			key: "E", label: "latchkey intercept + 2-member OAuth pool", base: "https://" + hostPool,
			proxy: proxyURL, roots: w.lk.root, auth: "Bearer " + poolPhantom, pid: w.lk.pid(),
			na: w.poolNA,
		},
		{
			key: "F", label: "latchkey middleware before reverse_proxy",
			base: fmt.Sprintf("https://%s:%d", hostStatic, w.rp.port), dial: w.rp.addr(),
			roots: w.rp.root, auth: "Bearer " + staticPhantom["rp"], pid: w.rp.pid(),
		},
	}
	for _, t := range w.targets {
		w.byKey[t.key] = t
	}
	// The proxies speak HTTP/2 to the upstream, whose streams cost more
	// over HTTP/2 than over HTTP/1.1: A over HTTP/2 shows how much.
	a2 := *w.byKey["A"]
	a2.key, a2.label, a2.streamH2 = "A/h2", "direct to the upstream over HTTP/2 (streams only)", true
	w.refs = []*target{&a2}
	return w, nil
}

// setupPool creates two OAuth credentials, a pool of them and its binding,
// and returns the pool's access phantom. It fails when the instance has no
// pool routes yet.
func (w *world) setupPool() (string, error) {
	if status, _, err := w.lk.call(http.MethodGet, "/api/pools", nil); err != nil ||
		status != http.StatusOK {
		return "", fmt.Errorf("the admin API has no /api/pools (status %d, %v)", status, err)
	}
	for name, access := range map[string]string{memberA: w.accessA, memberB: w.accessB} {
		if err := w.lk.api(http.MethodPost, "/api/credentials", map[string]string{
			"name": name, "type": "oauth", "access_token": access,
			"refresh_token": "rt-" + strings.TrimPrefix(access, "at-"), "token_url": tokenURL,
		},
			http.StatusCreated, nil); err != nil {
			return "", err
		}
	}
	if err := w.lk.api(http.MethodPost, "/api/pools", map[string]any{
		"name": poolName, "members": []string{memberA, memberB},
	}, http.StatusCreated, nil); err != nil {
		return "", err
	}
	if err := w.lk.api(http.MethodPost, "/api/bindings", map[string]string{
		"credential": poolName, "destination": hostPool,
	}, http.StatusCreated, nil); err != nil {
		return "", err
	}
	var ph struct {
		AccessToken string `json:"access_token"`
	}
	if err := w.lk.api(http.MethodGet, "/api/phantom/"+poolName, nil, http.StatusOK, &ph); err != nil {
		return "", err
	}
	if ph.AccessToken == "" {
		return "", fmt.Errorf("GET /api/phantom/%s gave no access_token", poolName)
	}
	return ph.AccessToken, nil
}

// close stops everything the run started.
func (w *world) close() {
	for _, inst := range []*instance{w.lk, w.caddy, w.rp} {
		if inst != nil {
			inst.stop()
		}
	}
	if w.upstream != nil {
		w.upstream.stop()
	}
}
