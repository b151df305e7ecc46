package imapmsg

import "postroom/storage"

// HasPart reports whether a message has the part a part path names (an
// empty path is the whole message). FETCH answers a missing part with an
// empty string; an IMAP URL naming one is refused (RFC 4469 5's BADURL).
func HasPart(root *storage.Part, path []int) bool {
	return len(path) == 0 || locate(root, path) != nil
}
