package imapmsg

import (
	"bufio"
	"io"
)

// The decoders here never fail on bad input: they skip what they cannot
// read, the way mail clients do. They must also be deterministic, because
// BINARY counts the decoded length in one pass and sends the bytes in a
// second, and the literal announced must be exactly what follows.

// decoder undoes the Content-Transfer-Encoding enc (lower case, "" for the
// 7bit default) of r.
func decoder(enc string, r io.Reader) (io.Reader, error) {
	switch {
	case identityCTE(enc):
		return r, nil
	case enc == "base64":
		return newBase64Reader(r), nil
	case enc == "quoted-printable":
		return newQPReader(r), nil
	}
	return nil, ErrUnknownCTE
}

// identityCTE reports an encoding that leaves the bytes as they are
// (RFC 2045 6.2).
func identityCTE(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

const (
	b64Invalid = 0xff
	b64Pad     = 0xfe
)

// b64Table maps a byte to its base64 value (RFC 2045 6.8, table 1).
var b64Table = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	t['='] = b64Pad
	return t
}()

// base64Reader decodes base64 leniently. RFC 2045 6.8: characters outside
// the alphabet are ignored (line breaks, and whatever a broken mailer put
// there). A "=" ends the current quantum; decoding goes on after it, which
// reads concatenated base64 blocks whole.
type base64Reader struct {
	src  io.Reader
	in   []byte
	out  []byte
	pos  int
	acc  uint32
	nacc int
	err  error
}

func newBase64Reader(r io.Reader) *base64Reader {
	return &base64Reader{src: r, in: make([]byte, 8<<10), out: make([]byte, 0, 6<<10+3)}
}

func (r *base64Reader) Read(p []byte) (int, error) {
	for r.pos == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		r.out, r.pos = r.out[:0], 0
		n, err := r.src.Read(r.in)
		for _, c := range r.in[:n] {
			switch v := b64Table[c]; v {
			case b64Invalid:
			case b64Pad:
				r.flush()
			default:
				r.acc = r.acc<<6 | uint32(v)
				if r.nacc++; r.nacc == 4 {
					r.out = append(r.out, byte(r.acc>>16), byte(r.acc>>8), byte(r.acc))
					r.acc, r.nacc = 0, 0
				}
			}
		}
		if err != nil {
			r.flush()
			r.err = err
		}
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}

// flush emits the bytes of an incomplete quantum: two characters carry one
// byte, three carry two; a lone character carries nothing.
func (r *base64Reader) flush() {
	switch r.nacc {
	case 2:
		r.out = append(r.out, byte(r.acc>>4))
	case 3:
		r.out = append(r.out, byte(r.acc>>10), byte(r.acc>>2))
	}
	r.acc, r.nacc = 0, 0
}

// maxQPSpace bounds the white space a quoted-printable decoder holds back
// while it cannot tell whether it ends the line (RFC 2045 6.7 rule 3:
// trailing white space is padding to delete) or not.
const maxQPSpace = 256

// qpReader decodes quoted-printable (RFC 2045 6.7) leniently: "=" followed
// by two hex digits (either case) is an octet, "=" followed by white space
// and the line end is a soft line break, any other "=" is itself; white
// space at the end of a line is dropped. Line breaks are kept as written.
type qpReader struct {
	br  *bufio.Reader
	out []byte
	pos int
	ws  []byte
	err error
}

func newQPReader(r io.Reader) *qpReader {
	return &qpReader{br: bufio.NewReaderSize(r, 4<<10), out: make([]byte, 0, 4<<10+maxQPSpace+4)}
}

func (r *qpReader) Read(p []byte) (int, error) {
	for r.pos == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		r.out, r.pos = r.out[:0], 0
		r.fill()
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}

func (r *qpReader) fill() {
	for len(r.out) < 4<<10 {
		c, err := r.br.ReadByte()
		if err != nil {
			r.ws = r.ws[:0] // white space at the end of the text ends a line
			r.err = err
			return
		}
		switch c {
		case ' ', '\t':
			if len(r.ws) == maxQPSpace {
				r.flushSpace()
			}
			r.ws = append(r.ws, c)
		case '\n':
			r.ws = r.ws[:0]
			r.out = append(r.out, c)
		case '\r':
			if next, _ := r.br.Peek(1); len(next) == 1 && next[0] == '\n' {
				r.br.Discard(1)
				r.ws = r.ws[:0]
				r.out = append(r.out, '\r', '\n')
				continue
			}
			r.flushSpace()
			r.out = append(r.out, c)
		case '=':
			r.flushSpace()
			r.escape()
		default:
			r.flushSpace()
			r.out = append(r.out, c)
		}
	}
}

func (r *qpReader) flushSpace() {
	r.out = append(r.out, r.ws...)
	r.ws = r.ws[:0]
}

// escape reads what follows a "=".
func (r *qpReader) escape() {
	if h, _ := r.br.Peek(2); len(h) == 2 && unhex(h[0]) < 16 && unhex(h[1]) < 16 {
		r.out = append(r.out, unhex(h[0])<<4|unhex(h[1]))
		r.br.Discard(2)
		return
	}
	// A soft line break, perhaps with padding white space before it. Peek
	// returns fewer bytes than asked only at the end of the input.
	const want = maxQPSpace + 2
	h, _ := r.br.Peek(want)
	i := 0
	for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
		i++
	}
	switch {
	case i < len(h) && h[i] == '\n':
		r.br.Discard(i + 1)
	case i+1 < len(h) && h[i] == '\r' && h[i+1] == '\n':
		r.br.Discard(i + 2)
	case i == len(h) && len(h) < want:
		r.br.Discard(i)
	default:
		r.out = append(r.out, '=')
	}
}

// unhex is the value of a hex digit, or 16 for any other byte.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 16
}
