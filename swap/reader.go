package swap

import "io"

// directMin is the smallest caller buffer a Reader reads its source into
// directly. Smaller buffers go through the Reader's own buffer so that a
// caller reading a few bytes at a time does not turn into as many reads of
// the source.
const directMin = 4 << 10

// Reader yields its source with the patterns of a [Replacer] replaced. It
// holds back only input that could be the start of a pattern, and its
// memory is bounded by about 32 KiB plus twice the longest pattern whatever
// the length of the stream. A Reader is not safe for concurrent use, except
// that Close may be called while a Read is in progress, as net/http does
// with request bodies.
type Reader struct {
	r   *Replacer
	src io.ReadCloser

	// buf[start:end] is input read from src and not yet replaced. The
	// buffer is taken from the Replacer's pool on first need and given back
	// when the source is exhausted.
	bufp       *[]byte
	buf        []byte
	start, end int

	rep      string  // rest of a replacement that did not fit in the last Read
	noDirect bool    // a direct read met a possible pattern; stop trying them
	err      error   // sticky error from src, io.EOF included
	matched  Matches // pairs replaced so far
}

// NewReader returns a reader that yields src with the patterns replaced,
// streaming with bounded memory and never buffering the whole body. Data
// that cannot be the start of a pattern is delivered as soon as src returns
// it, so a slow stream such as server-sent events does not stall waiting
// for a full buffer. Close closes src.
func (r *Replacer) NewReader(src io.ReadCloser) *Reader {
	return &Reader{r: r, src: src}
}

// Read reads replaced data into p. It returns as soon as it has something
// to give, calling src again only when everything it holds could still be
// the start of a pattern. At the end of src the held-back bytes are
// delivered as they are, or replaced by a shorter pattern that matches
// them. After an error other than io.EOF, held-back bytes are dropped: the
// stream is broken anyway, and they may be the start of a secret.
func (rd *Reader) Read(p []byte) (int, error) {
	if rd.r.count == 0 {
		return rd.src.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if n := rd.emit(p); n > 0 {
			return n, nil
		}
		if rd.err != nil {
			rd.release()
			return 0, rd.err
		}
		var got int
		if rd.start == rd.end && len(p) >= directMin && !rd.noDirect {
			var n int
			if n, got = rd.readDirect(p); n > 0 {
				return n, nil
			}
		} else {
			got = rd.fill()
		}
		if got == 0 && rd.err == nil {
			// The source made no progress; let the caller decide whether
			// to retry, rather than spinning here.
			return 0, nil
		}
	}
}

// emit copies into p the pending replacement and then as much replaced
// input as can be decided now, and returns the number of bytes copied.
func (rd *Reader) emit(p []byte) int {
	n := copy(p, rd.rep)
	rd.rep = rd.rep[n:]
	if rd.rep != "" {
		return n
	}
	atEOF := rd.err == io.EOF
	b := rd.buf[:rd.end]
	for n < len(p) && rd.start < rd.end {
		// Candidates are looked for only as far as p has room, so that no
		// stretch of input is scanned twice.
		limit := min(rd.end, rd.start+len(p)-n)
		j, idx, size, ev := rd.r.find(b, rd.start, limit, atEOF)
		n += copy(p[n:], b[rd.start:j])
		rd.start = j
		switch ev {
		case partial:
			return n
		case found:
			rd.matched.set(idx)
			rd.start += size
			s := rd.r.news[idx]
			c := copy(p[n:], s)
			n += c
			if c < len(s) {
				rd.rep = s[c:]
				return n
			}
		}
	}
	return n
}

// readDirect reads src straight into p, saving a copy for the usual input
// in which no pattern starts. From the first possible pattern on, the data
// moves to the Reader's buffer to be replaced by later calls, and the
// Reader stops reading directly: a stream with one pattern often has more,
// and moving the rest of every read would cost more than it saves. It
// returns the number of bytes ready in p and the number read from src.
// Bytes past the first count may hold raw input, as io.Reader allows.
func (rd *Reader) readDirect(p []byte) (ready, got int) {
	q := p[:min(len(p), readSize)]
	got, err := rd.src.Read(q)
	if err != nil {
		rd.err = err
	}
	if got <= 0 {
		return 0, 0
	}
	j, _, _, ev := rd.r.find(q[:got], 0, got, rd.err == io.EOF)
	if ev == none {
		return got, got
	}
	rd.noDirect = true
	rd.grab()
	rd.start, rd.end = 0, copy(rd.buf, q[j:got])
	return j, got
}

// fill reads more of src behind the held-back bytes and returns how many
// it read. It is called only when all buffered input is a possible pattern
// start, which is shorter than the longest pattern, so the buffer always
// has room for a full read.
func (rd *Reader) fill() int {
	rd.grab()
	if rd.start > 0 {
		rd.end = copy(rd.buf, rd.buf[rd.start:rd.end])
		rd.start = 0
	}
	n, err := rd.src.Read(rd.buf[rd.end:])
	if err != nil {
		rd.err = err
	}
	if n < 0 {
		n = 0
	}
	rd.end += n
	return n
}

// grab makes sure the Reader has a buffer.
func (rd *Reader) grab() {
	if rd.bufp == nil {
		rd.bufp = rd.r.getBuf()
		rd.buf = *rd.bufp
	}
}

// release gives the buffer back to the Replacer once src is done, so the
// next request reuses it instead of allocating.
func (rd *Reader) release() {
	if rd.bufp != nil {
		rd.r.bufs.Put(rd.bufp)
		rd.bufp, rd.buf = nil, nil
		rd.start, rd.end = 0, 0
	}
}

// Matched reports which pairs have been replaced so far. After io.EOF it
// covers the whole stream.
func (rd *Reader) Matched() Matches {
	return rd.matched.clone()
}

// Close closes the source. It does not touch the Reader's own state, so it
// is safe to call while another goroutine is in Read.
func (rd *Reader) Close() error {
	return rd.src.Close()
}
