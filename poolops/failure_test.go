package poolops

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/store"
)

// allSentinels are the classes a channel maps; exactly one must match any
// error poolops returns.
var allSentinels = []error{
	ErrValidation, ErrNotFound, ErrNameConflict, ErrAlreadyPooled,
	ErrReferenced, ErrRace, ErrInternal,
}

// matching lists the sentinels err matches.
func matching(err error) []error {
	var out []error
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestStoreFailureIsInternal checks that every mutation over a store that
// fails reports ErrInternal and nothing else, and leaves the live state
// as it was: a store failure is never the caller's fault.
func TestStoreFailureIsInternal(t *testing.T) {
	db, err := store.Open(store.Options{
		Dir:           t.TempDir(),
		EncryptionKey: bytes.Repeat([]byte{2}, store.EncryptionKeySize),
	})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := eng.AddOAuthCredential(engine.OAuthSpec{
			Name: n, AccessToken: "at-" + n,
			TokenURL: "https://auth.test/token",
		}); err != nil {
			t.Fatal(err)
		}
	}
	o := New(eng)
	if _, err := o.Create("codex", []string{"a", "b"}, ""); err != nil {
		t.Fatal(err)
	}
	before, _ := o.Status("codex")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	mutations := map[string]func() error{
		"create": func() error { _, err := o.Create("x", []string{"c"}, ""); return err },
		"rotate": func() error { _, err := o.Rotate("codex"); return err },
		"reset":  func() error { _, err := o.Reset("codex", ""); return err },
		"remove": func() error { return o.Remove("codex") },
	}
	for name, do := range mutations {
		t.Run(name, func(t *testing.T) {
			err := do()
			if got := matching(err); !reflect.DeepEqual(got, []error{ErrInternal}) {
				t.Fatalf("err = %v matches %v, want only ErrInternal", err, got)
			}
			if after, _ := o.Status("codex"); !reflect.DeepEqual(after, before) {
				t.Fatalf("status after a failed %s = %+v, want %+v", name, after, before)
			}
			if l := o.List(); len(l) != 1 {
				t.Fatalf("List after a failed %s = %+v, want only codex", name, l)
			}
		})
	}
}

// TestEngineErrorsMapToOneSentinel checks the translation of each engine
// error, including the rotate race, which no caller can provoke on demand.
func TestEngineErrorsMapToOneSentinel(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"invalid", fmt.Errorf("%w: bad", engine.ErrInvalid), ErrValidation},
		{"not found", fmt.Errorf("%w: no pool", engine.ErrNotFound), ErrNotFound},
		{"conflict", fmt.Errorf("%w: taken", engine.ErrConflict), ErrNameConflict},
		{"already pooled", fmt.Errorf("%w: in p", engine.ErrAlreadyPooled), ErrAlreadyPooled},
		{"race", fmt.Errorf("%w: changed", engine.ErrRace), ErrRace},
		{"referenced", &engine.ReferencedError{Name: "p"}, ErrReferenced},
		{"anything else", errors.New("disk full"), ErrInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := translate(tc.err)
			if got := matching(err); !reflect.DeepEqual(got, []error{tc.want}) {
				t.Fatalf("translate(%v) matches %v, want only %v", tc.err, got, tc.want)
			}
		})
	}
	if translate(nil) != nil {
		t.Fatal("translate(nil) is not nil")
	}
}

// TestHostileNamesAreValidationEverywhere checks that a name outside the
// alphabet is refused as bad input by every operation that takes one,
// before any lookup could call it missing.
func TestHostileNamesAreValidationEverywhere(t *testing.T) {
	o := newOps(t)
	for _, name := range []string{"<b>", "a b", "", "a/b"} {
		ops := map[string]error{}
		_, ops["create"] = o.Create(name, []string{"a"}, "")
		_, ops["status"] = o.Status(name)
		_, ops["rotate"] = o.Rotate(name)
		_, ops["reset"] = o.Reset(name, "")
		ops["remove"] = o.Remove(name)
		for op, err := range ops {
			if !errors.Is(err, ErrValidation) {
				t.Errorf("%s(%q) = %v, want ErrValidation", op, name, err)
			}
		}
	}
	if l := o.List(); l == nil || len(l) != 0 {
		t.Errorf("List = %#v, want an empty, non-nil list", l)
	}
}
