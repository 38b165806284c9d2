package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/failover"
)

// maxMessage bounds one WebSocket message relayed for a bound host.
const maxMessage = 16 << 20

// isWebSocketUpgrade reports whether r asks to switch to WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return r.ProtoMajor == 1 && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// serveWebSocket relays a WebSocket to a bound host message by message
// rather than as raw bytes, so that messages are swapped like bodies and,
// for a pool, an in-band usage-limit error can move the turn to the next
// member. The Codex CLI speaks WebSocket first and reports its usage limit
// as a text message, never as an HTTP status.
//
// Neither side is offered permessage-deflate, so every message is plain.
func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request, x *exchange) {
	ws := &wsRelay{h: h, x: x, in: r, limit: h.RetryBodyLimit}
	up, failure := ws.dial(r.Context())
	if up == nil {
		writeUpgradeFailure(w, x, failure)
		return
	}
	client, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the agent's Origin is for the upstream, not for us
		Subprotocols:       []string{up.Subprotocol()},
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		up.CloseNow()
		return
	}
	client.SetReadLimit(maxMessage)
	ws.client = client
	ws.run(r.Context())
}

// wsRelay is one relayed WebSocket and the turn it may replay.
type wsRelay struct {
	h      *Handler
	x      *exchange
	in     *http.Request
	client *websocket.Conn
	limit  int64

	// mu guards the upstream connection and the pending turn: the client
	// reader writes through it while the upstream reader may replace it.
	mu       sync.Mutex
	upstream *websocket.Conn
	served   engine.Served
	pending  []wsMessage
	size     int64
	overflow bool
}

type wsMessage struct {
	typ  websocket.MessageType
	data []byte
}

// upgradeFailure is an upstream's non-101 answer to the upgrade.
type upgradeFailure struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// dial opens the upstream WebSocket for the current plan. A failover-class
// answer to the upgrade (429, quota 403, 401) fails over and tries the next
// pool member, as for any request.
func (ws *wsRelay) dial(ctx context.Context) (*websocket.Conn, upgradeFailure) {
	attempts := 1
	if pools := ws.poolsOf(); len(pools) > 0 {
		attempts = ws.h.engine.PoolSize(pools[0].Identity)
	}
	var last upgradeFailure
	for range attempts {
		conn, failure, served := ws.dialOnce(ctx)
		if conn != nil {
			ws.served = served
			ws.upstream = conn
			return conn, upgradeFailure{}
		}
		last = failure
		if failure.err != nil || served.Kind != engine.KindPool {
			break
		}
		v := failover.Classify(failover.Response{Status: failure.status, Header: failure.header,
			Body: failure.body}, time.Now(), ws.h.engine.MaxCooldown())
		if v.Kind == failover.None {
			break
		}
		out, err := ws.h.engine.ReportFailure(served.Identity, served.Member, v, ws.x.target.Host)
		if err != nil || out.Exhausted || out.To == served.Member {
			break
		}
		ws.x.plan = ws.h.engine.Plan(ws.x.target.Host, atoiPort(ws.x.target.Port))
	}
	return nil, last
}

// poolsOf returns the pools the agent's upgrade request presents.
func (ws *wsRelay) poolsOf() []engine.Served {
	probe := &http.Request{Header: ws.in.Header.Clone(), URL: cloneURL(ws.in)}
	return ws.x.plan.Pools(injectRequest(probe, &exchange{plan: ws.x.plan, target: ws.x.target,
		logger: zap.NewNop()}))
}

// dialOnce makes one upgrade request, injected for the current plan.
func (ws *wsRelay) dialOnce(ctx context.Context) (*websocket.Conn, upgradeFailure, engine.Served) {
	out := &http.Request{Header: ws.in.Header.Clone(), URL: cloneURL(ws.in)}
	injected := injectRequest(out, ws.x)
	var served engine.Served
	if pools := ws.x.plan.Pools(injected); len(pools) > 0 {
		served = pools[0]
	}
	for _, k := range []string{"Connection", "Upgrade", "Sec-Websocket-Key",
		"Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
		"Proxy-Authorization", "Proxy-Connection", "Keep-Alive", "Te", "Trailer",
		"Transfer-Encoding"} {
		out.Header.Del(k)
	}
	u := *out.URL
	u.Scheme, u.Host = "wss", joinTarget(ws.x)
	if ws.x.scheme == "http" {
		u.Scheme = "ws"
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: ws.h.upstream.transport},
		HTTPHeader:      out.Header,
		Host:            ws.in.Host,
		Subprotocols:    subprotocols(ws.in.Header),
		CompressionMode: websocket.CompressionDisabled,
	})
	if err == nil {
		conn.SetReadLimit(maxMessage)
		return conn, upgradeFailure{}, served
	}
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, upgradeFailure{err: err}, served
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, failover.MaxBody))
	resp.Body.Close()
	return nil, upgradeFailure{status: resp.StatusCode, header: resp.Header, body: body}, served
}

// run relays until either side closes.
func (ws *wsRelay) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ws.fromClient(ctx, cancel)
	ws.fromUpstream(ctx)

	ws.mu.Lock()
	up := ws.upstream
	ws.mu.Unlock()
	up.Close(websocket.StatusNormalClosure, "")
	ws.client.Close(websocket.StatusNormalClosure, "")
}

