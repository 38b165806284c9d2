package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestResolveDataDir(t *testing.T) {
	cases := []struct {
		name string
		flag string
		env  string
		want string
	}{
		{"flag wins over env", "/srv/flag", "/srv/env", "/srv/flag"},
		{"env without flag", "", "/srv/env", "/srv/env"},
		{"default is latchkey under caddy's data dir", "", "",
			filepath.Join(caddy.AppDataDir(), "latchkey")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envDataDir, tc.env)
			got, err := (&options{dataDir: tc.flag}).resolveDataDir()
			if err != nil || got != tc.want {
				t.Fatalf("data dir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	t.Run("relative dir is made absolute", func(t *testing.T) {
		got, err := (&options{dataDir: "rel"}).resolveDataDir()
		if err != nil || !filepath.IsAbs(got) || filepath.Base(got) != "rel" {
			t.Fatalf("data dir = %q, %v; want an absolute path ending in rel", got, err)
		}
	})
}

func TestResolveTokenFile(t *testing.T) {
	if got := (&options{tokenFile: "/x/tok"}).resolveTokenFile("/data"); got != "/x/tok" {
		t.Errorf("with --token-file: %q", got)
	}
	if got := (&options{}).resolveTokenFile("/data"); got != "/data/api_token" {
		t.Errorf("default: %q, want /data/api_token", got)
	}
}

func TestResolveAddress(t *testing.T) {
	withSocket := shortTempDir(t)
	ln, err := net.Listen("unix", filepath.Join(withSocket, "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })

	withFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(withFile, "admin.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := filepath.Join(t.TempDir(), "caddy.json")
	if err := os.WriteFile(cfg, []byte(`{"admin":{"listen":"unix//run/lk/admin.sock|0600"}}`),
		0o600); err != nil {
		t.Fatal(err)
	}
	cfgNoAdmin := filepath.Join(t.TempDir(), "bare.json")
	if err := os.WriteFile(cfgNoAdmin, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		opts    options
		dataDir string
		want    string
		wantErr string
	}{
		{name: "flag wins", opts: options{address: "localhost:2999", configFile: cfg},
			dataDir: withSocket, want: "localhost:2999"},
		{name: "config file", opts: options{configFile: cfg}, dataDir: withSocket,
			want: "unix//run/lk/admin.sock|0600"},
		{name: "config file without admin falls back to caddy's default",
			opts: options{configFile: cfgNoAdmin}, dataDir: withSocket,
			want: caddy.DefaultAdminListen},
		{name: "missing config file", opts: options{configFile: "/nonexistent.json"},
			wantErr: "finding the admin address"},
		{name: "adapter needs config", opts: options{adapter: "caddyfile"},
			wantErr: "--adapter needs --config"},
		{name: "socket in the data dir", dataDir: withSocket,
			want: "unix/" + filepath.Join(withSocket, "admin.sock")},
		{name: "a plain file is no socket", dataDir: withFile, want: caddy.DefaultAdminListen},
		{name: "caddy's default", dataDir: t.TempDir(), want: caddy.DefaultAdminListen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opts.resolveAddress(tc.dataDir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("address = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(good, []byte("  tok-123\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)

	if got, err := readToken(good); err != nil || got != "tok-123" {
		t.Errorf("readToken = %q, %v; want tok-123", got, err)
	}
	for _, path := range []string{empty, filepath.Join(dir, "missing")} {
		if _, err := readToken(path); err == nil {
			t.Errorf("readToken(%s) succeeded, want an error", path)
		}
	}
}

// TestDefaultsFindTheDataDir checks the whole chain: with only
// LATCHKEY_DATA_DIR set, the CLI finds the socket and the token there.
func TestDefaultsFindTheDataDir(t *testing.T) {
	admin := newFakeAdmin(t, map[string]answer{"GET /api/credentials": {200, "[]"}})
	dataDir := filepath.Dir(strings.TrimPrefix(admin.addr, "unix/"))
	tokenFile := filepath.Join(dataDir, "api_token")
	if err := os.WriteFile(tokenFile, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envDataDir, dataDir)

	out, errOut, err := run(t, "", "cred", "list")
	if err != nil || out != "no credentials\n" {
		t.Fatalf("cred list = %q, %q, %v; want no credentials", out, errOut, err)
	}
}

// shortTempDir returns a temporary directory with a path short enough for
// a unix socket.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "lkcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
