package transition

import (
	"io"
	"os"

	"postroom/storage"
)

// spool is a message kept aside in a temporary file on the data disk (a
// message may be as large as the box accepts, so never in memory), with
// its digest as the store would keep it.
type spool struct {
	f    *os.File
	sum  [32]byte
	size int64
}

func newSpool(r io.Reader, dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "spool-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // gone with the last descriptor, even after a crash
	sum, size, err := storage.CRLFSum(io.TeeReader(r, f))
	if err != nil {
		f.Close()
		return nil, &netError{op: "reading a message", err: err}
	}
	return &spool{f: f, sum: sum, size: size}, nil
}

func (s *spool) reader() io.Reader {
	return io.NewSectionReader(s.f, 0, 1<<62)
}

func (s *spool) Close() error { return s.f.Close() }

// dedupe answers whether a mailbox already has a message's bytes, reading
// the mailbox's messages of that size once per size.
type dedupe struct {
	st    *storage.Store
	acct  storage.AccountID
	box   string
	sizes map[int64]map[[32]byte]uint32
}

// has says whether the mailbox holds the spooled message, and its UID.
func (d *dedupe) has(s *spool) (uint32, bool, error) {
	if d.sizes == nil {
		d.sizes = map[int64]map[[32]byte]uint32{}
	}
	have, ok := d.sizes[s.size]
	if !ok {
		mb, err := d.st.Mailbox(d.acct, d.box)
		if err != nil {
			return 0, false, err
		}
		have, err = d.st.DigestUIDs(d.acct, mb.ID, map[int64]bool{s.size: true})
		if err != nil {
			return 0, false, err
		}
		d.sizes[s.size] = have
	}
	uid, ok := have[s.sum]
	return uid, ok, nil
}

// counter counts the bytes read through it: the size of a message taken.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
