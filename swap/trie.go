package swap

import "bytes"

// node is a node of a radix tree of the patterns. Walking it from one
// position of the input finds the longest pattern that matches there, and
// tells whether the input so far is only the start of a longer pattern,
// in time proportional to the bytes compared rather than to the number of
// patterns.
type node struct {
	label string  // bytes on the edge into the node; empty only at the root
	pair  int     // index of the pair whose Old ends here, or -1
	keys  []byte  // first byte of each child's label, parallel to kids
	kids  []*node // children; their labels start with distinct bytes
}

// child returns the child whose label starts with c, or nil.
func (n *node) child(c byte) *node {
	if i := bytes.IndexByte(n.keys, c); i >= 0 {
		return n.kids[i]
	}
	return nil
}

// insert adds the pattern old for pair idx below root. A pattern already
// present keeps its first pair, so duplicates resolve to the earliest pair.
func insert(root *node, old string, idx int) {
	n := root
	for old != "" {
		c := n.child(old[0])
		if c == nil {
			n.keys = append(n.keys, old[0])
			n.kids = append(n.kids, &node{label: old, pair: idx})
			return
		}
		k := commonPrefix(c.label, old)
		if k < len(c.label) {
			// Split the edge so the shared part becomes its own node.
			mid := &node{label: c.label[:k], pair: -1}
			c.label = c.label[k:]
			mid.keys = []byte{c.label[0]}
			mid.kids = []*node{c}
			n.kids[bytes.IndexByte(n.keys, old[0])] = mid
			c = mid
		}
		n = c
		old = old[k:]
	}
	if n.pair < 0 {
		n.pair = idx
	}
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
