package proxy

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/latchkeyproxy/latchkey/failover"
)

// parseHandlerCaddyfile runs the directive's unmarshaler on input.
func parseHandlerCaddyfile(input string) (*Handler, error) {
	tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
	if err != nil {
		return nil, err
	}
	h := new(Handler)
	err = h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
	return h, err
}

// caddyfileToken quotes s as one Caddyfile token, or reports that it cannot
// be written as one (a value holding both a backtick and a backslash before
// a double quote).
func caddyfileToken(s string) (string, bool) {
	if !strings.Contains(s, "`") {
		return "`" + s + "`", true
	}
	if strings.Contains(s, `\"`) || strings.HasSuffix(s, `\`) {
		return "", false
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`, true
}

// renderHandlerCaddyfile writes h back as a directive block, the inverse of
// UnmarshalCaddyfile.
func renderHandlerCaddyfile(h *Handler) (string, bool) {
	var b strings.Builder
	ok := true
	line := func(words ...string) {
		b.WriteString("\t")
		for i, w := range words {
			if i > 0 {
				q, good := caddyfileToken(w)
				ok = ok && good
				w = " " + q
			}
			b.WriteString(w)
		}
		b.WriteString("\n")
	}
	b.WriteString("latchkey {\n")
	if h.CA != "" {
		line("ca", h.CA)
	}
	if h.Passthrough {
		line("passthrough")
	}
	if h.Destination != "" {
		line("destination", h.Destination)
	}
	if h.AllowPrivateUpstreams {
		line("allow_private_upstreams")
	}
	for _, host := range slices.Sorted(maps.Keys(h.UpstreamOverrides)) {
		line("upstream_override", host, h.UpstreamOverrides[host])
	}
	for _, f := range h.UpstreamRootCAs {
		line("upstream_root_ca", f)
	}
	if h.BasicAuth != nil {
		line("basic_auth", h.BasicAuth.Username, h.BasicAuth.Password)
	}
	if h.DialTimeout != 0 {
		line("dial_timeout", time.Duration(h.DialTimeout).String())
	}
	if h.RetryBodyLimit != 0 {
		line("retry_body_limit", fmt.Sprintf("%dB", h.RetryBodyLimit))
	}
	b.WriteString("}\n")
	return b.String(), ok
}

// FuzzUnmarshalCaddyfile checks the directive's unmarshaler on any input:
// it never panics, what it accepts is within the documented bounds, and
// what it accepts survives a round trip through JSON (what `caddy adapt`
// shows) and through the Caddyfile written back from it.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, s := range []string{
		"latchkey",
		"latchkey {\n}",
		"latchkey {\n\tca local\n\tpassthrough\n}",
		"latchkey {\n\tdestination api.openai.com:443\n\tallow_private_upstreams\n}",
		"latchkey {\n\tupstream_override api.test 127.0.0.1:8443\n" +
			"\tupstream_override auth.test 127.0.0.1:9443\n\tupstream_root_ca /tmp/ca.pem\n}",
		"latchkey {\n\tbasic_auth agent {env.LATCHKEY_PROXY_PASSWORD}\n}",
		"latchkey {\n\tdial_timeout 1.5s\n\tretry_body_limit 4MiB\n}",
		"latchkey {\n\tretry_body_limit 0\n}",
		"latchkey {\n\tretry_body_limit 2GiB\n}",
		"latchkey {\n\tdial_timeout -1s\n}",
		"latchkey {\n\tbasic_auth \"a b\" `p\"w`\n}",
		"latchkey {\n\tunknown\n}",
		"latchkey extra {\n}",
		"latchkey {\n\tca\n}",
		"latchkey {\n\tupstream_override a\n}",
		"latchkey {\n\tpassthrough yes\n}",
		"latchkey {\n\tca {\n\t\tnested\n\t}\n}",
		"latchkey {\n\tdestination \"}\"\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		h, err := parseHandlerCaddyfile(input)
		if err != nil {
			return
		}
		if h.DialTimeout < 0 {
			t.Fatalf("accepted a negative dial_timeout %v", h.DialTimeout)
		}
		if h.RetryBodyLimit < 0 || h.RetryBodyLimit > 1<<30 {
			t.Fatalf("accepted retry_body_limit %d outside 1 B to 1 GiB", h.RetryBodyLimit)
		}
		if h.BasicAuth != nil && h.BasicAuth.want != [32]byte{} {
			t.Fatal("parsing provisioned the credentials")
		}

		// JSON round trip.
		raw, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("marshalling %+v: %v", h, err)
		}
		var back Handler
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("unmarshalling %s: %v", raw, err)
		}
		if raw2, _ := json.Marshal(&back); string(raw2) != string(raw) {
			t.Fatalf("JSON round trip changed %s into %s", raw, raw2)
		}

		// Caddyfile round trip.
		text, ok := renderHandlerCaddyfile(h)
		if !ok {
			return
		}
		again, err := parseHandlerCaddyfile(text)
		if err != nil {
			t.Fatalf("the Caddyfile written back does not parse: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(normalized(again), normalized(h)) {
			t.Fatalf("Caddyfile round trip changed\n%+v\ninto\n%+v\n(input %q, written %q)",
				h, again, input, text)
		}
	})
}

