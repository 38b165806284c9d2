package failover

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeduperWindow(t *testing.T) {
	const window = 30 * time.Second
	type call struct {
		reason string
		at     time.Duration // after testNow
		want   bool
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"first sight is announced", []call{{"p:a->b:429", 0, true}}},
		{"a repeat inside the window is suppressed", []call{
			{"p:a->b:429", 0, true},
			{"p:a->b:429", 10 * time.Second, false},
			{"p:a->b:429", window - time.Nanosecond, false},
		}},
		{"a repeat once the window has passed is announced", []call{
			{"p:a->b:429", 0, true},
			{"p:a->b:429", window, true},
		}},
		{"another reason is independent", []call{
			{"p:a->b:429", 0, true},
			{"p:b->a:429", time.Second, true},
			{"p:exhausted:429", 2 * time.Second, true},
			{"p:a->b:429", 3 * time.Second, false},
		}},
		{"a suppressed repeat does not extend the window", []call{
			{"r", 0, true},
			{"r", 20 * time.Second, false},
			{"r", 30 * time.Second, true},
			{"r", 40 * time.Second, false},
			{"r", 59 * time.Second, false},
			{"r", 60 * time.Second, true},
		}},
		{"a clock slightly out of order is still a repeat", []call{
			{"r", 10 * time.Second, true},
			{"r", 9 * time.Second, false},
		}},
		{"a clock set back past the window starts afresh", []call{
			{"r", time.Hour, true},
			{"r", 0, true},
			{"r", time.Second, false},
		}},
		{"the empty reason is a reason like any other", []call{
			{"", 0, true},
			{"", time.Second, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDeduper(window)
			for i, c := range tt.calls {
				if got := d.ShouldAnnounce(c.reason, testNow.Add(c.at)); got != c.want {
					t.Fatalf("call %d (%q at +%v) = %v, want %v", i, c.reason, c.at, got, c.want)
				}
			}
		})
	}
}

func TestDeduperWithoutWindowAnnouncesEverything(t *testing.T) {
	d := NewDeduper(0)
	for i := range 3 {
		if !d.ShouldAnnounce("r", testNow) {
			t.Fatalf("call %d suppressed with a zero window", i)
		}
	}
}

func TestDeduperMemoryIsBounded(t *testing.T) {
	d := NewDeduper(30 * time.Second)
	for i := range 5 * maxReasons {
		d.ShouldAnnounce("r"+strconv.Itoa(i), testNow)
	}
	if n := len(d.last); n > maxReasons {
		t.Fatalf("a flood of fresh reasons grew the map to %d, want at most %d", n, maxReasons)
	}

	// Once the window has passed, the stale entries make way at once.
	later := testNow.Add(time.Minute)
	for i := range maxReasons {
		d.ShouldAnnounce("s"+strconv.Itoa(i), later)
	}
	for reason, last := range d.last {
		if last.Equal(testNow) {
			t.Fatalf("stale reason %q survived a full map", reason)
		}
	}
}

func TestDeduperKeepsFreshReasonsWhilePruning(t *testing.T) {
	d := NewDeduper(30 * time.Second)
	for i := range maxReasons - 1 {
		d.ShouldAnnounce("old"+strconv.Itoa(i), testNow)
	}
	d.ShouldAnnounce("fresh", testNow.Add(50*time.Second))

	// The map is full: this call prunes the old reasons, not the fresh one.
	d.ShouldAnnounce("trigger", testNow.Add(55*time.Second))
	if n := len(d.last); n != 2 {
		t.Fatalf("after pruning %d reasons remain, want fresh and trigger", n)
	}
	if d.ShouldAnnounce("fresh", testNow.Add(56*time.Second)) {
		t.Fatal("pruning forgot a reason still inside its window")
	}
}

func TestDeduperConcurrentCallersAnnounceOnce(t *testing.T) {
	d := NewDeduper(30 * time.Second)
	var announced atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Out-of-order clocks, as concurrent callers read them.
			if d.ShouldAnnounce("p:a->b:429", testNow.Add(time.Duration(i)*time.Millisecond)) {
				announced.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := announced.Load(); n != 1 {
		t.Fatalf("%d concurrent callers announced, want exactly 1", n)
	}
}
