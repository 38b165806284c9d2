package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/latchkeyproxy/latchkey/engine"
)

// wsWorld is a pool world whose api.test also speaks WebSocket at /ws:
// member a answers the first message with an in-band usage-limit error (or
// refuses the upgrade with 429), member b echoes "b:<message>".
type wsWorld struct {
	*poolWorld
	refuseUpgrade bool
}

func newWSWorld(t *testing.T, refuseUpgrade bool) *wsWorld {
	w := &wsWorld{refuseUpgrade: refuseUpgrade}
	ca := newTestCA(t)
	pw := &poolWorld{}
	pw.failA.Store(true)
	pw.up = newFakeUpstream(t, ca, func(rw http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/ws" {
			pw.serve(rw, r, body)
			return
		}
		member := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer at-")
		if member == "a" && w.refuseUpgrade {
			rw.WriteHeader(429)
			rw.Write([]byte(`{"error":{"type":"usage_limit_reached"}}`))
			return
		}
		c, err := websocket.Accept(rw, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if member == "a" {
				c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"error","status_code":429,`+
					`"error":{"type":"usage_limit_reached","resets_in_seconds":600},"headers":{}}`))
				continue
			}
			c.Write(r.Context(), websocket.MessageText, []byte(member+":"+string(msg)))
		}
	})
	pw.rig = newRig(t, pw.up, ca)
	for _, m := range []string{"a", "b"} {
		pw.eng.AddOAuthCredential(engine.OAuthSpec{Name: m, AccessToken: "at-" + m,
			RefreshToken: "rt-" + m, TokenURL: "https://auth.test/oauth/token", AccountID: "acct-" + m})
	}
	pw.eng.CreatePool(engine.PoolSpec{Name: "codex", Members: []string{"a", "b"}})
	pw.eng.AddBinding(engine.BindingSpec{Credential: "codex", Destination: "api.test"})
	pw.phantom, _ = pw.eng.Phantom("codex")
	w.poolWorld = pw
	return w
}

func (w *wsWorld) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	tr := w.client.Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = false
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	c, _, err := websocket.Dial(ctx, "wss://api.test/ws", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: http.Header{"Authorization": {"Bearer " + w.phantom.AccessToken}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestInBandUsageLimitMovesTheTurnToTheNextMember(t *testing.T) {
	w := newWSWorld(t, false)
	c := w.dial(t)
	ctx := context.Background()

	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"response.create"}`)); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `b:{"type":"response.create"}` {
		t.Errorf("the agent received %q, want member b's answer to the replayed turn", got)
	}
	st, _ := w.eng.PoolStatus("codex")
	if st.Active != "b" || st.Members[0].LastFailureReason != "rate limit (429)" {
		t.Errorf("status = %+v, want b active and a cooling for rate limit (429)", st)
	}
}

func TestAUsageLimitOnTheUpgradeIsRetriedOnTheNextMember(t *testing.T) {
	w := newWSWorld(t, true)
	c := w.dial(t)
	ctx := context.Background()
	c.Write(ctx, websocket.MessageText, []byte("hi"))
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != "b:hi" {
		t.Errorf("read %q, %v; want b:hi", got, err)
	}
}
