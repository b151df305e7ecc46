package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
)

// The file format. One backup is one file, BOX-TIME-KIND.pbk:
//
//	"postroom-backup 1\n"          plain: the format version
//	Header as one line of JSON      plain: lets the box and a person see
//	                                what a file is (box, time, kind, chain)
//	                                without the key
//	age-encrypted payload:
//	  "PRB1"
//	  'M' len Header(JSON)          the same header, now authenticated
//	  'F' len name mode len content one per file of the box (config.json,
//	                                tls/, dkim/); at most maxFile each
//	  'S' { len chunk } 0           the store's backup stream (storage.Backup),
//	                                in chunks, since its length is unknown
//	                                until it ends
//	  'Z' len Trailer(JSON)         the files' hashes and the store's Until
//
// age encrypts in 64 KiB chunks, each authenticated, the last one marked
// as last: a changed byte, a cut file and a wrong key are each told apart
// by the decryption itself, before any record is believed.

// FormatVersion is the version this program writes and the newest it reads.
const FormatVersion = 1

const (
	fileMagic    = "postroom-backup "
	payloadMagic = "PRB1"
	maxHeader    = 64 << 10
	maxFile      = 4 << 20
	chunkSize    = 64 << 10
	// Ext is the backups' file name extension.
	Ext = ".pbk"
)

// Kinds of backup.
const (
	KindFull        = "full"
	KindIncremental = "incr"
)

// Header describes one backup file.
type Header struct {
	Format  int       `json:"format"`
	Box     string    `json:"box"`  // the box's host name
	Name    string    `json:"name"` // the file's name
	Created time.Time `json:"created"`
	Kind    string    `json:"kind"`
	// Since is the store version the backup starts at (0: full); Parent
	// the previous file of its chain ("" for a full one).
	Since  uint64 `json:"since"`
	Parent string `json:"parent,omitempty"`
}

// Trailer ends the payload.
type Trailer struct {
	Until uint64            `json:"until"`
	Files map[string]string `json:"files"` // name -> SHA-256
}

// Errors a reader tells apart, for words on the page.
var (
	ErrNotBackup = errors.New("this is not a Postroom backup file")
	ErrNewer     = errors.New("this backup was made by a newer Postroom")
	ErrWrongKey  = errors.New("the key does not open this backup: it was made for another key")
	ErrDamaged   = errors.New("the backup file is damaged or cut short")
)

// writeHeader writes the plain part of the file.
func writeHeader(w io.Writer, h Header) error {
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%d\n%s\n", fileMagic, FormatVersion, js)
	return err
}

// readHeader reads the plain part of a file.
func readHeader(br *bufio.Reader) (Header, error) {
	var h Header
	line, err := br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte(fileMagic)) {
		return h, ErrNotBackup
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(line[len(fileMagic):])))
	if err != nil || v < 1 {
		return h, ErrNotBackup
	}
	if v > FormatVersion {
		return h, fmt.Errorf("%w (format %d; this one reads up to %d): update this box first, then restore", ErrNewer, v, FormatVersion)
	}
	var js []byte
	for {
		part, err := br.ReadSlice('\n')
		js = append(js, part...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) || len(js) > maxHeader {
			return h, fmt.Errorf("%w: its header is unreadable", ErrDamaged)
		}
	}
	if err := json.Unmarshal(js, &h); err != nil {
		return h, fmt.Errorf("%w: its header is unreadable", ErrDamaged)
	}
	return h, nil
}

// payloadWriter writes the records of the encrypted payload.
type payloadWriter struct {
	w     *bufio.Writer
	files map[string]string
}

func (p *payloadWriter) lv(b []byte) {
	var n [binary.MaxVarintLen64]byte
	p.w.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	p.w.Write(b)
}

func (p *payloadWriter) file(name string, mode uint32, content []byte) {
	p.w.WriteByte('F')
	p.lv([]byte(name))
	var n [binary.MaxVarintLen64]byte
	p.w.Write(n[:binary.PutUvarint(n[:], uint64(mode))])
	p.lv(content)
	s := sha256.Sum256(content)
	p.files[name] = hex.EncodeToString(s[:])
}

// chunker is the store section's writer: it cuts the stream into chunks.
type chunker struct {
	p   *payloadWriter
	buf []byte
}

func (c *chunker) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := min(chunkSize-len(c.buf), len(b))
		c.buf = append(c.buf, b[:k]...)
		b = b[k:]
		if len(c.buf) == chunkSize {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunker) flush() error {
	if len(c.buf) > 0 {
		c.p.lv(c.buf)
		c.buf = c.buf[:0]
	}
	// bufio keeps the first write error; report it as soon as it happens
	// (a full disk) instead of at the end.
	_, err := c.p.w.Write(nil)
	return err
}

// payloadReader reads the records back.
type payloadReader struct {
	br *bufio.Reader
}

// decrypt opens the payload after the plain header.
func decrypt(br *bufio.Reader, ids ...age.Identity) (*payloadReader, error) {
	r, err := age.Decrypt(br, ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, ErrWrongKey
		}
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	pr := &payloadReader{br: bufio.NewReaderSize(ageErrors{r}, 64<<10)}
	magic := make([]byte, len(payloadMagic))
	if _, err := io.ReadFull(pr.br, magic); err != nil {
		return nil, damaged(err)
	}
	if string(magic) != payloadMagic {
		return nil, fmt.Errorf("%w: the decrypted contents are not a backup's", ErrDamaged)
	}
	return pr, nil
}

// ageErrors turns age's read errors (a failed authentication, a missing
// last chunk) into ErrDamaged.
type ageErrors struct{ r io.Reader }

func (a ageErrors) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return n, err
}

func damaged(err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrDamaged, err)
}

func (p *payloadReader) lv(max uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(p.br)
	if err != nil {
		return nil, damaged(err)
	}
	if n > max {
		return nil, fmt.Errorf("%w: a record of %d bytes", ErrDamaged, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.br, b); err != nil {
		return nil, damaged(err)
	}
	return b, nil
}

// storeReader reads the chunks of the store section as one stream.
type storeReader struct {
	p    *payloadReader
	left int
	done bool
}

func (s *storeReader) Read(b []byte) (int, error) {
	for s.left == 0 {
		if s.done {
			return 0, io.EOF
		}
		n, err := binary.ReadUvarint(s.p.br)
		if err != nil {
			return 0, damaged(err)
		}
		if n > chunkSize {
			return 0, fmt.Errorf("%w: a chunk of %d bytes", ErrDamaged, n)
		}
		if n == 0 {
			s.done = true
			return 0, io.EOF
		}
		s.left = int(n)
	}
	k := min(len(b), s.left)
	n, err := s.p.br.Read(b[:k])
	s.left -= n
	if err == io.EOF {
		err = fmt.Errorf("%w: cut short in the store", ErrDamaged)
	}
	return n, err
}

// drain reads the rest of the store section.
func (s *storeReader) drain() error {
	_, err := io.Copy(io.Discard, s)
	return err
}
