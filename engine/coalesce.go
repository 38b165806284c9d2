package engine

import (
	"sync"
	"time"
)

// recentWindow is how long a successful refresh answers later refreshes of
// the same credential. An agent that refreshes again right after another
// agent's refresh rotated the token would otherwise present a token that
// is already spent.
const recentWindow = 30 * time.Second

// refreshCoalescer turns concurrent refreshes of one credential into one
// upstream exchange: the first caller runs it, the others wait and get the
// same result.
type refreshCoalescer struct {
	mu     sync.Mutex
	calls  map[string]*refreshCall
	recent map[string]recentRefresh
}

type refreshCall struct {
	done chan struct{}
	res  *memberRefresh
	err  error
}

type recentRefresh struct {
	at  time.Time
	res *memberRefresh
}

func newRefreshCoalescer() *refreshCoalescer {
	return &refreshCoalescer{calls: map[string]*refreshCall{}, recent: map[string]recentRefresh{}}
}

// do runs fn for key unless a call for key is in flight (then it waits for
// that one) or, when useRecent is set, one succeeded within recentWindow of
// now (then it returns that result). shared tells whether the result came
// from another call.
func (c *refreshCoalescer) do(key string, now time.Time, useRecent bool,
	fn func() (*memberRefresh, error)) (res *memberRefresh, shared bool, err error) {
	c.mu.Lock()
	if r, ok := c.recent[key]; ok && useRecent && now.Sub(r.at) < recentWindow {
		c.mu.Unlock()
		return r.res, true, nil
	}
	if call, ok := c.calls[key]; ok {
		c.mu.Unlock()
		<-call.done
		return call.res, true, call.err
	}
	call := &refreshCall{done: make(chan struct{})}
	c.calls[key] = call
	c.mu.Unlock()

	call.res, call.err = fn()

	c.mu.Lock()
	delete(c.calls, key)
	if call.err == nil && call.res != nil && call.res.after != nil {
		c.recent[key] = recentRefresh{at: now, res: call.res}
	}
	c.mu.Unlock()
	close(call.done)
	return call.res, false, call.err
}

// forget drops the recent result of key, when its tokens were replaced by
// other means and the result no longer describes them.
func (c *refreshCoalescer) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.recent, key)
}
