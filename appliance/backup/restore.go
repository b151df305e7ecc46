package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"postroom/internal/atomicfile"
	"postroom/storage"
)

// Backup is one backup on a target, from its plain header.
type Backup struct {
	Header
	Size int64 `json:"size"`
	// Restorable: every file of its chain is on the target.
	Restorable bool `json:"restorable"`
	// Chain is the files a restore reads, the full one first.
	Chain []string `json:"chain,omitempty"`
}

// List reads the headers of the backups on t (those of every box: a new
// box restores an old one's), newest first. Files that are not backups
// are left out.
func List(ctx context.Context, t Target) ([]Backup, error) {
	ents, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Backup{}
	var out []*Backup
	for _, e := range ents {
		h, err := readHeaderOf(ctx, t, e.Name)
		if err != nil || h.Name != e.Name {
			continue
		}
		b := &Backup{Header: h, Size: e.Size}
		byName[e.Name] = b
		out = append(out, b)
	}
	for _, b := range out {
		var chain []string
		ok := true
		for cur := b; ; {
			chain = append(chain, cur.Name)
			if cur.Parent == "" {
				ok = cur.Kind == KindFull
				break
			}
			next := byName[cur.Parent]
			if next == nil || len(chain) > 1000 {
				ok = false
				break
			}
			cur = next
		}
		for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
			chain[i], chain[j] = chain[j], chain[i]
		}
		b.Chain, b.Restorable = chain, ok
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].Name > out[j].Name
	})
	res := make([]Backup, len(out))
	for i, b := range out {
		res[i] = *b
	}
	return res, nil
}

// RestoreOptions says what RestoreBox restores where.
type RestoreOptions struct {
	// DataDir is the new data folder: missing or empty.
	DataDir string
	Target  Target
	// Key is the office's recovery key.
	Key age.Identity
	// Name is the backup to restore; "": the newest restorable one.
	Name   string
	Logger *slog.Logger
}

// RestoreResult says what was restored.
type RestoreResult struct {
	Backup    Backup    `json:"backup"`
	Accounts  int       `json:"accounts"`
	Messages  int64     `json:"messages"`
	Files     []string  `json:"files"`
	Restored  time.Time `json:"restored"`
	Mailboxes int       `json:"mailboxes"`
}

// RestoreBox restores a whole box (store, config.json, TLS and DKIM keys)
// from a backup into a fresh data folder, and proves it as a scheduled
// backup is proven: the restored store equals the backup's snapshot and
// passes storage.Check. Nothing is written outside DataDir, and a failed
// restore leaves only DataDir to delete.
func RestoreBox(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if ents, err := os.ReadDir(o.DataDir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("the data folder %s is not empty: restore into a new, empty folder", o.DataDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	list, err := List(ctx, o.Target)
	if err != nil {
		return nil, err
	}
	var b *Backup
	for i := range list {
		if o.Name == "" && list[i].Restorable || list[i].Name == o.Name {
			b = &list[i]
			break
		}
	}
	switch {
	case b == nil && o.Name != "":
		if _, err := readHeaderOf(ctx, o.Target, o.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Name, err)
		}
		return nil, fmt.Errorf("there is no backup %s on %s", o.Name, o.Target)
	case b == nil:
		return nil, fmt.Errorf("there is no complete backup on %s", o.Target)
	case !b.Restorable:
		return nil, fmt.Errorf("the backup %s cannot be restored: a file of its chain (%s) is missing from %s", b.Name, strings.Join(b.Chain, ", "), o.Target)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, err
	}
	res := &RestoreResult{Backup: *b}
	writeFile := func(name string, mode uint32, content []byte) error {
		clean := path.Clean(name)
		if clean != name || path.IsAbs(clean) || strings.HasPrefix(clean, "..") || !boxFile(clean) {
			return fmt.Errorf("%w: it holds a file named %q", ErrDamaged, name)
		}
		p := filepath.Join(o.DataDir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		res.Files = append(res.Files, clean)
		return atomicfile.WriteFile(p, content, fs.FileMode(mode&0o700))
	}
	if _, err := restoreChain(ctx, o.Target, b.Chain, []age.Identity{o.Key}, filepath.Join(o.DataDir, "store"), o.Logger, writeFile); err != nil {
		return nil, err
	}
	st, err := storage.Open(storage.Options{Dir: filepath.Join(o.DataDir, "store"), Logger: o.Logger, NoGC: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	accts, err := st.Accounts()
	if err != nil {
		return nil, err
	}
	res.Accounts = len(accts)
	for _, a := range accts {
		res.Messages += a.Messages
		if mbs, err := st.Mailboxes(a.ID); err == nil {
			res.Mailboxes += len(mbs)
		}
	}
	res.Restored = time.Now()
	o.Logger.Info("box restored from a backup", "backup", b.Name, "into", o.DataDir, "accounts", res.Accounts, "messages", res.Messages)
	return res, nil
}

// boxFile: a file a backup may put into the data folder.
func boxFile(name string) bool {
	for _, top := range boxFiles {
		if name == top || strings.HasPrefix(name, top+"/") {
			return true
		}
	}
	return false
}
