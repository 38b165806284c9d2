package tests

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// protocols are the two ways an agent talks inside an intercepted tunnel.
var protocols = []struct {
	name string
	h2   bool
	want int
}{
	{"HTTP/1.1", false, 1},
	{"HTTP/2", true, 2},
}

// addBoundCredential adds a credential through REST and binds it to host
// with the default Authorization: Bearer injection.
func addBoundCredential(t *testing.T, inst *instance, prefix, host string) credential {
	t.Helper()
	c := addCredentialREST(t, inst, prefix)
	bindREST(t, inst, c.name, host, "", "")
	return c
}

func TestStaticCredentialFromCLIIsInjectedOverHTTP1AndHTTP2(t *testing.T) {
	inst := sharedInstance(t)
	name := "openai-" + newID()
	secret := newSecret("openai")

	inst.mustCLI(t, secret+"\n", "cred", "add", name)
	inst.mustCLI(t, "", "bind", "add", name, "--host", "api.test")
	out := inst.mustCLI(t, "", "phantom", name)
	phantom := phantomShape(name).FindString(out)
	if phantom == "" {
		t.Fatalf("latchkey phantom %s: expected a phantom like lk-%s-<16 base32> in the "+
			"output, saw %q", name, name, out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("latchkey phantom %s: expected no real secret in the output, saw %q",
			name, out)
	}
	if rest := phantomREST(t, inst, name); rest != phantom {
		t.Errorf("phantom: CLI printed %q, REST answered %q; expected the same", phantom, rest)
	}

	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			client := agentClient(t, inst, p.h2)
			id := newID()
			resp := get(t, client, "https://api.test/echo", bearer(phantom), id)

			if resp.status != http.StatusOK {
				t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
			}
			if resp.proto != p.want {
				t.Errorf("protocol inside the tunnel: expected HTTP/%d, saw HTTP/%d",
					p.want, resp.proto)
			}
			assertAuthorization(t, id, "Bearer "+secret)
			assertNoSecret(t, resp, secret)

			// The echo shows the secret the upstream received; the
			// agent must get it back as the phantom.
			echo := decodeEcho(t, resp.body)
			if got := echo.Header.Get("Authorization"); got != "Bearer "+phantom {
				t.Errorf("echoed Authorization: expected %q, saw %q", "Bearer "+phantom, got)
			}
		})
	}
}

