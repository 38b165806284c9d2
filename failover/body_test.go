package failover

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
)

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zlibbed(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func rawDeflated(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func noise(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// trackedBody is a response body that counts what was taken from it and
// whether it was closed.
type trackedBody struct {
	r      io.Reader
	read   int
	closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *trackedBody) Close() error {
	b.closed = true
	return nil
}

func ceHeader(values ...string) http.Header {
	h := make(http.Header)
	for _, v := range values {
		h.Add("Content-Encoding", v)
	}
	return h
}

func TestReadBodyReplaysTheOriginalBytes(t *testing.T) {
	quota := []byte(openAIQuota)
	big := noise(3*MaxBody + 17)
	tests := []struct {
		name        string
		header      http.Header
		wire        []byte // what the upstream sent
		wantDecoded []byte
		// prefixOnly accepts a decoded prefix of wantDecoded: an incompressible
		// body hits the MaxBody bound on raw bytes a little before the bound
		// on decoded ones.
		prefixOnly bool
	}{
		{"identity body", nil, quota, quota, false},
		{"explicit identity coding", ceHeader("identity"), quota, quota, false},
		{"empty body", nil, nil, nil, false},
		{"gzip body", ceHeader("gzip"), gzipped(t, quota), quota, false},
		{"zlib deflate body", ceHeader("deflate"), zlibbed(t, quota), quota, false},
		{"raw deflate body", ceHeader("deflate"), rawDeflated(t, quota), quota, false},
		{
			"two codings in two header lines",
			ceHeader("deflate", "gzip"), gzipped(t, zlibbed(t, quota)), quota, false,
		},
		{"identity body longer than MaxBody", nil, big, big[:MaxBody], false},
		{"gzip body longer than MaxBody", ceHeader("gzip"), gzipped(t, big), big[:MaxBody], true},
		{
			"gzip body decoding past MaxBody",
			ceHeader("gzip"), gzipped(t, bytes.Repeat(quota, 4*MaxBody/len(quota))),
			bytes.Repeat(quota, 4*MaxBody/len(quota))[:MaxBody], false,
		},
		{"empty gzip body", ceHeader("gzip"), nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &trackedBody{r: bytes.NewReader(tt.wire)}
			decoded, replay, err := ReadBody(tt.header, body)
			if err != nil {
				t.Fatalf("ReadBody error: %v", err)
			}
			want := tt.wantDecoded
			if tt.prefixOnly && len(decoded) > MaxBody/2 && len(decoded) <= len(want) {
				want = want[:len(decoded)]
			}
			if !bytes.Equal(decoded, want) {
				t.Fatalf("decoded %d bytes %.40q, want %d bytes %.40q",
					len(decoded), decoded, len(tt.wantDecoded), tt.wantDecoded)
			}
			if body.read > MaxBody {
				t.Fatalf("read %d bytes before replay, want at most MaxBody", body.read)
			}
			assertReplay(t, replay, body, tt.wire)
		})
	}
}

// assertReplay checks that replay yields wire exactly and closes body.
func assertReplay(t *testing.T, replay io.ReadCloser, body *trackedBody, wire []byte) {
	t.Helper()
	got, err := io.ReadAll(replay)
	if err != nil {
		t.Fatalf("reading replay: %v", err)
	}
	if !bytes.Equal(got, wire) {
		t.Fatalf("replay gave %d bytes, want the %d original bytes unchanged", len(got), len(wire))
	}
	if err := replay.Close(); err != nil {
		t.Fatalf("closing replay: %v", err)
	}
	if !body.closed {
		t.Fatal("closing replay did not close the original body")
	}
}

func TestReadBodyGzipQuotaClassifies(t *testing.T) {
	wire := gzipped(t, []byte(openAIQuota))
	body := &trackedBody{r: bytes.NewReader(wire)}
	decoded, replay, err := ReadBody(ceHeader("gzip"), body)
	if err != nil {
		t.Fatal(err)
	}
	v := Classify(Response{Status: 403, Body: decoded}, testNow, 0)
	if v.Kind != RateLimited || v.Tag != "403" {
		t.Fatalf("gzip 403 insufficient_quota classified as {%v %q}, want {RateLimited \"403\"}",
			v.Kind, v.Tag)
	}
	assertReplay(t, replay, body, wire)
}

func TestReadBodyDecodedIsACopy(t *testing.T) {
	wire := []byte(openAIQuota)
	decoded, replay, _ := ReadBody(nil, io.NopCloser(bytes.NewReader(bytes.Clone(wire))))
	for i := range decoded {
		decoded[i] = 'x'
	}
	got, _ := io.ReadAll(replay)
	if !bytes.Equal(got, wire) {
		t.Fatal("editing decoded changed the replay")
	}
}

func TestReadBodyStopsOnEndlessBodies(t *testing.T) {
	// An endless gzip stream of empty stored deflate blocks decodes to
	// nothing, so only the bound on raw bytes can stop the read.
	emptyBlock := []byte{0x00, 0x00, 0x00, 0xff, 0xff}
	endless := &trackedBody{r: io.MultiReader(
		bytes.NewReader(gzipped(t, nil)[:10]), // the gzip header
		&repeatReader{pattern: emptyBlock},
	)}
	decoded, replay, err := ReadBody(ceHeader("gzip"), endless)
	if err != nil || len(decoded) != 0 || endless.read != MaxBody {
		t.Fatalf("endless gzip body: %d decoded, %d read, err %v; want 0, MaxBody, nil",
			len(decoded), endless.read, err)
	}
	prefix := make([]byte, MaxBody+len(emptyBlock))
	if _, err := io.ReadFull(replay, prefix); err != nil {
		t.Fatalf("replay of an endless body stopped: %v", err)
	}

	plain := &trackedBody{r: &repeatReader{pattern: []byte("x")}}
	decoded, _, err = ReadBody(nil, plain)
	if err != nil || len(decoded) != MaxBody || plain.read != MaxBody {
		t.Fatalf("endless identity body: %d decoded, %d read, err %v; want MaxBody, MaxBody, nil",
			len(decoded), plain.read, err)
	}
}

// repeatReader yields pattern over and over, forever.
type repeatReader struct {
	pattern []byte
	off     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.pattern[r.off]
		r.off = (r.off + 1) % len(r.pattern)
	}
	return len(p), nil
}

func TestReadBodyFailuresStillReplay(t *testing.T) {
	quota := []byte(openAIQuota)
	corrupt := gzipped(t, quota)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name   string
		header http.Header
		wire   []byte
	}{
		{"unsupported coding", ceHeader("compress"), quota},
		{"not gzip at all", ceHeader("gzip"), quota},
		{"corrupt gzip", ceHeader("gzip"), corrupt},
		{"gzip cut short", ceHeader("gzip"), gzipped(t, quota)[:20]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &trackedBody{r: bytes.NewReader(tt.wire)}
			_, replay, err := ReadBody(tt.header, body)
			if err == nil {
				t.Fatal("ReadBody returned no error")
			}
			assertReplay(t, replay, body, tt.wire)
		})
	}
}

func TestReadBodyReportsABrokenConnection(t *testing.T) {
	broken := errors.New("connection reset")
	for _, h := range []http.Header{nil, ceHeader("gzip")} {
		wire := gzipped(t, []byte(openAIQuota))[:12]
		body := &trackedBody{r: io.MultiReader(bytes.NewReader(wire), errReader{broken})}
		_, replay, err := ReadBody(h, body)
		if !errors.Is(err, broken) {
			t.Fatalf("Content-Encoding %q: err = %v, want the body's read error",
				h.Get("Content-Encoding"), err)
		}
		got, _ := io.ReadAll(replay)
		if !bytes.Equal(got, wire) {
			t.Fatalf("replay gave %q, want the %d bytes read before the failure", got, len(wire))
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReadBodyWithoutBody(t *testing.T) {
	for _, b := range []io.ReadCloser{nil, http.NoBody} {
		decoded, replay, err := ReadBody(nil, b)
		if decoded != nil || replay != http.NoBody || err != nil {
			t.Fatalf("ReadBody(%v) = %q, %v, %v; want nil, NoBody, nil", b, decoded, replay, err)
		}
	}
}
