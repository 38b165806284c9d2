// Package failover decides what one upstream answer means for the pool
// member that served it, and how a resulting switch is announced.
//
// Everything here is a pure function of its inputs: Classify reads only the
// response it is given and the clock value passed in, the notice builders
// only format strings, and the Deduper keeps only the times it was told.
// The pool engine owns the state and the I/O; keeping the judgement apart
// lets it be tested row by row against SPEC section 8 and fuzzed without a
// network.
package failover