func TestPhantomInCustomHeaderQueryAndBodyIsReplaced(t *testing.T) {
	inst := sharedInstance(t)
	c := addCredentialREST(t, inst, "gemini")
	b := bindREST(t, inst, c.name, "api.test", "x-api-key", "{value}")
	if b.Header == "" || !strings.EqualFold(b.Header, "x-api-key") || b.Template != "{value}" {
		t.Errorf("binding: expected header x-api-key and template {value}, saw %q and %q",
			b.Header, b.Template)
	}
	client := agentClient(t, inst, true)

	t.Run("header and query", func(t *testing.T) {
		id := newID()
		resp := get(t, client, "https://api.test/echo?key="+c.phantom+"&other=1",
			http.Header{"X-Api-Key": {c.phantom}}, id)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		rec := fakeUpstream.onlyRequest(t, id)
		if got := rec.Header.Get("X-Api-Key"); got != c.secret {
			t.Errorf("upstream x-api-key: expected the real secret %q, saw %q", c.secret, got)
		}
		q, err := url.ParseQuery(rec.RawQuery)
		if err != nil {
			t.Fatalf("upstream query %q: %v", rec.RawQuery, err)
		}
		if got := q.Get("key"); got != c.secret {
			t.Errorf("upstream ?key=: expected the real secret %q, saw %q", c.secret, got)
		}
		if got := q.Get("other"); got != "1" {
			t.Errorf("upstream ?other=: expected 1, saw %q", got)
		}
		assertNoSecret(t, resp, c.secret)
	})

	t.Run("body", func(t *testing.T) {
		id := newID()
		body := `{"model":"m","api_key":"` + c.phantom + `"}`
		req, err := http.NewRequest(http.MethodPost, "https://api.test/echo",
			strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", c.phantom)
		resp := send(t, client, req, id)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		rec := fakeUpstream.onlyRequest(t, id)
		want := `{"model":"m","api_key":"` + c.secret + `"}`
		if rec.Body != want {
			t.Errorf("upstream body: expected %q, saw %q", want, rec.Body)
		}
		assertNoSecret(t, resp, c.secret)
	})
}

func TestSecretEchoedByUpstreamReachesAgentAsPhantom(t *testing.T) {
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "leaky", "api.test")

	cases := []struct {
		name string
		pad  int
	}{
		{"small body", 0},
		// Larger than any in-memory limit, so the body is rewritten as a
		// stream.
		{"streamed body", 300 << 10},
	}
	for _, p := range protocols {
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				client := agentClient(t, inst, p.h2)
				id := newID()
				resp := get(t, client, "https://api.test/leak?pad="+strconv.Itoa(tc.pad),
					bearer(c.phantom), id)
				if resp.status != http.StatusOK {
					t.Fatalf("status: expected 200, saw %d", resp.status)
				}
				// Without this the test would prove nothing.
				assertAuthorization(t, id, "Bearer "+c.secret)

				assertNoSecret(t, resp, c.secret)
				if got := resp.header.Get("X-Debug-Auth"); got != "Bearer "+c.phantom {
					t.Errorf("X-Debug-Auth: expected %q, saw %q", "Bearer "+c.phantom, got)
				}
				wantLine := "you sent: Bearer " + c.phantom + "\n"
				if !strings.Contains(resp.body, wantLine) {
					t.Errorf("body: expected it to contain %q, saw %q", wantLine,
						tail(resp.body, 200))
				}
				if wantLen := tc.pad + 2*len("Bearer "+c.phantom) + len("\nyou sent: "+
					"\nagain: \n"); len(resp.body) != wantLen {
					t.Errorf("body length: expected %d, saw %d", wantLen, len(resp.body))
				}
			})
		}
	}
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func TestServerSentEventsArriveOneByOne(t *testing.T) {
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "sse", "api.test")
	const events = 50

	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			gate := newID()
			openGate := fakeUpstream.openGate(gate)
			defer openGate()

			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet,
				fmt.Sprintf("https://api.test/sse?n=%d&gate=%s", events, gate), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+c.phantom)
			req.Header.Set(requestIDHeader, gate)
			received := streamEvents(agentClient(t, inst, p.h2), req, events)

			// The upstream holds event 2 back until the gate opens, so
			// event 1 can only arrive now if the proxy forwarded it on
			// its own. The bound is below the upstream's gate timeout.
			select {
			case ev := <-received:
				if ev.err != nil || ev.data != "1" {
					t.Fatalf("first event: expected data 1, saw %q (error %v)", ev.data, ev.err)
				}
			case <-time.After(gateTimeout / 2):
				t.Fatalf("first event: not received within %v while the upstream waited "+
					"after writing it; expected it to be flushed at once", gateTimeout/2)
			}
			if sent := fakeUpstream.sseEventsSent(gate); sent >= events {
				t.Fatalf("upstream had written %d of %d events when the agent got the first; "+
					"expected fewer", sent, events)
			}
			openGate()

			for i := 2; i <= events; i++ {
				ev := <-received
				if ev.err != nil {
					t.Fatalf("event %d: %v", i, ev.err)
				}
				if ev.data != strconv.Itoa(i) {
					t.Fatalf("event %d: expected data %d, saw %q", i, i, ev.data)
				}
			}
			if ev := <-received; !errors.Is(ev.err, io.EOF) {
				t.Errorf("after %d events: expected the end of the stream, saw %q (error %v)",
					events, ev.data, ev.err)
			}
			assertAuthorization(t, gate, "Bearer "+c.secret)
		})
	}
}

// sseEvent is one event read from a stream, or the error that ended it.
type sseEvent struct {
	data string
	err  error
}

// streamEvents sends req through client in a goroutine and sends each
// event of the SSE answer, then the error that ended the stream (io.EOF at
// its end). It stops after one event more than max, which is already one
// too many. The caller bounds it with req's context.
func streamEvents(client *http.Client, req *http.Request, max int) <-chan sseEvent {
	ch := make(chan sseEvent, max+2)
	go func() {
		defer close(ch)
		resp, err := client.Do(req)
		if err != nil {
			ch <- sseEvent{err: fmt.Errorf("GET %s through the proxy: %w", req.URL, err)}
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			ch <- sseEvent{err: fmt.Errorf("status: expected 200, saw %d", resp.StatusCode)}
			return
		}

		br := bufio.NewReader(resp.Body)
		var data []string
		events := 0
		for lines := 0; lines < 8*(max+1); lines++ {
			line, err := br.ReadString('\n')
			if err != nil {
				if line != "" || len(data) > 0 {
					err = fmt.Errorf("stream ended inside an event: %w", err)
				}
				ch <- sseEvent{err: err}
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				ch <- sseEvent{data: strings.Join(data, "\n")}
				data = nil
				if events++; events > max {
					return
				}
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			default:
				data = append(data, line)
			}
		}
		ch <- sseEvent{err: errors.New("too many lines in the stream")}
	}()
	return ch
}

