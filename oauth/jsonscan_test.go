package oauth

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestObjectMembersLocatesTopLevelValues(t *testing.T) {
	body := ` { "a" : {"x":["}",{"y":"]"}]} , "b\"" :"v\\" ,"c":-1.5e3,"d":[],"e":null}  `
	ms, err := objectMembers([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ key, value string }{
		{"a", `{"x":["}",{"y":"]"}]}`}, {`b"`, `"v\\"`}, {"c", "-1.5e3"}, {"d", "[]"},
		{"e", "null"},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %d members, want %d", len(ms), len(want))
	}
	for i, m := range ms {
		if m.key != want[i].key || body[m.valStart:m.valEnd] != want[i].value {
			t.Errorf("member %d = %q: %q, want %q: %q", i, m.key, body[m.valStart:m.valEnd],
				want[i].key, want[i].value)
		}
		if body[m.keyStart] != '"' {
			t.Errorf("member %d key does not start at a quote", i)
		}
	}
}

func TestObjectMembersRejects(t *testing.T) {
	for _, body := range []string{``, `[]`, `"s"`, `1`, `{"a":1`, `{"a":1}{}`, `{a:1}`} {
		if _, err := objectMembers([]byte(body)); err == nil {
			t.Errorf("objectMembers(%q) succeeded", body)
		}
	}
}

func TestObjectMembersDeepNestingIsBounded(t *testing.T) {
	deep := `{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	if _, err := objectMembers([]byte(deep)); err == nil {
		t.Fatal("accepted nesting beyond encoding/json's limit")
	}
}

func TestDecodeStringMatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{`""`, `"plain"`, `"a\/b"`, `"\u00e9\n\"\\"`,
		`"\ud83d\ude00"`, "\"caf\xc3\xa9\"", "\"bad\xffutf8\""} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		got, err := decodeString([]byte(raw))
		if err != nil || got != want {
			t.Errorf("decodeString(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

func TestEncodeStringRoundTrips(t *testing.T) {
	for _, s := range []string{"", "lk-rt-abc", `a"b\c`, "<&>", "é\u2028\x01\x7f"} {
		enc, err := encodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeString(enc)
		if err != nil || got != s {
			t.Errorf("round trip of %q via %s = %q, %v", s, enc, got, err)
		}
	}
	if enc, _ := encodeString("<&>"); string(enc) != `"<&>"` {
		t.Errorf("html characters were escaped: %s", enc)
	}
	if _, err := encodeString("\xff"); err == nil {
		t.Error("invalid utf-8 was accepted")
	}
}

func TestWalkStringsTellsKeysFromValues(t *testing.T) {
	doc := `{"k1" : "v1", "k2":["v2",{"k3":"v3"}], "k\"4":"v:4"}`
	var keys, values []string
	err := walkStrings([]byte(doc), func(start, end int, isKey bool) error {
		s, err := decodeString([]byte(doc[start:end]))
		if isKey {
			keys = append(keys, s)
		} else {
			values = append(values, s)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != `k1,k2,k3,k"4` {
		t.Errorf("keys %s", got)
	}
	if got := strings.Join(values, ","); got != "v1,v2,v3,v:4" {
		t.Errorf("values %s", got)
	}
}

func TestIsJSONType(t *testing.T) {
	for mt, want := range map[string]bool{
		"application/json": true, "application/problem+json": true, "text/json+json": true,
		"application/+json": false, "+json": false, "text/plain": false, "": false,
		"application/jsonx": false,
	} {
		if got := isJSONType(mt); got != want {
			t.Errorf("isJSONType(%q) = %v, want %v", mt, got, want)
		}
	}
}
