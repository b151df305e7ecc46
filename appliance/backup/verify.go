package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"filippo.io/age"

	"postroom/storage"
)

// part is one backup file as read back.
type part struct {
	Header  Header
	Trailer Trailer
	Summary *storage.BackupSummary
}

// readPart reads one backup file: the plain header, the decryption, every
// record. apply gets the store's stream (nil: it is read and dropped);
// file, when not nil, gets each of the box's files. The trailer's hashes
// are checked against the files read, and the authenticated header against
// the plain one, so a file renamed or edited by hand is noticed.
func readPart(ctx context.Context, r io.Reader, ids []age.Identity, apply func(io.Reader) (*storage.BackupSummary, error), file func(name string, mode uint32, b []byte) error) (*part, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	pr, err := decrypt(br, ids...)
	if err != nil {
		return nil, err
	}
	p := &part{Header: h}
	got := &payloadWriter{files: map[string]string{}, w: bufio.NewWriter(io.Discard)}
	seenStore, seenM := false, false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		typ, err := pr.br.ReadByte()
		if err != nil {
			return nil, damaged(err)
		}
		switch typ {
		case 'M':
			b, err := pr.lv(maxHeader)
			if err != nil {
				return nil, err
			}
			var inner Header
			if err := json.Unmarshal(b, &inner); err != nil {
				return nil, fmt.Errorf("%w: its header is unreadable", ErrDamaged)
			}
			plain, _ := json.Marshal(h)
			again, _ := json.Marshal(inner)
			if !bytes.Equal(plain, again) {
				return nil, fmt.Errorf("%w: its plain header was changed (it says %s, the encrypted one %s)", ErrDamaged, h.Name, inner.Name)
			}
			seenM = true
		case 'F':
			name, err := pr.lv(4 << 10)
			if err != nil {
				return nil, err
			}
			mode, err := binaryUvarint(pr)
			if err != nil {
				return nil, err
			}
			b, err := pr.lv(maxFile)
			if err != nil {
				return nil, err
			}
			got.file(string(name), uint32(mode), b)
			if file != nil {
				if err := file(string(name), uint32(mode), b); err != nil {
					return nil, err
				}
			}
		case 'S':
			sr := &storeReader{p: pr}
			if apply != nil {
				sum, err := apply(sr)
				if err != nil {
					// A damaged file shows up first as a store stream
					// that ends early: say what age says.
					var rerr error
					if sr.drain() != nil || errors.Is(err, ErrDamaged) {
						rerr = ErrDamaged
					}
					if rerr != nil {
						return nil, fmt.Errorf("%w: %v", rerr, err)
					}
					return nil, err
				}
				p.Summary = sum
			}
			if err := sr.drain(); err != nil {
				return nil, err
			}
			seenStore = true
		case 'Z':
			b, err := pr.lv(maxHeader)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(b, &p.Trailer); err != nil {
				return nil, fmt.Errorf("%w: its last record is unreadable", ErrDamaged)
			}
			if !seenM || !seenStore {
				return nil, fmt.Errorf("%w: a part of it is missing", ErrDamaged)
			}
			if _, err := pr.br.ReadByte(); err != io.EOF {
				if err == nil {
					err = errors.New("data after the end")
				}
				return nil, damaged(err)
			}
			for name, sum := range p.Trailer.Files {
				if got.files[name] != sum {
					return nil, fmt.Errorf("%w: the file %s in it does not match its hash", ErrDamaged, name)
				}
			}
			if len(got.files) != len(p.Trailer.Files) {
				return nil, fmt.Errorf("%w: it holds files its list does not name", ErrDamaged)
			}
			if p.Summary != nil && p.Summary.Until != p.Trailer.Until {
				return nil, fmt.Errorf("%w: the store's version does not match", ErrDamaged)
			}
			return p, nil
		default:
			return nil, fmt.Errorf("%w: unknown record %q", ErrDamaged, typ)
		}
	}
}

func binaryUvarint(pr *payloadReader) (uint64, error) {
	var v uint64
	var s uint
	for i := 0; i < 10; i++ {
		b, err := pr.br.ReadByte()
		if err != nil {
			return 0, damaged(err)
		}
		if b < 0x80 {
			return v | uint64(b)<<s, nil
		}
		v |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("%w: a number is too long", ErrDamaged)
}

// restoreChain applies the chain's files in order into the fresh store
// folder dir, and verifies the result against the last part's summary;
// file gets the box's files of the last part.
func restoreChain(ctx context.Context, t Target, chain []string, ids []age.Identity, dir string, log *slog.Logger, file func(name string, mode uint32, b []byte) error) (*part, error) {
	r, err := storage.NewRestore(dir, log)
	if err != nil {
		return nil, err
	}
	var last *part
	for i, name := range chain {
		rc, err := t.Open(ctx, name)
		if err != nil {
			r.Close()
			return nil, err
		}
		var fileFn func(string, uint32, []byte) error
		if i == len(chain)-1 {
			fileFn = file
		}
		p, err := readPart(ctx, rc, ids, func(in io.Reader) (*storage.BackupSummary, error) { return r.Apply(ctx, in) }, fileFn)
		rc.Close()
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if p.Header.Name != name {
			r.Close()
			return nil, fmt.Errorf("%s: %w: it calls itself %s", name, ErrDamaged, p.Header.Name)
		}
		last = p
	}
	if err := r.Verify(ctx, nil); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.Close(); err != nil {
		return nil, err
	}
	// The restored folder must open as a store and pass every invariant.
	st, err := storage.Open(storage.Options{Dir: dir, Logger: log, NoGC: true})
	if err != nil {
		return nil, fmt.Errorf("the restored store does not open: %w", err)
	}
	cerr := st.Check(ctx)
	if err := st.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return nil, fmt.Errorf("the restored store fails its check: %w", cerr)
	}
	return last, nil
}

// verify proves a backup: it reads the chain back from the target with
// the box's key, restores it into the scratch folder, and compares the
// restored store with the live snapshot's summary (want) and the box's
// files with those written.
func (m *Manager) verify(ctx context.Context, t Target, chain []string, id age.Identity, want *storage.BackupSummary, files map[string]string) error {
	dir := filepath.Join(m.o.Scratch, "verify")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("emptying the scratch folder: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(m.o.Scratch, 0o700); err != nil {
		return fmt.Errorf("the scratch folder: %w", err)
	}
	if s, err := m.o.Store.Stats(); err == nil {
		need := (s.LSMBytes+s.VLogBytes)*11/10 + 160<<20
		if free, err := freeSpace(m.o.Scratch); err == nil && free >= 0 && free < need {
			return fmt.Errorf("not enough free space in %s to test the restore: it needs about %s, %s are free", m.o.Scratch, sizeWords(need), sizeWords(free))
		}
	}
	p, err := restoreChain(ctx, t, chain, []age.Identity{id}, filepath.Join(dir, "store"), m.o.Logger, nil)
	if err != nil {
		return err
	}
	if err := storage.CompareSummaries(nil, want, p.Summary); err != nil || want.Until != p.Summary.Until || want.Keys != p.Summary.Keys {
		return fmt.Errorf("the file on the target is not the backup that was written: %v", err)
	}
	for name, h := range files {
		if p.Trailer.Files[name] != h {
			return fmt.Errorf("the file %s in the backup differs from the one written", name)
		}
	}
	return nil
}
