package tests

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// assertInjects sends one request to https://api.test/echo with a new
// agent client (so a new connection and a new CONNECT) and checks that the
// upstream saw the real secret.
func assertInjects(t *testing.T, inst *instance, c credential) {
	t.Helper()
	id := newID()
	resp := get(t, agentClient(t, inst, true), "https://api.test/echo", bearer(c.phantom), id)
	if resp.status != http.StatusOK {
		t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
	}
	assertAuthorization(t, id, "Bearer "+c.secret)
	assertNoSecret(t, resp, c.secret)
}

func TestConfigReloadKeepsCredentialsBindingsAndInjection(t *testing.T) {
	inst := newInstance(t, instanceOptions{comment: "before the reload"})
	c := addBoundCredential(t, inst, "reload", "api.test")
	assertInjects(t, inst, c)

	// A harmless change that still changes the JSON, so Caddy really
	// loads a new config rather than skipping an identical one.
	inst.opts.comment = "after the reload"
	if err := inst.writeCaddyfile([]string{"extra.test"}); err != nil {
		t.Fatal(err)
	}
	args := []string{"reload", "--config", inst.configPath, "--adapter", "caddyfile",
		"--address", inst.adminAddress}
	mustSucceed(t, args, inst.exec(t, "", args...))

	status, cfg, err := inst.api(http.MethodGet, "/config/", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /config/: status %d, error %v", status, err)
	}
	if !bytes.Contains(cfg, []byte("extra.test")) {
		t.Fatalf("running config: expected the reloaded override for extra.test, saw %s", cfg)
	}

	if names := credentialNames(t, inst); !slices.Contains(names, c.name) {
		t.Errorf("credentials after reload: expected %s among them, saw %v", c.name, names)
	}
	if bs := bindingsOf(t, inst, c.name); len(bs) != 1 || bs[0].Destination != "api.test" {
		t.Errorf("bindings of %s after reload: expected one to api.test, saw %+v", c.name, bs)
	}
	if got := phantomREST(t, inst, c.name); got != c.phantom {
		t.Errorf("phantom after reload: expected %q, saw %q", c.phantom, got)
	}
	assertInjects(t, inst, c)
}

func TestBindingChangesApplyWithoutReload(t *testing.T) {
	inst := newInstance(t, instanceOptions{})
	c := credential{name: "toggle-" + newID(), secret: newSecret("toggle")}
	inst.mustCLI(t, c.secret+"\n", "cred", "add", c.name)
	inst.mustCLI(t, "", "bind", "add", c.name, "--host", "api.test")
	c.phantom = phantomShape(c.name).FindString(inst.mustCLI(t, "", "phantom", c.name))
	if c.phantom == "" {
		t.Fatalf("latchkey phantom %s: expected a phantom in the output, saw none", c.name)
	}

	// A client whose intercepted connection stays open across the change.
	kept := agentClient(t, inst, true)
	id := newID()
	get(t, kept, "https://api.test/echo", bearer(c.phantom), id)
	assertAuthorization(t, id, "Bearer "+c.secret)

	bs := bindingsOf(t, inst, c.name)
	if len(bs) != 1 {
		t.Fatalf("bindings of %s: expected 1, saw %+v", c.name, bs)
	}
	inst.mustCLI(t, "", "bind", "remove", bs[0].ID)
	if left := bindingsOf(t, inst, c.name); len(left) != 0 {
		t.Fatalf("bindings of %s after bind remove: expected none, saw %+v", c.name, left)
	}

	t.Run("new connection is tunnelled", func(t *testing.T) {
		resp, err := agentClient(t, inst, true).Get("https://api.test/echo")
		if err == nil {
			resp.Body.Close()
		}
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("client trusting only Caddy's root: expected a certificate "+
				"verification error (not intercepted), saw %v", err)
		}

		id := newID()
		direct := clientTrusting(t, inst.proxyURL, testPKI.caPool, true)
		got := get(t, direct, "https://api.test/echo", bearer(c.phantom), id)
		if got.tls == nil || len(got.tls.PeerCertificates) == 0 ||
			got.tls.PeerCertificates[0].Issuer.CommonName != testCAName {
			t.Errorf("certificate: expected the upstream's own, issued by %q", testCAName)
		}
		assertAuthorization(t, id, "Bearer "+c.phantom)
	})

	t.Run("open intercepted connection no longer injects", func(t *testing.T) {
		id := newID()
		get(t, kept, "https://api.test/echo", bearer(c.phantom), id)
		rec := fakeUpstream.onlyRequest(t, id)
		if got := rec.Header.Get("Authorization"); strings.Contains(got, c.secret) {
			t.Errorf("upstream Authorization after unbinding: expected no real secret, "+
				"saw %q", got)
		}
	})

	inst.mustCLI(t, "", "bind", "add", c.name, "--host", "api.test")
	t.Run("bound again injects", func(t *testing.T) {
		assertInjects(t, inst, c)
	})
}

