// Package swap replaces a fixed set of byte patterns in strings and in
// streams.
//
// The proxy uses it in both directions: on requests it turns the phantom
// tokens an agent holds into the real secrets (or strips phantoms that are
// not bound to the destination), and on responses it turns any echoed real
// secret back into its phantom so the agent never sees it.
//
// Matching is leftmost-longest: the scan moves left to right, at each
// position the longest pattern that matches wins, matches never overlap and
// replacement output is never scanned again. The streaming [Reader] and
// [Writer] give exactly the result [Replacer.Replace] gives on the whole
// input, however the input is split into reads or writes, while holding
// back only bytes that could still be the start of a pattern.
package swap
