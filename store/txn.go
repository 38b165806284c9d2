package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Txn is one transaction. Records are stored as JSON under a key made of a
// kind prefix and the record's name or id.
type Txn struct {
	t *badger.Txn
}

// getJSON decodes the record at key into v, or returns ErrNotFound.
func (tx *Txn) getJSON(key string, v any) error {
	item, err := tx.t.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("reading %s: %v", key, err)
	}
	return item.Value(func(b []byte) error {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("decoding %s: %v", key, err)
		}
		return nil
	})
}

// putJSON stores v at key.
func (tx *Txn) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %v", key, err)
	}
	if err := tx.t.Set([]byte(key), b); err != nil {
		return fmt.Errorf("writing %s: %v", key, err)
	}
	return nil
}

// delete removes key, or returns ErrNotFound if it does not exist.
func (tx *Txn) delete(key string) error {
	if _, err := tx.t.Get([]byte(key)); errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("reading %s: %v", key, err)
	}
	if err := tx.t.Delete([]byte(key)); err != nil {
		return fmt.Errorf("deleting %s: %v", key, err)
	}
	return nil
}

// scanJSON decodes every record under prefix, in key order, calling each
// with a freshly decoded value.
func scanJSON[T any](tx *Txn, prefix string, each func(T) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(prefix)
	it := tx.t.NewIterator(opts)
	defer it.Close()

	for it.Rewind(); it.Valid(); it.Next() {
		var v T
		err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) })
		if err != nil {
			return fmt.Errorf("decoding %s: %v", it.Item().Key(), err)
		}
		if err := each(v); err != nil {
			return err
		}
	}
	return nil
}
