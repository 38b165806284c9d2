package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"openai", true},
		{"acct_a.b-c", true},
		{"A9", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"../etc", false},
		{"a b", false},
		{"<b>", false},
		{"naïve", false},
		{"a/b", false},
		{"a%2f", false},
		{".", false},
		{"..", false},
		{"...", false},
		{".hidden", true},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.ok && err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestHostGlobMatching(t *testing.T) {
	tests := []struct {
		glob, host string
		want       bool
	}{
		{"api.openai.com", "api.openai.com", true},
		{"api.openai.com", "API.OpenAI.com.", true},
		{"api.openai.com", "openai.com", false},
		{"api.openai.com", "evil-api.openai.com", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "badexample.com", false},
		{"*", "anything.test", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"::1", "[::1]", true},
	}
	for _, tt := range tests {
		glob, err := validateHostGlob(tt.glob)
		if err != nil {
			t.Fatalf("validateHostGlob(%q): %v", tt.glob, err)
		}
		if got := matchHostGlob(glob, canonicalHost(tt.host)); got != tt.want {
			t.Errorf("glob %q on host %q = %v, want %v", tt.glob, tt.host, got, tt.want)
		}
	}
}

func TestHostGlobRejectsWhatItCannotMean(t *testing.T) {
	for _, glob := range []string{"", "a..b", "-a.com", "a*.com", "*.*.com", "a.com/path",
		"http://a.com", "a com", strings.Repeat("a", 64) + ".com"} {
		if _, err := validateHostGlob(glob); !errors.Is(err, ErrInvalid) {
			t.Errorf("validateHostGlob(%q) = %v, want ErrInvalid", glob, err)
		}
	}
}
