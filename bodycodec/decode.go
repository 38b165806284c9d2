// Package bodycodec decodes HTTP bodies by their Content-Encoding, so that
// latchkey can look inside compressed responses and requests.
package bodycodec

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Identity reports whether a Content-Encoding value means the body is not
// encoded at all.
func Identity(contentEncoding string) bool {
	ce := strings.TrimSpace(contentEncoding)
	return ce == "" || strings.EqualFold(ce, "identity")
}

// Supported reports whether every coding listed in contentEncoding can be
// decoded.
func Supported(contentEncoding string) bool {
	for _, c := range codings(contentEncoding) {
		if !known(c) {
			return false
		}
	}
	return true
}

// NewReader returns a reader that decodes body, whose codings are listed in
// contentEncoding in the order they were applied (RFC 9110 section 8.4).
// Closing the reader closes body. An unsupported coding is an error.
func NewReader(contentEncoding string, body io.ReadCloser) (io.ReadCloser, error) {
	cs := codings(contentEncoding)
	var r io.Reader = body
	for i := len(cs) - 1; i >= 0; i-- {
		var err error
		if r, err = decoder(cs[i], r); err != nil {
			return nil, err
		}
	}
	return &decodedBody{Reader: r, body: body}, nil
}

// codings splits a Content-Encoding value into lower-case codings, leaving
// out "identity".
func codings(contentEncoding string) []string {
	var out []string
	for _, c := range strings.Split(contentEncoding, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c != "" && c != "identity" {
			out = append(out, c)
		}
	}
	return out
}

func known(coding string) bool {
	switch coding {
	case "gzip", "x-gzip", "deflate", "br", "zstd":
		return true
	}
	return false
}

// decoder returns a reader that undoes one coding.
func decoder(coding string, r io.Reader) (io.Reader, error) {
	switch coding {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decoding gzip: %v", err)
		}
		return zr, nil
	case "deflate":
		return newDeflateReader(r)
	case "br":
		return brotli.NewReader(r), nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, fmt.Errorf("decoding zstd: %v", err)
		}
		return zr.IOReadCloser(), nil
	default:
		return nil, fmt.Errorf("unsupported content encoding %q", coding)
	}
}

// newDeflateReader decodes "deflate", which RFC 9110 defines as zlib but
// which some servers send as a raw deflate stream; the zlib header tells
// them apart.
func newDeflateReader(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("decoding deflate: %v", err)
	}
	if head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		zr, err := zlib.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decoding deflate: %v", err)
		}
		return zr, nil
	}
	return flate.NewReader(br), nil
}

// decodedBody closes the original body, and any decoder that holds
// resources, when it is closed.
type decodedBody struct {
	io.Reader
	body io.Closer
}

func (d *decodedBody) Close() error {
	if c, ok := d.Reader.(io.Closer); ok {
		c.Close()
	}
	return d.body.Close()
}
