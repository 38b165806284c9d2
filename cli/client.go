package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Client limits. The API's answers are small; the bound only stops a
// confused endpoint from filling memory.
const (
	requestTimeout   = 30 * time.Second
	maxResponseBytes = 16 << 20
)

// client talks to latchkey's REST API on a Caddy admin endpoint.
//
// caddycmd.AdminAPIRequest is not used because it turns every status of
// 400 and above into an opaque error, losing the "code" and "bindings"
// fields the commands need. This client dials the same kinds of address
// the same way.
type client struct {
	address string
	baseURL string
	origin  string
	token   string
	http    *http.Client
}

// newClient returns a client for a Caddy network address: "unix/<path>"
// (optionally with Caddy's "|mode" suffix) or a TCP "host:port".
func newClient(address, token string) (*client, error) {
	na, err := caddy.ParseNetworkAddress(address)
	if err != nil {
		return nil, fmt.Errorf("invalid admin address %s: %v", address, err)
	}
	if na.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %s: a port range is not one endpoint",
			address)
	}

	c := &client{address: address, token: token}
	var network, dialAddr string
	switch {
	case na.IsUnixNetwork():
		// The path may still carry the socket's permission bits, which
		// Caddy uses when creating it and which are no part of the path.
		path, _, _ := strings.Cut(na.Host, "|")
		network, dialAddr = na.Network, path
		// The host is never used to route; 127.0.0.1 is what Caddy's own
		// client sends and what its host check accepts.
		c.baseURL = "http://127.0.0.1"
	case na.IsFdNetwork():
		return nil, fmt.Errorf("admin address %s is a file descriptor of the server; "+
			"use --address with its socket or host:port", address)
	default:
		network, dialAddr = na.Network, na.JoinHostPort(0)
		c.baseURL = "http://" + dialAddr
		// Caddy checks Origin on TCP endpoints when enforce_origin is set;
		// the endpoint's own address is always an allowed origin.
		c.origin = c.baseURL
	}

	c.http = &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			// No Proxy: an agent's shell usually points HTTPS_PROXY at
			// latchkey itself, and management traffic must go straight
			// to the admin endpoint.
			Proxy: nil,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, dialAddr)
			},
		},
	}
	return c, nil
}

// serverError is an error answer of the API.
type serverError struct {
	// Status is the HTTP status.
	Status int `json:"-"`

	// Message is the server's "error" field, or a description of an
	// answer that was not in the API's error shape.
	Message string `json:"error"`

	// Code is the server's "code" field, such as "not_found".
	Code string `json:"code"`

	// Bindings are the bindings that block a removal, on a conflict.
	Bindings []bindingRef `json:"bindings"`

	// body is the answer as it came, when it is in the API's error shape;
	// --json prints it.
	body []byte
}

// bindingRef names a binding in a conflict.
type bindingRef struct {
	// ID identifies the binding.
	ID string `json:"id"`

	// Destination is the binding's host glob.
	Destination string `json:"destination"`
}

// Error returns the server's message.
func (e *serverError) Error() string { return e.Message }

// do sends one request and returns the body of a successful answer. in, if
// not nil, is sent as JSON.
func (c *client) do(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %v", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("making the request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "latchkey-cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		// The url.Error repeats the method and a URL with a made-up
		// host; the cause alone is clearer.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the admin endpoint at %s (is latchkey running? "+
			"see --address and --config): %v", c.address, err)
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %v", c.address, err)
	}
	if resp.StatusCode >= 400 {
		return nil, parseServerError(resp.StatusCode, data)
	}
	return data, nil
}

// parseServerError reads an error answer. An answer without latchkey's
// shape comes from something else on the endpoint, most often Caddy itself
// when this binary's latchkey modules are missing from the running one.
func parseServerError(status int, data []byte) *serverError {
	se := &serverError{}
	if err := json.Unmarshal(data, se); err == nil && se.Message != "" && se.Code != "" {
		se.Status, se.body = status, data
		return se
	}
	msg := fmt.Sprintf("the admin endpoint answered %d %s", status, http.StatusText(status))
	if text := firstLine(string(data), 200); text != "" {
		msg += ": " + text
	}
	if status == http.StatusNotFound {
		msg += " (does the running Caddy include latchkey?)"
	}
	return &serverError{Status: status, Message: msg, Code: ""}
}

// firstLine returns the first non-empty line of s, cut to max bytes.
func firstLine(s string, max int) string {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > max {
				line = line[:max] + "..."
			}
			return line
		}
	}
	return ""
}

// pathName escapes a name or id for a URL path, so that a hostile one
// reaches the server as one segment and is refused there. The names "."
// and ".." are valid but are dot-segments, which the server's router would
// resolve away; escaped, they stay names.
func pathName(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}
