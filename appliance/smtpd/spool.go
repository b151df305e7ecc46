package smtpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// spool holds one message between DATA and delivery when it has to be read
// more than once: the inbound checks read it before it is stored (their
// header goes on top), and a submission is delivered locally and queued
// for remote recipients from the same bytes. Up to mem bytes stay in
// memory; a larger message moves to a temp file in dir, unlinked at once
// so that nothing is left behind by a crash. Memory stays bounded whatever
// the message size.
type spool struct {
	dir  string
	mem  int
	buf  bytes.Buffer
	f    *os.File
	size int64
}

func newSpool(dir string, mem int) *spool { return &spool{dir: dir, mem: mem} }

// errSpool marks a failure of our own storage (not the client's read).
var errSpool = errors.New("smtpd: spool")

// fill copies r into the spool. Read errors are returned as they are, so
// that the caller can tell the client's failure (countingReader) from a
// spool write failure, which wraps errSpool.
func (s *spool) fill(r io.Reader) error {
	chunk := make([]byte, 32<<10)
	for {
		n, rerr := r.Read(chunk)
		if n > 0 {
			if err := s.write(chunk[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

func (s *spool) write(p []byte) error {
	s.size += int64(len(p))
	if s.f == nil && s.buf.Len()+len(p) <= s.mem {
		s.buf.Write(p)
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "smtp-spool-*")
		if err != nil {
			return fmt.Errorf("%w: %w", errSpool, err)
		}
		// Unlinked at once: the open file lives until Close, and a crash
		// leaves nothing to sweep.
		os.Remove(f.Name())
		s.f = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return fmt.Errorf("%w: %w", errSpool, err)
		}
		s.buf = bytes.Buffer{}
	}
	if _, err := s.f.Write(p); err != nil {
		return fmt.Errorf("%w: %w", errSpool, err)
	}
	return nil
}

// section returns a reader of n bytes from offset off. Readers are
// independent of each other.
func (s *spool) section(off, n int64) io.Reader {
	var ra io.ReaderAt = bytes.NewReader(s.buf.Bytes())
	if s.f != nil {
		ra = s.f
	}
	return io.NewSectionReader(ra, off, n)
}

// reader returns the whole message from the start.
func (s *spool) reader() io.Reader { return s.section(0, s.size) }

// without returns the message with the byte ranges cut out (sorted, not
// overlapping), reading from the spool: nothing is copied.
func (s *spool) without(cuts [][2]int64) io.Reader {
	var parts []io.Reader
	pos := int64(0)
	for _, c := range cuts {
		parts = append(parts, s.section(pos, c[0]-pos))
		pos = c[1]
	}
	parts = append(parts, s.section(pos, s.size-pos))
	return io.MultiReader(parts...)
}

// Close frees the spool.
func (s *spool) Close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.buf = bytes.Buffer{}
}

// isDiskFull reports whether a spool failure is a full disk.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
