package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"postroom/storage"
)

// errProblems ends fsck when it found problems; it printed them already.
var errProblems = errors.New("problems found")

func (c *ctl) fsck(args []string) error {
	st, err := c.store()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := st.Check(ctx); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(c.stderr, "postroomctl: fsck interrupted")
			return errAborted
		}
		ps := problems(err)
		for _, p := range ps {
			fmt.Fprintf(c.stdout, "problem: %s\n", p)
		}
		fmt.Fprintf(c.stdout, "fsck: %s in %s\n", plural(int64(len(ps)), "problem", "problems"), storeDir(c.data))
		return errProblems
	}
	accts, err := st.Accounts()
	if err != nil {
		return err
	}
	var msgs int64
	for _, a := range accts {
		msgs += a.Messages
	}
	fmt.Fprintf(c.stdout, "ok: %s, %s checked\n", plural(int64(len(accts)), "account", "accounts"), plural(msgs, "message", "messages"))
	return nil
}

// problems splits what Check returned into one line per problem: Check joins
// its findings (errors.Join), and one finding may span lines.
func problems(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, safeText(l, 0))
		}
	}
	return out
}

func (c *ctl) stats(args []string) error {
	st, err := c.store()
	if err != nil {
		return err
	}
	s, err := st.Stats()
	if err != nil {
		return err
	}
	accts, err := st.Accounts()
	if err != nil {
		return err
	}
	t := newTable(c.stdout)
	t.row("store", storeDir(c.data))
	t.row("accounts", strconv.Itoa(s.Accounts))
	t.row("messages", fmt.Sprintf("%d, %s of mail", s.Messages, formatSize(s.Bytes)))
	t.row("bodies", fmt.Sprintf("%d stored (a copied message shares its body)", s.Objects))
	lsm, vlog, total := s.LSMBytes, s.VLogBytes, s.LSMBytes+s.VLogBytes
	if d, err := diskUsage(storeDir(c.data)); err == nil {
		// Badger refreshes its own figures only every minute or so: a
		// store that was just opened reports 0. The files tell at once.
		lsm, vlog, total = d.sst, d.vlog, d.total
	}
	t.row("on disk", fmt.Sprintf("%s (index %s, value log %s)", formatSize(total), formatSize(lsm), formatSize(vlog)))
	t.row("disk free", formatSize(s.DiskFree))
	if err := t.flush(); err != nil {
		return err
	}
	if len(accts) == 0 {
		return nil
	}
	slices.SortFunc(accts, func(a, b storage.Account) int { return strings.Compare(a.Name, b.Name) })
	fmt.Fprintln(c.stdout)
	t = newTable(c.stdout, "ACCOUNT", "MESSAGES", "SIZE", "QUOTA")
	for _, a := range accts {
		t.row(a.Name, strconv.FormatInt(a.Messages, 10), usage(a), formatQuota(a.Quota))
	}
	return t.flush()
}

type usageOnDisk struct{ sst, vlog, total int64 }

// diskUsage adds up the disk space of the store's files: Badger's tables
// (.sst), its value log (.vlog), and the rest (memtables, manifest).
func diskUsage(dir string) (usageOnDisk, error) {
	var u usageOnDisk
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n := allocated(fi)
		switch filepath.Ext(path) {
		case ".sst":
			u.sst += n
		case ".vlog":
			u.vlog += n
		}
		u.total += n
		return nil
	})
	return u, err
}
