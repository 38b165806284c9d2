package failover

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/latchkeyproxy/latchkey/bodycodec"
)

// ReadBody reads the start of a response body for Classify and hands back a
// replay reader, so the caller can still forward the body unchanged.
//
// At most MaxBody bytes are read from body, and at most MaxBody decoded
// bytes are returned; a body cut at either bound is not an error, since the
// markers Classify looks for sit at the start of an error body. The codings
// come from the Content-Encoding header.
//
// replay is never nil, even with an error: it yields the original bytes
// exactly as received, still encoded — the bytes read so far followed by
// the rest of body — and closing it closes body. err reports a body that
// could not be read or decoded; decoded then holds what was decoded before
// the failure, and the caller should forward replay and classify on the
// status alone.
//
// ReadBody blocks until MaxBody bytes or the end of the body arrive, so it
// is meant for the short error answers NeedsBody selects.
func ReadBody(header http.Header, body io.ReadCloser) (
	decoded []byte, replay io.ReadCloser, err error,
) {
	if body == nil || body == http.NoBody {
		return nil, http.NoBody, nil
	}

	// Everything taken from body is kept in raw, whether the decoder asked
	// for it or not, so replay can put it back in front of the rest.
	var raw bytes.Buffer
	src := &errRecorder{r: body}
	tee := io.TeeReader(io.LimitReader(src, MaxBody), &raw)
	replayOf := func() io.ReadCloser {
		return &replayBody{
			Reader: io.MultiReader(bytes.NewReader(raw.Bytes()), body),
			body:   body,
		}
	}

	ce := strings.Join(header.Values("Content-Encoding"), ",")
	if bodycodec.Identity(ce) {
		if _, err := io.Copy(io.Discard, tee); err != nil {
			err = fmt.Errorf("reading response body: %w", err)
			return bytes.Clone(raw.Bytes()), replayOf(), err
		}
		// A copy, so a caller that edits decoded cannot change the replay.
		return bytes.Clone(raw.Bytes()), replayOf(), nil
	}

	// Nothing is read for a coding that cannot be decoded, so the replay is
	// simply the untouched body.
	if !bodycodec.Supported(ce) {
		return nil, replayOf(),
			fmt.Errorf("decoding response body: unsupported content encoding %q", ce)
	}

	// The decoder gets a body it cannot close: closing is replay's job.
	dec, err := bodycodec.NewReader(ce, io.NopCloser(tee))
	if err != nil {
		return nil, replayOf(), decodeError(src.err, raw.Len(), err)
	}
	decoded, err = io.ReadAll(io.LimitReader(dec, MaxBody))
	dec.Close()
	if err != nil {
		return decoded, replayOf(), decodeError(src.err, raw.Len(), err)
	}
	return decoded, replayOf(), nil
}

// decodeError turns a decoding failure into ReadBody's error. A failure of
// body itself is reported as a read error. Otherwise it is no error when it
// only reflects a cut: an empty body has nothing to decode, and a body
// stopped at MaxBody raw bytes ends mid-stream by design.
func decodeError(readErr error, rawLen int, err error) error {
	switch {
	case readErr != nil:
		return fmt.Errorf("reading response body: %w", readErr)
	case rawLen == 0 || rawLen >= MaxBody:
		return nil
	}
	return fmt.Errorf("decoding response body: %w", err)
}

// errRecorder remembers the first error, other than io.EOF, that the
// original body returned. The decoders flatten the errors they pass on, so
// this is how a broken connection is told apart from a corrupt encoding.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// replayBody reads the saved prefix and then the rest of the original body,
// and closes the original body.
type replayBody struct {
	io.Reader
	body io.Closer
}

// Close closes the original body.
func (r *replayBody) Close() error {
	return r.body.Close()
}
