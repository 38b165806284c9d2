package cli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientTCP(t *testing.T) {
	var origin, host, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin, host, auth = r.Header.Get("Origin"), r.Host, r.Header.Get("Authorization")
		w.Write([]byte("[]"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	// A proxy in the environment must not be used for the admin endpoint.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")

	c, err := newClient(addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.do(context.Background(), "GET", "/api/bindings", nil); err != nil {
		t.Fatal(err)
	}
	// Caddy's host and origin checks expect the endpoint's own address.
	if origin != "http://"+addr || host != addr || auth != "Bearer tok" {
		t.Fatalf("Origin %q, Host %q, Authorization %q; want the endpoint's address and the token",
			origin, host, auth)
	}
}

func TestClientUnixWithPermissionBits(t *testing.T) {
	admin := newFakeAdmin(t, map[string]answer{"GET /api/bindings": {200, "[]"}})
	c, err := newClient(admin.addr+"|0600", "tok")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.do(context.Background(), "GET", "/api/bindings", nil); err != nil {
		t.Fatalf("request through unix/<path>|0600: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	cases := []struct {
		name    string
		addr    string
		wantErr string
	}{
		{"nothing listening", "unix/" + shortTempDir(t) + "/none.sock",
			"cannot reach the admin endpoint"},
		{"file descriptor", "fd/3", "file descriptor"},
		{"port range", "localhost:2019-2020", "port range"},
		{"garbage", "localhost:notaport", "invalid admin address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newClient(tc.addr, "tok")
			if err == nil {
				_, err = c.do(context.Background(), "GET", "/api/bindings", nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseServerError(t *testing.T) {
	se := parseServerError(409, []byte(`{"error":"in use","code":"conflict",`+
		`"bindings":[{"id":"bnd_1","destination":"a.com"}]}`))
	want := bindingRef{ID: "bnd_1", Destination: "a.com"}
	if se.Status != 409 || se.Code != "conflict" || se.Message != "in use" ||
		len(se.Bindings) != 1 || se.Bindings[0] != want {
		t.Fatalf("parsed %+v", se)
	}

	// Caddy's own APIError has no code: it is not latchkey answering.
	se = parseServerError(400, []byte(`{"error":"unknown route"}`))
	if se.Code != "" || !strings.Contains(se.Message, "answered 400 Bad Request") {
		t.Fatalf("parsed %+v, want a description of a foreign answer", se)
	}
	var err error = se
	if target := (*serverError)(nil); !errors.As(err, &target) {
		t.Fatal("serverError does not match errors.As")
	}
}