// fromClient forwards the agent's messages and keeps those of the current
// turn for a replay.
func (ws *wsRelay) fromClient(ctx context.Context, cancel context.CancelFunc) {
	defer cancel()
	for {
		typ, data, err := ws.client.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageText {
			s, _ := ws.x.plan.Request.Replace(string(data))
			data = []byte(s)
		}
		ws.mu.Lock()
		ws.keep(wsMessage{typ: typ, data: data})
		up := ws.upstream
		err = up.Write(ctx, typ, data)
		ws.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// keep adds an agent message to the pending turn, within the limit.
func (ws *wsRelay) keep(m wsMessage) {
	ws.size += int64(len(m.data))
	if ws.overflow || ws.size > ws.limit {
		ws.overflow, ws.pending = true, nil
		return
	}
	ws.pending = append(ws.pending, m)
}

// fromUpstream forwards the upstream's messages to the agent. An in-band
// failover-class error that arrives before anything of the turn reached the
// agent moves the turn to the next member instead.
func (ws *wsRelay) fromUpstream(ctx context.Context) {
	for {
		ws.mu.Lock()
		up := ws.upstream
		ws.mu.Unlock()
		typ, data, err := up.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageText {
			if v, ok := inBandVerdict(data, ws.h.engine.MaxCooldown()); ok && ws.failover(ctx, v) {
				continue
			}
			s, _ := ws.x.plan.Response.Replace(string(data))
			data = []byte(s)
		}
		ws.mu.Lock()
		ws.pending, ws.size, ws.overflow = nil, 0, false
		ws.mu.Unlock()
		if err := ws.client.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// failover records an in-band failure of the serving member and, when the
// turn can be replayed, reconnects as the next member and replays it. It
// reports whether the error message was handled (and must not be passed on).
func (ws *wsRelay) failover(ctx context.Context, v failover.Verdict) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	served := ws.served
	if served.Kind != engine.KindPool {
		return false
	}
	out, err := ws.h.engine.ReportFailure(served.Identity, served.Member, v, ws.x.target.Host)
	if err != nil || out.Exhausted || out.To == served.Member || ws.overflow ||
		len(ws.pending) == 0 {
		return false
	}

	ws.x.plan = ws.h.engine.Plan(ws.x.target.Host, atoiPort(ws.x.target.Port))
	conn, _, next := ws.dialOnce(ctx)
	if conn == nil {
		return false
	}
	for _, m := range ws.pending {
		if err := conn.Write(ctx, m.typ, m.data); err != nil {
			conn.CloseNow()
			return false
		}
	}
	old := ws.upstream
	ws.upstream, ws.served = conn, next
	old.CloseNow()
	ws.x.count(engine.MetricRetries, served.Identity)
	ws.h.logger.Info("websocket turn moved to another pool member",
		zap.String("pool", served.Identity), zap.String("from", served.Member),
		zap.String("to", next.Member), zap.String("host", ws.x.target.Host))
	return true
}

// inBandVerdict classifies a text message shaped like an in-band error,
// {"type":"error","status_code":429,"error":{...},"headers":{...}}.
func inBandVerdict(data []byte, maxCooldown time.Duration) (failover.Verdict, bool) {
	if len(data) > failover.MaxBody || !strings.Contains(string(data), `"error"`) {
		return failover.Verdict{}, false
	}
	var frame struct {
		Type       string            `json:"type"`
		StatusCode int               `json:"status_code"`
		Status     int               `json:"status"`
		Headers    map[string]string `json:"headers"`
	}
	if json.Unmarshal(data, &frame) != nil || frame.Type != "error" {
		return failover.Verdict{}, false
	}
	status := frame.StatusCode
	if status == 0 {
		status = frame.Status
	}
	header := http.Header{}
	for k, v := range frame.Headers {
		header.Set(k, v)
	}
	v := failover.Classify(failover.Response{Status: status, Header: header, Body: data},
		time.Now(), maxCooldown)
	return v, v.Kind != failover.None
}

// writeUpgradeFailure gives the agent the upstream's answer to the
// upgrade, scrubbed, or a 502 when the upstream could not be reached.
func writeUpgradeFailure(w http.ResponseWriter, x *exchange, f upgradeFailure) {
	if f.status == 0 {
		msg := "latchkey: websocket upstream " + x.target.Host + " unreachable"
		if f.err != nil && errors.Is(f.err, errPrivateDestination) {
			http.Error(w, msg+": "+errPrivateDestination.Error(), http.StatusForbidden)
			return
		}
		http.Error(w, msg, http.StatusBadGateway)
		return
	}
	for k, vs := range f.header {
		if k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" {
			continue
		}
		for _, v := range vs {
			s, _ := x.plan.Response.Replace(v)
			w.Header().Add(k, s)
		}
	}
	body, _ := x.plan.Response.Replace(string(f.body))
	w.WriteHeader(f.status)
	io.WriteString(w, body)
}

func subprotocols(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func cloneURL(r *http.Request) *url.URL {
	u := *r.URL
	return &u
}

func joinTarget(x *exchange) string {
	return net.JoinHostPort(x.target.Host, x.target.Port)
}
