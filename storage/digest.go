package storage

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
)

// Digests returns the SHA-256 of the bytes of the mailbox's messages
// whose size is in sizes (the others cannot match, so only these are
// read).
//
// It is how an import and a transition from an old provider recognise a
// message the mailbox already has: by its bytes, not its Message-ID, size
// and date. Drafts and some senders have no Message-ID or reuse one, a
// mailing list's copy shares it with the original but differs in bytes,
// and dates change when a folder is copied, while the bytes of the same
// message stay the same.
func (s *Store) Digests(acct AccountID, mbox MailboxID, sizes map[int64]bool) (map[[32]byte]bool, error) {
	uids, err := s.DigestUIDs(acct, mbox, sizes)
	if err != nil {
		return nil, err
	}
	have := make(map[[32]byte]bool, len(uids))
	for sum := range uids {
		have[sum] = true
	}
	return have, nil
}

// DigestUIDs is Digests with the UID of a message of each digest (the
// lowest, when the mailbox holds the same bytes more than once): a
// transition that recognises a message it took before also needs to know
// which one it is, to keep its flags up to date.
func (s *Store) DigestUIDs(acct AccountID, mbox MailboxID, sizes map[int64]bool) (map[[32]byte]uint32, error) {
	msgs, err := s.Messages(acct, mbox)
	if err != nil {
		return nil, err
	}
	have := map[[32]byte]uint32{}
	h := sha256.New()
	for _, m := range msgs {
		if !sizes[m.Size] {
			continue
		}
		obj, err := s.Object(m.Object)
		if err != nil {
			return nil, fmt.Errorf("storage: message %d: %w", m.UID, err)
		}
		h.Reset()
		b := s.OpenObjectBody(obj)
		_, err = io.Copy(h, b.Reader())
		b.Close()
		if err != nil {
			return nil, fmt.Errorf("storage: reading message %d: %w", m.UID, err)
		}
		sum := [32]byte(h.Sum(nil))
		if _, ok := have[sum]; !ok {
			have[sum] = m.UID
		}
	}
	return have, nil
}

// CRLFSum hashes r as the store will keep it, every line end CRLF, and
// counts those octets: the size and digest Digests compares.
func CRLFSum(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	c := &crlfWriter{h: h}
	if _, err := io.Copy(c, r); err != nil {
		return [32]byte{}, 0, err
	}
	return [32]byte(h.Sum(nil)), c.n, nil
}

// crlfWriter passes bytes to h with every line end made CRLF.
type crlfWriter struct {
	h   hash.Hash
	n   int64
	cr  bool
	buf []byte
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	c.buf = c.buf[:0]
	for _, b := range p {
		switch {
		case c.cr && b == '\n':
			c.cr = false
			continue
		case b == '\r':
			c.cr = true
			c.buf = append(c.buf, '\r', '\n')
			continue
		case b == '\n':
			c.buf = append(c.buf, '\r', '\n')
		default:
			c.buf = append(c.buf, b)
		}
		c.cr = false
	}
	c.n += int64(len(c.buf))
	c.h.Write(c.buf)
	return len(p), nil
}
