package pdk

import "unsafe"

// GetCopy is Get with the value copied out of the batch's memory, so that
// it stays valid after Validate returns. Use it for every string that
// outlives the call or is stored: a value kept in the plugin, and every
// map key that is written — not only the first insert. Go's map
// assignment stores the key it is given again even when an equal key is
// already there (m[k] = v, m[k]++, m[k] += x all do), so a borrowed key
// written into an entry that was made with a copy makes that entry's key
// a view of this batch again, and it changes under the map when the next
// batch arrives. Reading with a borrowed key (m[k], v, ok := m[k],
// delete(m, k)) is safe.
func (c Strings) GetCopy(i int) (string, bool) {
	s, ok := c.Get(i)
	if len(s) == 0 {
		return "", ok
	}
	b := make([]byte, len(s)) // strings.Clone, without importing strings into every guest
	copy(b, s)
	return unsafe.String(&b[0], len(b)), ok
}
