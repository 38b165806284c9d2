package proxy

import (
	"fmt"
	"net/http"

	"github.com/latchkeyproxy/latchkey/bodycodec"
)

// modifyResponse replaces real secrets that the upstream echoes, in headers
// and body, with their phantoms. An encoded body is decoded first; one in
// an encoding latchkey cannot read is refused rather than passed on,
// because it might hold a secret.
func modifyResponse(resp *http.Response) error {
	x := exchangeOf(resp.Request)
	if x.passthrough {
		return nil
	}
	rep := x.plan.Response
	if rep.Empty() {
		return nil
	}

	for _, values := range resp.Header {
		for i, v := range values {
			values[i], _ = rep.Replace(v)
		}
	}

	// A switched protocol's body is the raw connection, and responses to
	// HEAD and 204/304 have none.
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil ||
		resp.Body == http.NoBody || resp.Request.Method == http.MethodHead ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return nil
	}

	length := resp.ContentLength
	if ce := resp.Header.Get("Content-Encoding"); !bodycodec.Identity(ce) {
		decoded, err := bodycodec.NewReader(ce, resp.Body)
		if err != nil {
			resp.Body.Close()
			return fmt.Errorf("cannot inspect response body: %v", err)
		}
		resp.Body = decoded
		resp.Header.Del("Content-Encoding")
		length = -1
	}

	body, n, err := swapBody(resp.Body, length, rep, nil)
	if err != nil {
		return err
	}
	resp.Body = body
	resp.ContentLength = n
	if n >= 0 {
		resp.Header.Set("Content-Length", itoa(n))
	} else {
		resp.Header.Del("Content-Length")
	}
	return nil
}
