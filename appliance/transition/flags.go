package transition

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/internal/atomicfile"
	"postroom/storage"
)

// Keeping up with flag changes on the old server.
//
// During a move people still read and mark mail on the old provider's
// webmail, and on the box too once their programs are set up. On every run
// an IMAP source brings the flags of the messages it took before up to
// date with the old server (with CONDSTORE, RFC 7162 3.1.4, only those
// changed since the last look: UID FETCH 1:n (FLAGS) (CHANGEDSINCE m);
// without it, every message's flags).
//
// The rule, per flag: a flag the old server changed since the last look
// is changed here the same way; a flag the old server did not change keeps
// whatever it has here. So a message read on the old webmail becomes read
// here, and one marked unread or flagged here stays so while the old
// server leaves it alone. This is a three-way merge with the flags the old
// server had at the last look as the base (kept per message in a file per
// folder, below); for a flag that is on or off there is no conflict to
// decide: when both sides changed it since the base, both turned it the
// same way. It is finer than "the old server wins only while the message
// here is untouched": marking a message flagged here does not stop it from
// becoming read when it is read on the old side.
//
// \Deleted is not followed after the first pull (which copies every flag
// as it is): here it is one EXPUNGE away from losing the message (Outlook
// purges on closing), and the move never removes mail here, just as a
// message expunged on the old server stays here. \Recent is session state
// and never copied.

// syncedFlags are the system flags kept up to date; keywords are too.
const syncedFlags = storage.FlagSeen | storage.FlagAnswered | storage.FlagFlagged | storage.FlagDraft

// flagEntry is one taken message: its UID here and the flags the old
// server had for it at the last look (syncedFlags and keywords, the
// keywords sorted).
type flagEntry struct {
	our   uint32
	flags storage.Flags
	kw    []string
}

// flagMap is one old folder's taken messages, by their old UID. It is kept
// in a text file beside the state:
//
//	postroom-flags 1 <old UIDVALIDITY> <our mailbox's UIDVALIDITY>
//	<old UID> <our UID> [flag ...]
//
// Lines are appended as messages are taken (a later line for the same old
// UID replaces an earlier one) and the file is written anew when a run
// changed flags. A file made for another UIDVALIDITY on either side (the
// folder was made anew there, or the mailbox here was deleted and made
// again) is forgotten: its UIDs mean other messages now.
type flagMap struct {
	path string
	head string
	msgs map[uint32]flagEntry
	log  *os.File
	// dirty: bases changed in memory that are not in the file yet.
	dirty bool
}

const flagMapMagic = "postroom-flags 1"

// flagMapPath is the file of an old folder of a source; the folder's name
// is hashed, as it may hold any character.
func flagMapPath(dir, id, old string) string {
	sum := sha256.Sum256([]byte(old))
	return filepath.Join(dir, id+"-"+hex.EncodeToString(sum[:8])+".flags")
}

// openFlagMap reads the map of a folder, or starts an empty one when the
// file is missing or belongs to other UIDVALIDITYs.
func openFlagMap(path string, oldValidity, ourValidity uint32) (*flagMap, error) {
	fm := &flagMap{path: path, head: fmt.Sprintf("%s %d %d", flagMapMagic, oldValidity, ourValidity), msgs: map[uint32]flagEntry{}}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fm.dirty = true
	case err != nil:
		return nil, fmt.Errorf("reading the flags of the messages taken: %w", err)
	default:
		err := fm.read(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if fm.dirty {
		if err := fm.rewrite(); err != nil {
			return nil, err
		}
	}
	fl, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recording the flags of the messages taken: %w", err)
	}
	fm.log = fl
	return fm, nil
}

func (fm *flagMap) read(f *os.File) error {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() || sc.Text() != fm.head {
		// Another UIDVALIDITY (or a damaged head): start again.
		fm.dirty = true
		return nil
	}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue // a line cut short by a crash: that message is found by its bytes
		}
		old, err1 := strconv.ParseUint(fields[0], 10, 32)
		our, err2 := strconv.ParseUint(fields[1], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		fm.msgs[uint32(old)] = newFlagEntry(uint32(our), fields[2:])
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the flags of the messages taken: %w", err)
	}
	return nil
}

// newFlagEntry keeps the flags of names that are followed.
func newFlagEntry(our uint32, names []string) flagEntry {
	f, kw := storage.ParseFlags(names)
	kw = slices.Clone(kw)
	slices.Sort(kw)
	return flagEntry{our: our, flags: f & syncedFlags, kw: kw}
}

func (e flagEntry) line(old uint32) string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(uint64(old), 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatUint(uint64(e.our), 10))
	for _, n := range append(e.flags.Names(), e.kw...) {
		b.WriteByte(' ')
		b.WriteString(n)
	}
	b.WriteByte('\n')
	return b.String()
}

// add records a message taken; the line is synced with the state (sync).
func (fm *flagMap) add(old, our uint32, names []string) error {
	e := newFlagEntry(our, names)
	fm.msgs[old] = e
	if _, err := fm.log.WriteString(e.line(old)); err != nil {
		return fmt.Errorf("recording the flags of a message taken: %w", err)
	}
	return nil
}

