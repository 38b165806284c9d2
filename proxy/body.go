package proxy

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/latchkeyproxy/latchkey/swap"
)

// bufferedBodyLimit is the largest body of known length that is swapped in
// memory. Such bodies keep an exact Content-Length, which some servers
// require; larger or unsized bodies are streamed and sent without one.
const bufferedBodyLimit = 64 << 10

// swapBody returns body with rep's patterns replaced and its new length
// (-1 when streamed). onDone receives the matches once the whole body has
// been read.
func swapBody(body io.ReadCloser, length int64, rep *swap.Replacer,
	onDone func(swap.Matches),
) (io.ReadCloser, int64, error) {
	if length >= 0 && length <= bufferedBodyLimit {
		raw, err := readUpTo(body, length+1)
		body.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("reading body: %v", err)
		}
		// Replace only reads its argument, and raw is not written to
		// again, so viewing it as a string saves copying the body.
		out, m := rep.Replace(unsafe.String(unsafe.SliceData(raw), len(raw)))
		if m.Any() && onDone != nil {
			onDone(m)
		}
		if len(out) == len(raw) && !m.Any() {
			return io.NopCloser(bytes.NewReader(raw)), int64(len(raw)), nil
		}
		return io.NopCloser(strings.NewReader(out)), int64(len(out)), nil
	}
	return &reportingReader{Reader: rep.NewReader(body), onDone: onDone}, -1, nil
}

// readUpTo reads r until io.EOF or until it has n bytes, as
// io.ReadAll(io.LimitReader(r, n)) does, into one buffer of n bytes instead
// of one grown as the data comes: the length of these bodies is known.
func readUpTo(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, n)
	for int64(len(buf)) < n {
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// reportingReader hands the matches of a streamed body to onDone when the
// body is closed.
type reportingReader struct {
	*swap.Reader
	onDone func(swap.Matches)
}

func (r *reportingReader) Close() error {
	err := r.Reader.Close()
	if m := r.Reader.Matched(); m.Any() && r.onDone != nil {
		r.onDone(m)
		r.onDone = nil
	}
	return err
}

// errBody fails every read with the error that made a body unusable.
type errBody struct{ err error }

func (b errBody) Read([]byte) (int, error) { return 0, b.err }
func (b errBody) Close() error             { return nil }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