func TestWebSocketIsInjectedAndEchoes(t *testing.T) {
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "ws", "api.test")

	// coder/websocket refuses a client with a Timeout; the context bounds
	// the whole exchange instead.
	tr := proxyTransport(inst.proxyURL, inst.caddyRoot, false)
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()

	id := newID()
	conn, resp, err := websocket.Dial(ctx, "wss://api.test/ws", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: http.Header{
			"Authorization": {"Bearer " + c.phantom},
			requestIDHeader: {id},
		},
	})
	if err != nil {
		t.Fatalf("WebSocket dial through the proxy: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(wsReadLimit)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("upgrade status: expected 101, saw %d", resp.StatusCode)
	}
	assertNoSecret(t, response{header: resp.Header}, c.secret)

	rec := assertAuthorization(t, id, "Bearer "+c.secret)
	if !strings.EqualFold(rec.Header.Get("Upgrade"), "websocket") {
		t.Errorf("upstream Upgrade header: expected websocket, saw %q", rec.Header.Get("Upgrade"))
	}

	sum := sha256.Sum256([]byte("Bearer " + c.secret))
	want := "auth-sha256:" + hex.EncodeToString(sum[:])
	typ, first, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("reading the upstream's first message: %v", err)
	}
	if typ != websocket.MessageText || string(first) != want {
		t.Errorf("first message: expected %q (digest of the real Authorization), saw %q",
			want, first)
	}

	messages := []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello through latchkey")},
		{websocket.MessageBinary, []byte{0, 1, 2, 0xff, 0xfe}},
		{websocket.MessageText, []byte(strings.Repeat("long frame ", 10000))},
	}
	for i, m := range messages {
		if err := conn.Write(ctx, m.typ, m.data); err != nil {
			t.Fatalf("message %d: writing: %v", i, err)
		}
		typ, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: reading the echo: %v", i, err)
		}
		if typ != m.typ || string(data) != string(m.data) {
			t.Errorf("message %d: expected echo of type %v and %d bytes, saw type %v and %d "+
				"bytes", i, m.typ, len(m.data), typ, len(data))
		}
	}
	if err := conn.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Errorf("closing the WebSocket: %v", err)
	}
}

func TestPhantomSentToUnboundHostIsStripped(t *testing.T) {
	inst := sharedInstance(t)
	bound := addBoundCredential(t, inst, "strip-a", "api.test")
	// A second credential bound to other.test makes latchkey intercept
	// it, so it sees (and must strip) the first one's phantom.
	other := addBoundCredential(t, inst, "strip-b", "other.test")

	id := newID()
	req, err := http.NewRequest(http.MethodPost, "https://other.test/echo?key="+bound.phantom,
		strings.NewReader("token="+bound.phantom+"&x=1"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bound.phantom)
	req.Header.Set("X-Extra", "key="+bound.phantom)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := send(t, agentClient(t, inst, true), req, id)
	if resp.status != http.StatusOK {
		t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
	}

	rec := fakeUpstream.onlyRequest(t, id)
	seen, _ := json.Marshal(rec)
	for _, leak := range []struct{ what, value string }{
		{"the phantom of " + bound.name, bound.phantom},
		{"the real secret of " + bound.name, bound.secret},
		{"the real secret of " + other.name + " (its phantom was not sent)", other.secret},
	} {
		if strings.Contains(string(seen), leak.value) {
			t.Errorf("upstream request at other.test: expected no trace of %s, saw %s",
				leak.what, seen)
		}
	}
	if !strings.Contains(rec.Body, "&x=1") {
		t.Errorf("upstream body: expected the rest of the body kept, saw %q", rec.Body)
	}
}

func TestUnboundHostIsTunnelledWithoutInterception(t *testing.T) {
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "tunnel", "api.test")

	// An agent that trusts the real upstream's CA sees the upstream's own
	// certificate: nothing in between terminated TLS.
	id := newID()
	client := clientTrusting(t, inst.proxyURL, testPKI.caPool, true)
	resp := get(t, client, "https://unbound.test/echo", bearer(c.phantom), id)
	if resp.status != http.StatusOK {
		t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
	}
	if resp.tls == nil || len(resp.tls.PeerCertificates) == 0 {
		t.Fatalf("expected a TLS connection with a peer certificate, saw none")
	}
	if got := resp.tls.PeerCertificates[0].Issuer.CommonName; got != testCAName {
		t.Errorf("certificate issuer: expected %q (the upstream's own), saw %q",
			testCAName, got)
	}
	assertAuthorization(t, id, "Bearer "+c.phantom)

	// And an agent that trusts only Caddy's root cannot talk to it.
	pinned, err := agentClient(t, inst, true).Get("https://unbound.test/echo")
	if err == nil {
		pinned.Body.Close()
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("client trusting only Caddy's root: expected a certificate verification "+
			"error, saw %v", err)
	}
}

func TestLoopbackDestinationWithoutOverrideIsRefused(t *testing.T) {
	inst := sharedInstance(t)
	for _, host := range []string{"127.0.0.1", "localhost", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			// The upstream really listens there: only the proxy's
			// private-address rule stands in the way.
			target := host + ":" + fakeUpstream.port()
			res := rawConnect(t, inst.proxyURL, target, nil)
			if res.status != http.StatusForbidden {
				t.Errorf("CONNECT %s: expected status 403, saw %d", target, res.status)
			}
		})
	}
}
