package engine

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/store"
)

// unsavedTokens are rotated tokens that are live but not yet written. A
// single-use refresh token that exists only here must not be lost, so a
// background loop keeps writing until the store takes them.
type unsavedTokens struct {
	mu      sync.Mutex
	pending map[string]store.OAuthTokens
	running bool
	stop    chan struct{}
	stopped bool
}

// keepUnsaved makes a member's new tokens live without writing them and
// schedules the write.
func (e *Engine) keepUnsaved(member string, t store.OAuthTokens) {
	e.writeMu.Lock()
	r := e.current.Load().records.clone()
	if c, ok := r.creds[member]; ok {
		c.OAuth = &t
		r.creds[member] = c
		e.current.Store(newSnapshot(e.codec, r))
	}
	e.writeMu.Unlock()

	u := &e.unsaved
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending == nil {
		u.pending = map[string]store.OAuthTokens{}
		u.stop = make(chan struct{})
	}
	u.pending[member] = t
	if !u.running && !u.stopped {
		u.running = true
		go e.writeUnsaved()
	}
}

// writeUnsaved retries the pending writes with a growing pause until all
// are written or the engine closes.
func (e *Engine) writeUnsaved() {
	u := &e.unsaved
	pause := 50 * time.Millisecond
	for {
		if e.flushUnsaved() {
			return
		}
		select {
		case <-u.stop:
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// flushUnsaved tries every pending write once and reports whether none is
// left (and the loop may stop).
func (e *Engine) flushUnsaved() bool {
	u := &e.unsaved
	u.mu.Lock()
	pending := make(map[string]store.OAuthTokens, len(u.pending))
	for k, v := range u.pending {
		pending[k] = v
	}
	u.mu.Unlock()

	for member, t := range pending {
		err := e.update(func(tx *store.Txn, r *records) error {
			// A later refresh may have replaced these tokens already;
			// write what is live, which is never older.
			live := t
			if c, ok := r.creds[member]; ok && c.OAuth != nil {
				live = *c.OAuth
			}
			return putTokens(tx, r, member, live, e.now())
		})
		u.mu.Lock()
		if err == nil && u.pending[member] == t {
			delete(u.pending, member)
			e.log().Info("rotated tokens written", zap.String("credential", member))
		}
		u.mu.Unlock()
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) == 0 {
		u.running = false
		return true
	}
	return false
}

// Unsaved reports how many credentials have live tokens that are not yet
// written.
func (e *Engine) Unsaved() int {
	e.unsaved.mu.Lock()
	defer e.unsaved.mu.Unlock()
	return len(e.unsaved.pending)
}

// Close stops background work after one last attempt to write unsaved
// tokens. The caller closes the store afterwards.
func (e *Engine) Close() {
	e.flushUnsaved()
	u := &e.unsaved
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.stopped {
		u.stopped = true
		if u.stop != nil {
			close(u.stop)
		}
	}
	if len(u.pending) > 0 {
		e.log().Error("closing with rotated tokens not written", zap.Int("credentials",
			len(u.pending)))
	}
}