func TestProxyAuthenticationIsRequired(t *testing.T) {
	inst := newInstance(t, instanceOptions{handlerLines: []string{"basic_auth agent s3cret"}})
	basic := func(userpass string) http.Header {
		return http.Header{"Proxy-Authorization": {
			"Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))}}
	}

	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no credentials", nil, http.StatusProxyAuthRequired},
		{"wrong password", basic("agent:wrong"), http.StatusProxyAuthRequired},
		{"wrong user", basic("root:s3cret"), http.StatusProxyAuthRequired},
		{"right credentials", basic("agent:s3cret"), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rawConnect(t, inst.proxyURL, "unbound.test:443", tc.header)
			if res.status != tc.want {
				t.Fatalf("CONNECT unbound.test:443: expected status %d, saw %d",
					tc.want, res.status)
			}
			if tc.want == http.StatusProxyAuthRequired &&
				!strings.HasPrefix(res.header.Get("Proxy-Authenticate"), "Basic") {
				t.Errorf("Proxy-Authenticate: expected a Basic challenge, saw %q",
					res.header.Get("Proxy-Authenticate"))
			}
		})
	}

	t.Run("intercepted request with credentials", func(t *testing.T) {
		c := addBoundCredential(t, inst, "authed", "api.test")
		proxy := *inst.proxyURL
		proxy.User = url.UserPassword("agent", "s3cret")
		id := newID()
		resp := get(t, clientTrusting(t, &proxy, inst.caddyRoot, true), "https://api.test/echo",
			bearer(c.phantom), id)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		assertAuthorization(t, id, "Bearer "+c.secret)
		if got := resp.header.Get("Proxy-Authorization"); got != "" {
			t.Errorf("response: expected no Proxy-Authorization, saw %q", got)
		}
	})
}

func TestStoreOnDiskHoldsNoPlaintextSecretAndSurvivesRestart(t *testing.T) {
	inst := newInstance(t, instanceOptions{})
	c := addBoundCredential(t, inst, "disk", "api.test")
	assertInjects(t, inst, c)

	if err := inst.stop(); err != nil {
		t.Fatalf("stopping latchkey: %v", err)
	}
	// Everything the instance wrote: the data dir and, beyond what was
	// asked, Caddy's storage and the log (nothing secret is logged).
	files := 0
	err := filepath.WalkDir(inst.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(raw, []byte(c.secret)) {
			t.Errorf("%s: expected no plaintext secret, found it", path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", inst.dir, err)
	}
	if dbFiles, _ := os.ReadDir(filepath.Join(inst.dataDir, "db")); len(dbFiles) == 0 {
		t.Fatalf("%s/db: expected the database's files, saw none (%d files in all)",
			inst.dataDir, files)
	}

	inst.restart(t)
	if names := credentialNames(t, inst); !slices.Contains(names, c.name) {
		t.Errorf("credentials after restart: expected %s among them, saw %v", c.name, names)
	}
	if got := phantomREST(t, inst, c.name); got != c.phantom {
		t.Errorf("phantom after restart: expected %q, saw %q", c.phantom, got)
	}
	if bs := bindingsOf(t, inst, c.name); len(bs) != 1 {
		t.Errorf("bindings of %s after restart: expected 1, saw %+v", c.name, bs)
	}
	assertInjects(t, inst, c)
}

func TestAdminTokenKeyAndSocketAreOwnerOnly(t *testing.T) {
	inst := sharedInstance(t)
	for _, tc := range []struct {
		path   string
		socket bool
	}{
		{filepath.Join(inst.dataDir, "api_token"), false},
		{filepath.Join(inst.dataDir, "encryption.key"), false},
		{inst.sock, true},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: expected mode 0600, saw %#o", tc.path, got)
			}
			if isSocket := fi.Mode()&fs.ModeSocket != 0; isSocket != tc.socket {
				t.Errorf("%s: expected socket=%v, saw mode %v", tc.path, tc.socket, fi.Mode())
			}
		})
	}
}
