package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// parseGlobal runs the global option's parser on input, as httpcaddyfile
// does for the `latchkey` block of the global options.
func parseGlobal(input string) (*App, httpcaddyfile.App, error) {
	tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
	if err != nil {
		return nil, httpcaddyfile.App{}, err
	}
	a := new(App)
	if err := a.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
		return nil, httpcaddyfile.App{}, err
	}
	v, err := parseGlobalOption(caddyfile.NewDispenser(tokens), nil)
	if err != nil {
		return a, httpcaddyfile.App{}, err
	}
	out, ok := v.(httpcaddyfile.App)
	if !ok {
		return a, httpcaddyfile.App{}, nil
	}
	return a, out, nil
}

// globalToken quotes s as one Caddyfile token, or reports that it cannot be
// written as one.
func globalToken(s string) (string, bool) {
	if !strings.Contains(s, "`") {
		return "`" + s + "`", true
	}
	if strings.Contains(s, `\"`) || strings.HasSuffix(s, `\`) {
		return "", false
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`, true
}

// renderGlobal writes a back as the global option block.
func renderGlobal(a *App) (string, bool) {
	var b strings.Builder
	ok := true
	line := func(name, value string) {
		q, good := globalToken(value)
		ok = ok && good
		b.WriteString("\t" + name + " " + q + "\n")
	}
	b.WriteString("latchkey {\n")
	if a.DataDir != "" {
		line("data_dir", a.DataDir)
	}
	if a.EncryptionKeyFile != "" {
		line("encryption_key_file", a.EncryptionKeyFile)
	}
	if a.APITokenFile != "" {
		line("api_token_file", a.APITokenFile)
	}
	if a.MaxCooldown != 0 {
		line("max_cooldown", time.Duration(a.MaxCooldown).String())
	}
	b.WriteString("}\n")
	return b.String(), ok
}

// appOptions are the configured fields of an App.
type appOptions struct {
	dataDir, keyFile, tokenFile string
	maxCooldown                 time.Duration
}

func options(a *App) appOptions {
	return appOptions{
		a.DataDir, a.EncryptionKeyFile, a.APITokenFile,
		time.Duration(a.MaxCooldown),
	}
}

// FuzzGlobalOption checks the `latchkey` global option on any input: no
// panic; what it accepts is what the JSON it emits (what `caddy adapt`
// shows and the app loads) says; a cap on cooldowns is positive; and the
// block written back from the result parses to the same app.
func FuzzGlobalOption(f *testing.F) {
	for _, s := range []string{
		"latchkey",
		"latchkey {\n}",
		"latchkey {\n\tdata_dir /var/lib/latchkey\n}",
		"latchkey {\n\tencryption_key_file /run/secrets/key\n\tapi_token_file /run/token\n}",
		"latchkey {\n\tmax_cooldown 1h\n}",
		"latchkey {\n\tmax_cooldown 1d\n}",
		"latchkey {\n\tmax_cooldown 0s\n}",
		"latchkey {\n\tmax_cooldown -5m\n}",
		"latchkey {\n\tdata_dir\n}",
		"latchkey {\n\tdata_dir a b\n}",
		"latchkey {\n\tdata_dir \"/with space\"\n}",
		"latchkey {\n\tdata_dir {$HOME}/lk\n}",
		"latchkey arg {\n}",
		"latchkey {\n\ttelegram_token x\n}",
		"latchkey {\n\tdata_dir `}`\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		a, emitted, err := parseGlobal(input)
		if err != nil {
			return
		}
		if a.MaxCooldown < 0 {
			t.Fatalf("accepted a negative max_cooldown %v", a.MaxCooldown)
		}
		if emitted.Name != ModuleID {
			t.Fatalf("emitted app %q, want %q", emitted.Name, ModuleID)
		}
		var loaded App
		if err := json.Unmarshal(emitted.Value, &loaded); err != nil {
			t.Fatalf("emitted JSON %s does not load: %v", emitted.Value, err)
		}
		if options(&loaded) != options(a) {
			t.Fatalf("emitted JSON %s loads as %+v, parsed %+v", emitted.Value,
				options(&loaded), options(a))
		}

		text, ok := renderGlobal(a)
		if !ok {
			return
		}
		again, _, err := parseGlobal(text)
		if err != nil {
			t.Fatalf("the block written back does not parse: %v\n%s", err, text)
		}
		if options(again) != options(a) {
			t.Fatalf("round trip changed %+v into %+v (input %q, written %q)", options(a),
				options(again), input, text)
		}
	})
}
