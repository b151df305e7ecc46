package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"filippo.io/age"

	"postroom/internal/atomicfile"
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

// applyChain reads the parts names in order from t and applies each to r;
// file gets the box's files of the last part. When sums is not nil it gets
// the SHA-256 of each file's bytes as read, for the kept restore.
func applyChain(ctx context.Context, t Target, names []string, ids []age.Identity, r *storage.Restore, file func(name string, mode uint32, b []byte) error, sums map[string]string) (*part, error) {
	var last *part
	for i, name := range names {
		rc, err := t.Open(ctx, name)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		in := io.TeeReader(rc, h)
		var fileFn func(string, uint32, []byte) error
		if i == len(names)-1 {
			fileFn = file
		}
		p, err := readPart(ctx, in, ids, func(in io.Reader) (*storage.BackupSummary, error) { return r.Apply(ctx, in) }, fileFn)
		if err == nil && sums != nil {
			_, err = io.Copy(h, rc) // readPart read to the end; nothing is left, but the hash must cover the file
			sums[name] = hex.EncodeToString(h.Sum(nil))
		}
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if p.Header.Name != name {
			return nil, fmt.Errorf("%s: %w: it calls itself %s", name, ErrDamaged, p.Header.Name)
		}
		last = p
	}
	return last, nil
}

