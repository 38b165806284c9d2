package swap

import (
	"errors"
	"io"
)

// errWriterClosed is returned by writes to a closed Writer.
var errWriterClosed = errors.New("swap: write to closed Writer")

// Writer writes to its destination with the patterns of a [Replacer]
// replaced. It holds back only the bytes at the end of the input so far
// that could be the start of a pattern, which are fewer than the longest
// pattern. A Writer is not safe for concurrent use.
type Writer struct {
	r   *Replacer
	dst io.Writer

	hold    []byte  // held-back tail; capacity twice the longest pattern
	matched Matches // pairs replaced so far
	err     error   // sticky error from dst, or errWriterClosed
}

// NewWriter returns a writer that writes to dst with the patterns replaced.
// Data is held back only as long as it could be the start of a pattern.
// Flush passes on dst's Flush, and Close writes the held-back tail; dst is
// never closed.
func (r *Replacer) NewWriter(dst io.Writer) *Writer {
	return &Writer{r: r, dst: dst}
}

// Write replaces the patterns in the input so far and writes to dst all of
// it that can be decided, which is everything but a possible pattern start
// at the very end. Input without candidates goes to dst in one write
// without being copied. Write reports len(p) on success and 0 with the
// error if a write to dst fails, after which the Writer is unusable.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.r.count == 0 {
		n, err := w.dst.Write(p)
		w.err = err
		return n, err
	}
	rest := p
	if h := len(w.hold); h > 0 {
		// Join the held-back tail with the start of p. The longest pattern
		// more is enough to decide every position of the tail.
		k := min(len(p), w.r.maxLen)
		w.hold = append(w.hold, p[:k]...)
		if k == len(p) {
			end, err := w.emit(w.hold, len(w.hold), false)
			if err != nil {
				return 0, err
			}
			w.hold = w.hold[:copy(w.hold, w.hold[end:])]
			return len(p), nil
		}
		end, err := w.emit(w.hold, h, false)
		if err != nil {
			return 0, err
		}
		w.hold = w.hold[:0]
		rest = p[end-h:]
	}
	end, err := w.emit(rest, len(rest), false)
	if err != nil {
		return 0, err
	}
	if end < len(rest) {
		if w.hold == nil {
			w.hold = make([]byte, 0, 2*w.r.maxLen)
		}
		w.hold = append(w.hold, rest[end:]...)
	}
	return len(p), nil
}

// emit writes to dst the replacement of b up to the first undecided
// position, looking for pattern starts before limit only. It returns where
// it stopped: limit, the end of a match that crossed limit, or the start
// of a possible pattern that b ends inside.
func (w *Writer) emit(b []byte, limit int, atEOF bool) (int, error) {
	from := 0
	for from < limit {
		j, idx, size, ev := w.r.find(b, from, limit, atEOF)
		if j > from {
			if err := w.write(b[from:j]); err != nil {
				return 0, err
			}
		}
		if ev != found {
			return j, nil
		}
		w.matched.set(idx)
		if err := w.write(w.r.newsB[idx]); err != nil {
			return 0, err
		}
		from = j + size
	}
	return from, nil
}

// write writes b to dst and makes any failure sticky.
func (w *Writer) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := w.dst.Write(b); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Flush makes sure everything that can be decided has reached dst, then
// calls dst's Flush if it has one, either as http.Flusher or with an error
// result like bufio.Writer. A server-sent event that does not end inside a
// possible pattern start is thus delivered at once. Held-back bytes stay
// held: sending them could split a secret across flushes. Flush may follow
// Close, to push the tail Close wrote.
func (w *Writer) Flush() error {
	if w.err != nil && w.err != errWriterClosed {
		return w.err
	}
	switch f := w.dst.(type) {
	case interface{ Flush() error }:
		if err := f.Flush(); err != nil {
			w.err = err
			return err
		}
	case interface{ Flush() }:
		f.Flush()
	}
	return nil
}

// Close writes the held-back tail, replacing any pattern that matches
// within it now that no more input can follow, and makes later writes
// fail. It does not close or flush dst. Closing twice is harmless.
func (w *Writer) Close() error {
	if w.err == errWriterClosed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	if len(w.hold) > 0 {
		if _, err := w.emit(w.hold, len(w.hold), true); err != nil {
			return err
		}
	}
	w.hold = nil
	w.err = errWriterClosed
	return nil
}

// Matched reports which pairs have been replaced so far. After Close it
// covers the whole stream.
func (w *Writer) Matched() Matches {
	return w.matched.clone()
}
