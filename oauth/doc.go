// Package oauth holds the pure byte-level pieces of latchkey's OAuth
// handling: the probe that finds the grant in a token request, the splice
// that swaps a refresh phantom for the real refresh token, the parser and
// rewriter of token responses, and the phantom JWTs handed to agents.
//
// Nothing here does I/O beyond reading a body it is given, and nothing
// here knows about credentials or pools. Bodies are edited by splicing
// byte ranges rather than by decoding and re-encoding them, so everything
// latchkey does not mean to change reaches the other side byte for byte.
//
// Error strings never contain body bytes: a token request or response
// body may hold real secrets, and errors end up in logs.
package oauth
