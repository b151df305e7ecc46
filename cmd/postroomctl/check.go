package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"postroom/appliance/admin"
)

// errProblems ends fsck when it found problems; it printed them already.
var errProblems = errors.New("problems found")

// fsck runs the consistency check, in one snapshot of the store, so on a
// running box too. It repairs nothing; a repair would need the store to
// itself (the appliance stopped).
func (c *ctl) fsck(args []string) error {
	d, err := c.admin()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := admin.Call[admin.CheckResult](ctx, d, c.actor(), admin.CheckStore{})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(c.stderr, "postroomctl: fsck interrupted")
			return errAborted
		}
		return err
	}
	if len(r.Problems) > 0 {
		var ps []string
		for _, p := range r.Problems {
			ps = append(ps, problems(errors.New(p))...)
		}
		for _, p := range ps {
			fmt.Fprintf(c.stdout, "problem: %s\n", p)
		}
		fmt.Fprintf(c.stdout, "fsck: %s in %s\n", plural(int64(len(ps)), "problem", "problems"), storeDir(c.data))
		return errProblems
	}
	fmt.Fprintf(c.stdout, "ok: %s, %s checked\n", plural(r.Accounts, "account", "accounts"), plural(r.Messages, "message", "messages"))
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
	r, err := call[admin.StatsResult](c, admin.GetStats{})
	if err != nil {
		return err
	}
	s := r.Store
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
	if len(r.Accounts) == 0 {
		return nil
	}
	fmt.Fprintln(c.stdout)
	t = newTable(c.stdout, "ACCOUNT", "MESSAGES", "SIZE", "QUOTA")
	for _, a := range r.Accounts {
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