// normalized is h with empty collections as nil, for comparison.
func normalized(h *Handler) Handler {
	c := *h
	if len(c.UpstreamOverrides) == 0 {
		c.UpstreamOverrides = nil
	}
	if len(c.UpstreamRootCAs) == 0 {
		c.UpstreamRootCAs = nil
	}
	return c
}

// FuzzInBandVerdict checks the classifier of WebSocket in-band error
// messages: a verdict only for an error frame of a failover status, never
// for anything else (a false verdict would replay a turn on another
// account), with a cooldown within the operator's cap, and the same verdict
// the HTTP classifier gives the same status, headers and body.
func FuzzInBandVerdict(f *testing.F) {
	for _, s := range []string{
		`{"type":"error","status_code":429,"error":{"type":"usage_limit_reached",` +
			`"resets_in_seconds":600},"headers":{}}`,
		`{"type":"error","status":429,"headers":{"retry-after":"7"}}`,
		`{"type":"error","status_code":403,"error":{"code":"insufficient_quota"}}`,
		`{"type":"error","status_code":401,"error":{"message":"token expired"}}`,
		`{"type":"error","status_code":500,"error":{"message":"overloaded"}}`,
		`{"type":"error","status_code":400,"error":"invalid_grant"}`,
		`{"type":"response.completed","error":null}`,
		`{"type":"error"}`,
		`{"type":"error","status_code":"429"}`,
		`{"type":"error","status_code":429,"headers":{"Retry-After":"1e308"}}`,
		`[{"type":"error","status_code":429}]`,
		`{"type":"error","status_code":429,"type":"message","error":1}`,
		`not json "error"`,
		``,
	} {
		f.Add([]byte(s), int64(time.Hour))
		f.Add([]byte(s), int64(0))
	}
	f.Add([]byte(`{"type":"error","status_code":429,"error":"`+strings.Repeat("x", failover.MaxBody)+
		`"}`), int64(time.Minute))
	f.Fuzz(func(t *testing.T, data []byte, maxCooldown int64) {
		limit := time.Duration(maxCooldown)
		v, ok := inBandVerdict(data, limit)
		if !ok {
			if v != (failover.Verdict{}) {
				t.Fatalf("no verdict but a non-zero one returned: %+v", v)
			}
			return
		}
		if len(data) > failover.MaxBody {
			t.Fatalf("verdict for a %d-byte message, over the %d-byte bound", len(data),
				failover.MaxBody)
		}
		if v.Kind != failover.RateLimited && v.Kind != failover.AuthFailure {
			t.Fatalf("ok with kind %v", v.Kind)
		}
		if v.Cooldown <= 0 || (limit > 0 && v.Cooldown > limit) {
			t.Fatalf("cooldown %v outside (0, %v]", v.Cooldown, limit)
		}

		// Only an error frame of a failover status gets a verdict.
		var frame struct {
			Type       string            `json:"type"`
			StatusCode int               `json:"status_code"`
			Status     int               `json:"status"`
			Headers    map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(data, &frame); err != nil || frame.Type != "error" {
			t.Fatalf("verdict %+v for a message that is not an error frame: %q", v, data)
		}
		status := frame.StatusCode
		if status == 0 {
			status = frame.Status
		}
		switch status {
		case http.StatusTooManyRequests, http.StatusForbidden, http.StatusUnauthorized:
		default:
			t.Fatalf("verdict %+v for status %d: %q", v, status, data)
		}

		// The same answer over HTTP is classified the same way.
		header := http.Header{}
		for k, val := range frame.Headers {
			header.Set(k, val)
		}
		now := time.Now()
		hv := failover.Classify(failover.Response{Status: status, Header: header, Body: data},
			now, limit)
		if hv.Kind != v.Kind || hv.Tag != v.Tag {
			t.Fatalf("in-band verdict %v/%s, HTTP verdict %v/%s for %q", v.Kind, v.Tag, hv.Kind,
				hv.Tag, data)
		}
	})
}
