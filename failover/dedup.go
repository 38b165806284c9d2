package failover

import (
	"slices"
	"sync"
	"time"
)

// maxReasons is the map size past which a Deduper forgets reasons whose
// window has ended. A pool has few members, so real traffic stays far
// below it; the bound matters only against a flood of distinct reasons.
const maxReasons = 1024

// Deduper suppresses repeats of the same event reason inside a window, so
// a member that keeps failing over does not flood the audit log and the
// operator's chat. It is safe for concurrent use.
type Deduper struct {
	window time.Duration

	mu   sync.Mutex
	last map[string]time.Time // reason -> when it was last announced
}

// NewDeduper returns a Deduper that lets a reason through again once window
// has passed since it was last announced; production uses 30 seconds. A
// window of zero or less lets every call through.
func NewDeduper(window time.Duration) *Deduper {
	return &Deduper{window: window, last: make(map[string]time.Time)}
}

// ShouldAnnounce reports whether an event with this reason should be
// announced at now: true the first time the reason is seen, and again only
// once the window has passed since it was last announced. A suppressed call
// does not extend the window.
func (d *Deduper) ShouldAnnounce(reason string, now time.Time) bool {
	if d.window <= 0 {
		return true
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.last[reason]; ok && d.fresh(last, now) {
		return false
	}

	if _, ok := d.last[reason]; !ok && len(d.last) >= maxReasons {
		d.makeRoom(now)
	}
	d.last[reason] = now
	return true
}

// fresh reports whether an announcement at last still suppresses repeats at
// now. A now slightly before last is fresh: concurrent callers read the
// clock before taking the lock, so their times arrive out of order. A now
// more than a window before last means the clock was set back, and the
// entry no longer says anything.
func (d *Deduper) fresh(last, now time.Time) bool {
	age := now.Sub(last)
	return age < d.window && age > -d.window
}

// makeRoom drops every entry whose window has ended. If that frees too
// little, because a flood of distinct reasons arrived inside one window, it
// also drops the oldest quarter (more when times tie), so the map never
// grows past maxReasons and the full scan runs at most once per
// maxReasons/4 new reasons. Forgetting a fresh entry costs at most one
// repeated notice.
func (d *Deduper) makeRoom(now time.Time) {
	for reason, last := range d.last {
		if !d.fresh(last, now) {
			delete(d.last, reason)
		}
	}
	if len(d.last) < maxReasons*3/4 {
		return
	}

	times := make([]time.Time, 0, len(d.last))
	for _, last := range d.last {
		times = append(times, last)
	}
	slices.SortFunc(times, time.Time.Compare)
	cutoff := times[len(times)/4]
	for reason, last := range d.last {
		if !last.After(cutoff) {
			delete(d.last, reason)
		}
	}
}
