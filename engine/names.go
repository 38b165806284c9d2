package engine

import (
	"fmt"
	"strings"
)

// MaxNameLength is the longest credential or pool name.
const MaxNameLength = 64

// ValidateName checks a credential or pool name: 1 to 64 characters of
// A-Z, a-z, 0-9, '.', '_' and '-'. Every channel validates names here, so
// a name accepted by one is accepted by all. The alphabet keeps names safe in
// URLs, headers, file names and phantoms without escaping.
func ValidateName(name string) error {
	if name == "" {
		return invalidf("name is empty")
	}
	if len(name) > MaxNameLength {
		return invalidf("name is longer than %d characters", MaxNameLength)
	}
	// "." and ".." would be resolved away in URL paths.
	if strings.Trim(name, ".") == "" {
		return invalidf("name %s is only dots", quoteName(name))
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return invalidf("name %s has a character outside A-Z a-z 0-9 . _ -",
				quoteName(name))
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// quoteName quotes a name for an error message, shortening a hostile one so
// that errors stay one readable line.
func quoteName(name string) string {
	if len(name) > MaxNameLength {
		name = name[:MaxNameLength] + "..."
	}
	return fmt.Sprintf("%q", name)
}