// restoreChain applies the chain's files in order into the fresh store
// folder dir, and verifies the result against the last part's summary;
// file gets the box's files of the last part.
func restoreChain(ctx context.Context, t Target, chain []string, ids []age.Identity, dir string, log *slog.Logger, file func(name string, mode uint32, b []byte) error) (*part, error) {
	r, err := storage.NewRestore(dir, log)
	if err != nil {
		return nil, err
	}
	last, err := applyChain(ctx, t, chain, ids, r, file, nil)
	if err == nil {
		err = r.Verify(ctx, nil)
	}
	if err != nil {
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

// The proof of an incremental backup.
//
// Restoring the whole chain for every incremental backup costs as much as
// proving the full one (4.5 min for a 2.4 GB store, docs/BENCHMARKS.md),
// every night, for a file of a few MB. Instead the scratch restore of the
// chain is kept after its proof (Scratch/kept: the restored database, never
// opened as a store, and kept.json), and the next incremental part is
// applied to it alone. The proof stays real:
//   - the new part is read back from the target, decrypted (age checks
//     every 64 KiB chunk) and applied, and the result is compared with the
//     live snapshot's summary (every key family's digest, every mailbox's
//     UIDs and flags, sampled bodies byte for byte) and passes
//     storage.Check, as a whole-chain restore's would;
//   - before it is used, the kept restore must still equal the summary of
//     the part it was proven with (a damaged scratch disk is noticed), and
//     the earlier files of the chain on the target must still be the bytes
//     that were proven (their SHA-256, read through once: a damaged or
//     replaced file is noticed);
//   - anything else (another target or chain, a crash while it was being
//     changed, any disagreement) and the whole chain is restored as
//     before, which then says what is wrong.
//
// Every chain starts with a full backup (FullEvery, a week by default),
// whose proof is a whole restore: the kept restore lives a week at most.
// It costs disk space beside the store, so it is kept only while the
// scratch disk stays roomy (Options.KeepScratchFree).

const (
	keptFolder = "kept"
	keptFile   = "kept.json"
	// defaultKeepFree: the kept restore stays only while this much is
	// free on the scratch disk, and at least twice its size.
	defaultKeepFree = 2 << 30
)

// kept describes the kept restore.
type kept struct {
	Target string   `json:"target"`
	Chain  []string `json:"chain"`
	// Files is the SHA-256 of each file of the chain as it was proven.
	Files   map[string]string      `json:"files"`
	Summary *storage.BackupSummary `json:"summary"`
}

// Ways a backup was proven (Result.Proof).
const (
	ProofWhole     = "whole"     // the whole chain restored into scratch
	ProofIncrement = "increment" // the new part applied to the kept restore of the chain
)

// verify proves a backup: it reads the chain back from the target with
// the box's key, restores it into scratch (for an incremental backup, onto
// the kept restore of the chain when it can: see above), and compares the
// restored store with the live snapshot's summary (want) and the box's
// files with those written. It returns how (ProofWhole, ProofIncrement).
func (m *Manager) verify(ctx context.Context, t Target, chain []string, id age.Identity, want *storage.BackupSummary, files map[string]string) (string, error) {
	if len(chain) > 1 && m.o.KeepScratchFree >= 0 {
		err := m.verifyIncrement(ctx, t, chain, id, want, files)
		if err == nil {
			return ProofIncrement, nil
		}
		if !errors.Is(err, errNoKept) {
			m.log.Warn("the kept restore could not prove the incremental backup: restoring the whole chain", "err", err)
		}
	}
	keptDir := filepath.Join(m.o.Scratch, keptFolder)
	if err := os.RemoveAll(keptDir); err != nil {
		return "", fmt.Errorf("emptying the scratch folder: %w", err)
	}
	dir := filepath.Join(m.o.Scratch, "verify")
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("emptying the scratch folder: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(m.o.Scratch, 0o700); err != nil {
		return "", fmt.Errorf("the scratch folder: %w", err)
	}
	if s, err := m.o.Store.Stats(); err == nil {
		need := (s.LSMBytes+s.VLogBytes)*11/10 + 160<<20
		if free, err := freeSpace(m.o.Scratch); err == nil && free >= 0 && free < need {
			return "", fmt.Errorf("not enough free space in %s to test the restore: it needs about %s, %s are free", m.o.Scratch, sizeWords(need), sizeWords(free))
		}
	}
	store := filepath.Join(dir, "store")
	r, err := storage.NewRestore(store, m.o.Logger)
	if err != nil {
		return "", err
	}
	sums := map[string]string{}
	p, err := m.proveOn(ctx, r, t, chain, id, want, files, sums)
	if err != nil {
		return "", err
	}
	m.keep(store, &kept{Target: t.String(), Chain: chain, Files: sums, Summary: p.Summary})
	return ProofWhole, nil
}

// proveOn applies names to r, compares the result with want and files,
// runs storage.Check on it, and closes r.
func (m *Manager) proveOn(ctx context.Context, r *storage.Restore, t Target, names []string, id age.Identity, want *storage.BackupSummary, files map[string]string, sums map[string]string) (*part, error) {
	p, err := applyChain(ctx, t, names, []age.Identity{id}, r, nil, sums)
	if err == nil {
		err = r.Verify(ctx, nil)
	}
	if err == nil {
		if cerr := r.Check(ctx); cerr != nil {
			err = fmt.Errorf("the restored store fails its check: %w", cerr)
		}
	}
	if err == nil {
		if cerr := storage.CompareSummaries(nil, want, p.Summary); cerr != nil || want.Until != p.Summary.Until || want.Keys != p.Summary.Keys {
			err = fmt.Errorf("the file on the target is not the backup that was written: %v", cerr)
		}
	}
	for name, h := range files {
		if err == nil && p.Trailer.Files[name] != h {
			err = fmt.Errorf("the file %s in the backup differs from the one written", name)
		}
	}
	if cerr := r.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing the restored store: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// errNoKept: there is no kept restore of this chain to build on.
var errNoKept = errors.New("no kept restore of this chain")

// verifyIncrement proves the last part of chain on the kept restore of
// the parts before it.
func (m *Manager) verifyIncrement(ctx context.Context, t Target, chain []string, id age.Identity, want *storage.BackupSummary, files map[string]string) error {
	dir := filepath.Join(m.o.Scratch, keptFolder)
	b, err := os.ReadFile(filepath.Join(dir, keptFile))
	if err != nil {
		return errNoKept
	}
	var k kept
	if err := json.Unmarshal(b, &k); err != nil || k.Summary == nil || k.Target != t.String() || !slices.Equal(k.Chain, chain[:len(chain)-1]) {
		return errNoKept
	}
	for _, name := range k.Chain {
		sum, err := hashFile(ctx, t, name)
		if err != nil {
			return fmt.Errorf("reading %s again: %w", name, err)
		}
		if sum != k.Files[name] {
			return fmt.Errorf("%s on %s is not the file that was proven any more", name, t)
		}
	}
	// From here the kept restore changes: without kept.json it is never
	// used again unless this proof completes.
	if err := os.Remove(filepath.Join(dir, keptFile)); err != nil {
		return err
	}
	r, err := storage.ReopenRestore(filepath.Join(dir, "store"), m.o.Logger, k.Summary)
	if err != nil {
		return err
	}
	if err := r.Verify(ctx, k.Summary); err != nil {
		r.Close()
		return fmt.Errorf("the kept restore does not hold what was proven any more: %w", err)
	}
	name := chain[len(chain)-1]
	p, err := m.proveOn(ctx, r, t, []string{name}, id, want, files, k.Files)
	if err != nil {
		return err
	}
	k.Chain, k.Summary = slices.Clone(chain), p.Summary
	m.keep(filepath.Join(dir, "store"), &k)
	return nil
}

// keep keeps the proven restore in store (moved to Scratch/kept) for the
// next incremental proof, while the scratch disk has room for it;
// otherwise it is removed. Failing to keep it costs only time.
func (m *Manager) keep(store string, k *kept) {
	dir := filepath.Join(m.o.Scratch, keptFolder)
	minFree := m.o.KeepScratchFree
	if minFree == 0 {
		minFree = defaultKeepFree
	}
	size := dirSize(store)
	free, ferr := freeSpace(m.o.Scratch)
	if minFree < 0 || ferr != nil || free < max(minFree, 2*size) {
		if store != filepath.Join(dir, "store") {
			os.RemoveAll(store)
		}
		os.RemoveAll(dir)
		if minFree >= 0 {
			m.log.Info("the scratch restore is not kept: too little room beside it; the next incremental backup restores the whole chain", "free", free, "size", size)
		}
		return
	}
	err := func() error {
		if store != filepath.Join(dir, "store") {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			if err := os.Rename(store, filepath.Join(dir, "store")); err != nil {
				return err
			}
		}
		b, err := json.Marshal(k)
		if err != nil {
			return err
		}
		return atomicfile.WriteFile(filepath.Join(dir, keptFile), b, 0o600)
	}()
	if err != nil {
		os.RemoveAll(dir)
		m.log.Warn("keeping the scratch restore", "err", err)
	}
}

// hashFile is the SHA-256 of a file on t.
func hashFile(ctx context.Context, t Target, name string) (string, error) {
	rc, err := t.Open(ctx, name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, rc}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
