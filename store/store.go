// Package store keeps latchkey's state in an embedded, encrypted Badger
// database.
//
// It knows the records and how they are keyed, and nothing of HTTP, Caddy or
// how pools behave. Every write is one Badger transaction, synced to disk
// before it returns, so a crash never loses an acknowledged change.
package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// EncryptionKeySize is the length in bytes of the AES-256 key that encrypts
// the database at rest.
const EncryptionKeySize = 32

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// DB is an open latchkey database.
type DB struct {
	badger *badger.DB
}

// Options configure Open.
type Options struct {
	// Dir is the directory of the database. It is created if missing.
	Dir string

	// EncryptionKey is the AES-256 key of the database, EncryptionKeySize
	// bytes. A database written with one key cannot be opened with another.
	EncryptionKey []byte

	// Logger receives Badger's own messages. Nil discards them.
	Logger *zap.Logger
}

// Open opens or creates the database. Only one process may hold it open.
func Open(opts Options) (*DB, error) {
	if len(opts.EncryptionKey) != EncryptionKeySize {
		return nil, fmt.Errorf("encryption key must be %d bytes", EncryptionKeySize)
	}
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}

	// The state is small (credentials, bindings, pool health), so the
	// defaults sized for large data sets would only waste memory.
	bopts := badger.DefaultOptions(opts.Dir).
		WithEncryptionKey(opts.EncryptionKey).
		WithIndexCacheSize(8 << 20).
		WithBlockCacheSize(8 << 20).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithValueLogFileSize(64 << 20).
		WithSyncWrites(true).
		WithLogger(badgerLogger{logger.Sugar()}).
		WithLoggingLevel(badger.WARNING)
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %v", opts.Dir, err)
	}
	return &DB{badger: db}, nil
}

// Close closes the database. It is safe to call once.
func (db *DB) Close() error {
	return db.badger.Close()
}

// Update runs fn in one read-write transaction and commits it durably. If
// fn returns an error nothing is written.
func (db *DB) Update(fn func(*Txn) error) error {
	return db.badger.Update(func(t *badger.Txn) error { return fn(&Txn{t: t}) })
}

// View runs fn in one read-only transaction.
func (db *DB) View(fn func(*Txn) error) error {
	return db.badger.View(func(t *badger.Txn) error { return fn(&Txn{t: t}) })
}

// badgerLogger adapts zap to Badger's logger interface.
type badgerLogger struct{ s *zap.SugaredLogger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.s.Errorf(f, a...) }
func (l badgerLogger) Warningf(f string, a ...any) { l.s.Warnf(f, a...) }
func (l badgerLogger) Infof(f string, a ...any)    { l.s.Infof(f, a...) }
func (l badgerLogger) Debugf(f string, a ...any)   { l.s.Debugf(f, a...) }
