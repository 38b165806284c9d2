package proxy

import (
	"bytes"
	"io"
	"sync"
)

// DefaultRetryBodyLimit is the largest request body kept so that a request
// can be replayed on another pool member.
const DefaultRetryBodyLimit = 4 << 20

// replayBody passes a request body through while keeping a copy of it, up
// to a limit, so the request can be sent again. The transport reads it in
// its own goroutine, hence the lock.
type replayBody struct {
	mu       sync.Mutex
	src      io.ReadCloser
	kept     bytes.Buffer
	limit    int64
	overflow bool
	eof      bool
}

// newReplayBody keeps src for a replay. length is its declared length (-1
// when unknown): a body declared longer than the limit would overflow it
// anyway, so none of it is kept, which spares copying up to limit bytes.
func newReplayBody(src io.ReadCloser, length, limit int64) *replayBody {
	return &replayBody{src: src, limit: limit, overflow: length > limit}
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.src.Read(p)
	if !b.overflow {
		if int64(b.kept.Len()+n) > b.limit {
			b.overflow = true
			b.kept = bytes.Buffer{}
		} else {
			b.kept.Write(p[:n])
		}
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *replayBody) Close() error { return b.src.Close() }

// replayable reports whether the whole body was read and kept, which is
// when the request can be sent again. A body the upstream answered before
// reading in full cannot be: the transport may still be reading it.
func (b *replayBody) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof && !b.overflow
}

// reader returns a fresh reader over the kept body.
func (b *replayBody) reader() io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	return io.NopCloser(bytes.NewReader(b.kept.Bytes()))
}
