package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
)

// UnixClient returns an HTTP client whose every connection goes to the unix
// socket at path, as latchkey's admin endpoint listens in tests.
func UnixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// AdminCall sends one request to the admin API through client with the
// bearer token (when not empty) and returns the status and at most limit
// bytes of the body. body, when not nil, is sent as JSON.
func AdminCall(client *http.Client, token, method, path string, body any,
	limit int64) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	// The host is irrelevant on a unix socket; Caddy accepts loopback.
	req, err := http.NewRequest(method, "http://127.0.0.1"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, out, err
}
