package latchkey_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/latchkeyproxy/latchkey"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestAdapt")

// adapt turns a Caddyfile into indented JSON the way `caddy adapt` does.
func adapt(t *testing.T, caddyfile []byte) (string, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(caddyfile,
		map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return buf.String(), nil
}

// TestAdapt checks `caddy adapt` output for every testdata/adapt/*.txt,
// each a Caddyfile, a line of dashes and the expected JSON, and for
// Caddyfile.example against testdata/adapt/example.json. Run with -update
// to rewrite the expected JSON after an intended change.
func TestAdapt(t *testing.T) {
	files, _ := filepath.Glob("testdata/adapt/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, want, ok := strings.Cut(string(raw), "\n----------\n")
			if !ok {
				t.Fatalf("%s has no ---------- separator", f)
			}
			got, err := adapt(t, []byte(caddyfile))
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			if *update {
				os.WriteFile(f, []byte(caddyfile+"\n----------\n"+got+"\n"), 0o644)
				return
			}
			if strings.TrimSpace(got) != strings.TrimSpace(want) {
				t.Errorf("adapted JSON differs.\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}

	t.Run("Caddyfile.example", func(t *testing.T) {
		// The example's paths come from LATCHKEY_DATA_DIR (which `make`
		// exports); the golden JSON holds its default.
		t.Setenv("LATCHKEY_DATA_DIR", "")
		os.Unsetenv("LATCHKEY_DATA_DIR")
		raw, err := os.ReadFile("Caddyfile.example")
		if err != nil {
			t.Fatal(err)
		}
		got, err := adapt(t, raw)
		if err != nil {
			t.Fatalf("adapting Caddyfile.example: %v", err)
		}
		golden := "testdata/adapt/example.json"
		if *update {
			os.WriteFile(golden, []byte(got+"\n"), 0o644)
			return
		}
		want, _ := os.ReadFile(golden)
		if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Errorf("Caddyfile.example adapts to:\n%s\nwant:\n%s", got, want)
		}
	})
}

// TestAdaptRejectsBadConfig checks that invalid options fail with a message
// that says what was expected, on the right line.
func TestAdaptRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name, caddyfile, want string
	}{
		{"unknown global option", "{\n\tlatchkey {\n\t\tdatadir /x\n\t}\n}\n",
			`unknown latchkey option "datadir"`},
		{"global option without value", "{\n\tlatchkey {\n\t\tdata_dir\n\t}\n}\n",
			"Caddyfile:3"},
		{"bad max_cooldown", "{\n\tlatchkey {\n\t\tmax_cooldown soon\n\t}\n}\n",
			`max_cooldown "soon" is not a positive duration`},
		{"unknown subdirective", ":8080 {\n\tlatchkey {\n\t\tpassthru\n\t}\n}\n",
			`unknown latchkey subdirective "passthru"`},
		{"override without address", ":8080 {\n\tlatchkey {\n\t\tupstream_override a.test\n\t}\n}\n",
			"upstream_override expects <host> <host:port>"},
		{"basic_auth without password", ":8080 {\n\tlatchkey {\n\t\tbasic_auth u\n\t}\n}\n",
			"basic_auth expects <user> <password>"},
		{"bad dial_timeout", ":8080 {\n\tlatchkey {\n\t\tdial_timeout -1s\n\t}\n}\n",
			`dial_timeout "-1s" is not a positive duration`},
		{"bad retry_body_limit", ":8080 {\n\tlatchkey {\n\t\tretry_body_limit lots\n\t}\n}\n",
			`retry_body_limit "lots" is not a size`},
		{"argument on the directive", ":8080 {\n\tlatchkey extra\n}\n", "Caddyfile:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(t, []byte(tt.caddyfile))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("adapt error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
