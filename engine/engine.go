// Package engine is latchkey's live model: credentials, bindings and their
// phantoms, and the per-destination plans that tell the proxy what to swap.
//
// The engine answers the proxy from memory. Every change is written to the
// store in one transaction first and then published as a new immutable
// snapshot, so the very next proxied request sees it and a request in flight
// keeps a consistent view. The engine serves HTTP to nobody.
package engine

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/failover"
	"github.com/latchkeyproxy/latchkey/phantom"
	"github.com/latchkeyproxy/latchkey/store"
)

// phantomKeyMeta is the store's name for the per-install phantom key.
const phantomKeyMeta = "phantom_key"

// Engine holds the live state of one latchkey install.
type Engine struct {
	db     *store.DB
	codec  *phantom.Codec
	logger atomic.Pointer[zap.Logger]

	// writeMu serialises changes so that each one builds on the snapshot
	// the previous one published.
	writeMu sync.Mutex

	// current is the snapshot the proxy reads; it is replaced, never
	// modified.
	current atomic.Pointer[snapshot]

	// events receives failover events; dedup keeps a transition from
	// being announced more than once per window.
	events atomic.Pointer[func(Event)]
	dedup  *failover.Deduper

	// refreshes coalesces concurrent refreshes of one credential.
	refreshes *refreshCoalescer

	// stats are the monitoring counters.
	stats stats

	// unsaved holds rotated tokens whose write failed.
	unsaved unsavedTokens

	// maxCooldown caps every cooldown, in nanoseconds.
	maxCooldown atomic.Int64

	// beforeCommit, when set by a test, runs inside every write
	// transaction; an error from it fails the write.
	beforeCommit atomic.Pointer[func() error]

	// now is the clock, replaceable in tests.
	now func() time.Time
}

// DefaultMaxCooldown caps cooldowns that an upstream asks for.
const DefaultMaxCooldown = 24 * time.Hour

// announceWindow is how long a repeated transition stays quiet.
const announceWindow = 30 * time.Second

// New loads the engine's state from db, creating the per-install phantom
// key on first use.
func New(db *store.DB, logger *zap.Logger) (*Engine, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	e := &Engine{db: db, now: time.Now, dedup: failover.NewDeduper(announceWindow)}
	e.maxCooldown.Store(int64(DefaultMaxCooldown))
	e.stats.started = time.Now()
	e.refreshes = newRefreshCoalescer()
	e.logger.Store(logger)

	key, err := loadOrCreatePhantomKey(db)
	if err != nil {
		return nil, err
	}
	if e.codec, err = phantom.NewCodec(key); err != nil {
		return nil, err
	}

	var r *records
	err = db.View(func(tx *store.Txn) error {
		var err error
		r, err = loadRecords(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading state: %v", err)
	}
	e.current.Store(newSnapshot(e.codec, r))
	return e, nil
}

// loadOrCreatePhantomKey reads the install's phantom key, generating and
// storing it on first start. It lives in the encrypted database so that it
// is protected like the secrets whose phantoms it derives.
func loadOrCreatePhantomKey(db *store.DB) ([]byte, error) {
	var key []byte
	err := db.Update(func(tx *store.Txn) error {
		var err error
		key, err = tx.GetMeta(phantomKeyMeta)
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		key = make([]byte, phantom.KeySize)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		return tx.PutMeta(phantomKeyMeta, key)
	})
	if err != nil {
		return nil, fmt.Errorf("loading phantom key: %v", err)
	}
	return key, nil
}

// update runs one change: fn works in a store transaction on a copy of the
// current records, and when the transaction commits the result becomes the
// new snapshot. On error neither the store nor the live state changes.
func (e *Engine) update(fn func(tx *store.Txn, r *records) error) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()

	r := e.current.Load().records.clone()
	err := e.db.Update(func(tx *store.Txn) error {
		if err := fn(tx, r); err != nil {
			return err
		}
		if hook := e.beforeCommit.Load(); hook != nil {
			return (*hook)()
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.current.Store(newSnapshot(e.codec, r))
	return nil
}

// SetLogger replaces the logger. The Caddy app calls it on every config load
// because the engine outlives the config whose logger it was given.
func (e *Engine) SetLogger(l *zap.Logger) {
	e.logger.Store(l)
}

// SetMaxCooldown caps the cooldowns that upstream answers ask for.
// Zero or less means DefaultMaxCooldown.
func (e *Engine) SetMaxCooldown(d time.Duration) {
	if d <= 0 {
		d = DefaultMaxCooldown
	}
	e.maxCooldown.Store(int64(d))
}

// MaxCooldown returns the cap on cooldowns.
func (e *Engine) MaxCooldown() time.Duration { return time.Duration(e.maxCooldown.Load()) }

// audit returns the logger for failover events, "<engine logger>.audit".
func (e *Engine) audit() *zap.Logger {
	return e.log().Named("audit")
}

// log returns the current logger.
func (e *Engine) log() *zap.Logger {
	return e.logger.Load()
}
