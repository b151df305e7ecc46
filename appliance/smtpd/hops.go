package smtpd

import "io"

// MaxHops is the number of Received fields a message may carry. More
// means it has gone round in circles (two servers forwarding to each
// other), and accepting it would keep the loop going. RFC 5321 6.3: count
// Received fields, with a threshold of normally at least 100.
const MaxHops = 100

// errTooManyHops: permanent, since the same message loops the same way
// again; 5.4.6 is "routing loop detected" (RFC 3463).
var errTooManyHops = reply(554, 5, 4, 6, "Too many Received fields: a mail loop")

// hopReader passes a message through and counts the Received fields of
// its header as they stream by, failing the read with errTooManyHops once
// there are more than max. It looks at the header only, one byte at a
// time, and then steps aside: the body costs one comparison per Read.
type hopReader struct {
	r       io.Reader
	max     int
	hops    int
	lineLen int  // bytes on the current line, CR not counted
	match   int  // how much of "received:" the line starts with
	body    bool // the blank line after the header has passed
}

const receivedField = "received:"

func (h *hopReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if h.body {
		return n, err
	}
	for _, b := range p[:n] {
		switch b {
		case '\n':
			if h.lineLen == 0 {
				h.body = true
				return n, err
			}
			h.lineLen, h.match = 0, 0
			continue
		case '\r':
			continue
		}
		if h.match == h.lineLen && h.match < len(receivedField) && lower(b) == receivedField[h.match] {
			h.match++
			if h.match == len(receivedField) {
				if h.hops++; h.hops > h.max {
					return n, errTooManyHops
				}
			}
		}
		h.lineLen++
	}
	return n, err
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
