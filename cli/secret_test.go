package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestReadSecret(t *testing.T) {
	exact := strings.Repeat("k", maxSecretBytes)
	cases := []struct {
		name    string
		stdin   string
		want    string
		wantErr string
	}{
		{name: "first line", stdin: "sk-1\n", want: "sk-1"},
		{name: "CRLF trimmed", stdin: "sk-1\r\n", want: "sk-1"},
		{name: "no final newline", stdin: "sk-1", want: "sk-1"},
		{name: "only the first line", stdin: "sk-1\nsk-2\n", want: "sk-1"},
		{name: "inner spaces kept", stdin: " a b \n", want: " a b "},
		{name: "longest accepted", stdin: exact + "\r\n", want: exact},
		{name: "empty stdin", stdin: "", wantErr: "empty"},
		{name: "empty first line", stdin: "\nsk-1\n", wantErr: "empty"},
		{name: "blank CRLF line", stdin: "\r\n", wantErr: "empty"},
		{name: "too long", stdin: exact + "k\n", wantErr: "longer than"},
		{name: "too long without newline", stdin: exact + "kk", wantErr: "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var prompt bytes.Buffer
			got, err := readSecret(strings.NewReader(tc.stdin), &prompt, "openai")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "sk-1") {
					t.Fatalf("error %q repeats the secret", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("secret = %q, %v; want %q", got, err, tc.want)
			}
			if prompt.Len() != 0 {
				t.Errorf("prompted %q although stdin is not a terminal", prompt.String())
			}
		})
	}
}