// sync makes the appended lines durable; the state that says the messages
// are taken is written after it.
func (fm *flagMap) sync() error {
	if fm == nil || fm.log == nil {
		return nil
	}
	if err := fm.log.Sync(); err != nil {
		return fmt.Errorf("recording the flags of the messages taken: %w", err)
	}
	return nil
}

// rewrite writes the whole map anew (atomically), in old UID order.
func (fm *flagMap) rewrite() error {
	olds := make([]uint32, 0, len(fm.msgs))
	for old := range fm.msgs {
		olds = append(olds, old)
	}
	slices.Sort(olds)
	var b strings.Builder
	b.WriteString(fm.head + "\n")
	for _, old := range olds {
		b.WriteString(fm.msgs[old].line(old))
	}
	if err := atomicfile.WriteFile(fm.path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("recording the flags of the messages taken: %w", err)
	}
	fm.dirty = false
	if fm.log != nil {
		// The appends go to the new file from now on.
		fm.log.Close()
		fl, err := os.OpenFile(fm.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			fm.log = nil
			return fmt.Errorf("recording the flags of the messages taken: %w", err)
		}
		fm.log = fl
	}
	return nil
}

func (fm *flagMap) close() error {
	if fm == nil || fm.log == nil {
		return nil
	}
	err := fm.log.Sync()
	if cerr := fm.log.Close(); err == nil {
		err = cerr
	}
	fm.log = nil
	return err
}

// flagChange is one SetFlags call: the same change for many messages.
type flagChange struct {
	op    storage.FlagOp
	flags storage.Flags
	kw    []string
	uids  []uint32
}

// followFlags brings the flags of the messages of an old folder taken
// before (old UIDs up to last) up to date here, by the rule at the top of
// this file. since is the folder's HIGHESTMODSEQ at the last look when the
// server has CONDSTORE, else 0 (every message's flags are read). It
// returns how many messages changed here.
func (p *puller) followFlags(ctx context.Context, c *imapConn, mbox storage.MailboxID, fm *flagMap, last uint32, since uint64) (int, error) {
	if last == 0 || len(fm.msgs) == 0 {
		return 0, nil
	}
	var set imap.UIDSet
	set.AddRange(1, imap.UID(last))
	cmd := c.c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: since})
	defer cmd.Close()
	changes := map[string]*flagChange{}
	change := func(op storage.FlagOp, f storage.Flags, kw []string, our uint32) {
		if f == 0 && len(kw) == 0 {
			return
		}
		key := fmt.Sprint(op, f, kw)
		ch := changes[key]
		if ch == nil {
			ch = &flagChange{op: op, flags: f, kw: kw}
			changes[key] = ch
		}
		ch.uids = append(ch.uids, our)
	}
	touched := map[uint32]bool{}
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid uint32
		var names []string
		got := false
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(it.UID)
			case imapclient.FetchItemDataFlags:
				got = true
				names = flagNames(names, it)
			}
		}
		base, ok := fm.msgs[uid]
		if !ok || !got {
			continue // not taken by this move (too large, or found by its bytes without a record)
		}
		now := newFlagEntry(base.our, names)
		if now.flags == base.flags && slices.Equal(now.kw, base.kw) {
			continue
		}
		change(storage.FlagsAdd, now.flags&^base.flags, without(now.kw, base.kw), base.our)
		change(storage.FlagsRemove, base.flags&^now.flags, without(base.kw, now.kw), base.our)
		fm.msgs[uid] = now
		fm.dirty = true
		touched[base.our] = true
	}
	if err := cmd.Close(); err != nil {
		return 0, imapErr("FETCH FLAGS", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// The store first, then the new bases: a crash in between makes the
	// next run apply the same changes again, which changes nothing more.
	for _, ch := range changes {
		if _, err := p.m.o.Store.SetFlags(p.acct.ID, mbox, ch.uids, ch.op, ch.flags, ch.kw); err != nil {
			return 0, fmt.Errorf("changing flags here: %w", err)
		}
	}
	if fm.dirty {
		if err := fm.rewrite(); err != nil {
			return 0, err
		}
	}
	return len(touched), nil
}

// flagNames puts a FETCH's FLAGS into names, reusing its room.
func flagNames(names []string, it imapclient.FetchItemDataFlags) []string {
	names = names[:0]
	for _, f := range it.Flags {
		names = append(names, string(f))
	}
	return names
}

// without is the keywords of a that b lacks (IMAP keywords match without
// regard to case).
func without(a, b []string) []string {
	var out []string
	for _, k := range a {
		if !slices.ContainsFunc(b, func(x string) bool { return strings.EqualFold(x, k) }) {
			out = append(out, k)
		}
	}
	return out
}

// removeFlagMaps removes every folder's map of a source.
func removeFlagMaps(dir, id string) error {
	paths, err := filepath.Glob(filepath.Join(dir, id+"-*.flags"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("transition: %w", err)
		}
	}
	return nil
}
