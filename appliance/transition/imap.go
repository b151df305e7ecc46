package transition

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/storage"
)

// imapConn is a logged-in connection to the old IMAP server.
type imapConn struct {
	c    *imapclient.Client
	conn net.Conn
	stop func() bool
}

func (c *imapConn) close() {
	c.c.Logout().Wait()
	c.c.Close()
	c.stop()
}

func (p *puller) imapLogin(ctx context.Context, pw string) (*imapConn, error) {
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	// Closing the connection is how a cancelled context stops a command
	// that waits on the old server.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	opts := &imapclient.Options{TLSConfig: p.tlsConfig()}
	var c *imapclient.Client
	if p.src.Security == StartTLS {
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			stop()
			conn.Close()
			return nil, p.tlsErr(err)
		}
	} else {
		c = imapclient.New(conn, opts)
		if err := c.WaitGreeting(); err != nil {
			stop()
			c.Close()
			return nil, imapErr("the greeting", err)
		}
	}
	if err := c.Login(p.src.Username, pw).Wait(); err != nil {
		stop()
		c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) {
			return nil, fmt.Errorf("%w: %s", errLogin, ie.Text)
		}
		return nil, imapErr("LOGIN", err)
	}
	return &imapConn{c: c, conn: conn, stop: stop}, nil
}

// imapErr classifies a failed command: a refusal by the server (NO/BAD)
// is a protocol error of that command, anything else the connection's.
func imapErr(what string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return &protoError{what: fmt.Sprintf("%s: %s %s", what, ie.Type, ie.Text)}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return &netError{op: what, err: errors.New("the old server closed the connection")}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &netError{op: what, err: err}
	}
	return &protoError{what: fmt.Sprintf("%s: %v", what, err)}
}

// imap pulls every folder of the old account.
func (p *puller) imap(ctx context.Context, pw string) error {
	c, err := p.imapLogin(ctx, pw)
	if err != nil {
		return err
	}
	defer c.close()
	list, err := c.c.List("", "*", nil).Collect()
	if err != nil {
		return imapErr("LIST", err)
	}
	// INBOX first: it is what people look for.
	slices.SortFunc(list, func(a, b *imap.ListData) int {
		ai, bi := strings.EqualFold(a.Mailbox, "INBOX"), strings.EqualFold(b.Mailbox, "INBOX")
		switch {
		case ai && !bi:
			return -1
		case bi && !ai:
			return 1
		}
		return strings.Compare(a.Mailbox, b.Mailbox)
	})
	boxes, err := p.m.o.Store.Mailboxes(p.acct.ID)
	if err != nil {
		return fmt.Errorf("reading the account's mailboxes: %w", err)
	}
	special := specialMailboxes(boxes)
	condstore := c.c.Caps().Has(imap.CapCondStore)
	for _, l := range list {
		attrs := make([]string, len(l.Attrs))
		for i, a := range l.Attrs {
			attrs[i] = string(a)
		}
		ours, ok := ourName(l.Mailbox, l.Delim, attrs, special)
		if !ok {
			continue
		}
		err := p.imapFolder(ctx, c, l.Mailbox, ours, condstore)
		var fe *folderError
		if errors.As(err, &fe) {
			// This folder only: the others go on.
			p.m.log.Warn("transition folder skipped", "id", p.src.ID, "folder", l.Mailbox, "err", fe.msg)
			p.m.update(p.src.ID, func(r *record) { r.folder(l.Mailbox, ours).Error = fe.msg })
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// folderError is a failure of one folder that the run goes on after.
type folderError struct{ msg string }

func (e *folderError) Error() string { return e.msg }

func (r *record) folder(old, ours string) *Folder {
	if r.Folders == nil {
		r.Folders = map[string]*Folder{}
	}
	f := r.Folders[old]
	if f == nil {
		f = &Folder{}
		r.Folders[old] = f
	}
	f.Ours = ours
	return f
}

// imapFolder brings the flags of the messages of one old folder taken
// before up to date (flags.go), then takes those not taken yet.
func (p *puller) imapFolder(ctx context.Context, c *imapConn, old, ours string, condstore bool) (rerr error) {
	sel, err := c.c.Select(old, &imap.SelectOptions{ReadOnly: true, CondStore: condstore}).Wait()
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return &folderError{fmt.Sprintf("the old server would not open %q: %s", old, ie.Text)}
		}
		return imapErr("EXAMINE "+old, err)
	}
	p.res.Seen += int(sel.NumMessages)
	if err := ensureMailbox(p.m.o.Store, p.acct.ID, ours); err != nil {
		return &folderError{fmt.Sprintf("the folder %q cannot be made here as %q: %v", old, ours, err)}
	}
	mb, err := p.m.o.Store.Mailbox(p.acct.ID, ours)
	if err != nil {
		return fmt.Errorf("reading the mailbox %s: %w", ours, err)
	}
	var last uint32
	var modseq uint64
	// The first messages of a run are compared with what the mailbox has,
	// until one is new: a crash may have added them without recording
	// them (the state is written in batches). After a new UIDVALIDITY
	// (the folder was made anew on the old side) its mail is taken again,
	// and every message is compared.
	checking, checkAll := true, false
	p.m.update(p.src.ID, func(r *record) {
		f := r.folder(old, ours)
		f.Error = ""
		if f.UIDValidity != sel.UIDValidity {
			checkAll = f.UIDValidity != 0
			f.UIDValidity, f.LastUID, f.ModSeq = sel.UIDValidity, 0, 0
		}
		last, modseq = f.LastUID, f.ModSeq
	})
	fm, err := openFlagMap(flagMapPath(p.m.o.Dir, p.src.ID, old), sel.UIDValidity, mb.UIDValidity)
	if err != nil {
		return err
	}
	p.fm = fm
	defer func() {
		p.fm = nil
		fm.close()
	}()
	if !condstore || sel.HighestModSeq == 0 {
		modseq = 0 // every message's flags are read
	}
	if modseq == 0 || sel.HighestModSeq != modseq {
		n, err := p.followFlags(ctx, c, mb.ID, fm, last, modseq)
		if err != nil {
			return err
		}
		p.res.Updated += n
	}
	// The next run asks for what changed after this look; messages taken
	// below at a higher MODSEQ are asked again then, which changes nothing.
	defer func() {
		if rerr == nil && condstore {
			p.m.update(p.src.ID, func(r *record) { r.folder(old, ours).ModSeq = sel.HighestModSeq })
		}
	}()
	if sel.NumMessages == 0 || (sel.UIDNext != 0 && uint32(sel.UIDNext) <= last+1) {
		return nil
	}
	dd := &dedupe{st: p.m.o.Store, acct: p.acct.ID, box: ours}
	var set imap.UIDSet
	set.AddRange(imap.UID(last+1), 0) // last+1:*
	cmd := c.c.Fetch(set, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid uint32
		var flags []string
		var date time.Time
		var spooled *spool
		var body imap.LiteralReader
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(it.UID)
			case imapclient.FetchItemDataFlags:
				flags = flagNames(flags, it)
			case imapclient.FetchItemDataInternalDate:
				date = it.Time
			case imapclient.FetchItemDataBodySection:
				if uid != 0 && uid <= last {
					io.Copy(io.Discard, it.Literal) // "N:*" names the last message even when it is older
					continue
				}
				if uid != 0 && flags != nil && !date.IsZero() && !checking && !checkAll {
					body = it.Literal // everything known: straight into the store
					if err := p.imapAppend(ctx, old, ours, uid, flags, date, body); err != nil {
						return err
					}
					body = nil
					last = uid
					continue
				}
				// The body came before what the store needs first, or it
				// must be compared: keep it aside.
				spooled, err = newSpool(it.Literal, p.m.o.Dir)
				if err != nil {
					return err
				}
			}
		}
		if spooled != nil {
			err := func() error {
				defer spooled.Close()
				if uid == 0 || uid <= last {
					return nil
				}
				if date.IsZero() {
					date = p.m.o.Now()
				}
				ourUID, dup, err := dd.has(spooled)
				if err != nil {
					return err
				}
				if dup {
					// Taken by a run that stopped before recording it: the
					// flags it has here stand for what that run put there.
					here, err := p.m.o.Store.Message(p.acct.ID, mb.ID, ourUID)
					if err != nil {
						return fmt.Errorf("reading a message taken before: %w", err)
					}
					if err := fm.add(uid, ourUID, here.AllFlags()); err != nil {
						return err
					}
					p.m.update(p.src.ID, func(r *record) { r.folder(old, ours).LastUID = uid })
					last = uid
					return nil
				}
				checking = false
				if err := p.imapAppend(ctx, old, ours, uid, flags, date, spooled.reader()); err != nil {
					return err
				}
				last = uid
				return nil
			}()
			if err != nil {
				return err
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return imapErr("FETCH", err)
	}
	return nil
}

// imapAppend adds one message to ours and records it taken.
func (p *puller) imapAppend(ctx context.Context, old, ours string, uid uint32, flags []string, date time.Time, body io.Reader) error {
	f, kw := storage.ParseFlags(flags)
	cr := &counter{r: body}
	d, err := p.m.o.Store.Append(ctx, p.acct.ID, ours, f, kw, date, cr)
	if errors.Is(err, storage.ErrTooLarge) {
		// Skipped, and said so: the move must not stop on one message.
		msg := fmt.Sprintf("message UID %d of %q is larger than this box accepts and was left on the old server", uid, old)
		p.m.log.Warn("transition message too large", "id", p.src.ID, "folder", old, "uid", uid)
		return p.m.update(p.src.ID, func(r *record) {
			fo := r.folder(old, ours)
			fo.LastUID = uid
			fo.Error = msg
		})
	}
	if err != nil {
		return fmt.Errorf("adding a message to %s: %w", ours, err)
	}
	if err := p.fm.add(uid, d.UID, flags); err != nil {
		return err
	}
	return p.took(cr.n, func(r *record) {
		fo := r.folder(old, ours)
		fo.LastUID = uid
		fo.Fetched++
	})
}

// ensureMailbox makes a mailbox and the parents it lacks.
func ensureMailbox(st *storage.Store, acct storage.AccountID, name string) error {
	parts := strings.Split(name, "/")
	for i := 1; i <= len(parts); i++ {
		n := strings.Join(parts[:i], "/")
		if _, err := st.Mailbox(acct, n); errors.Is(err, storage.ErrNoMailbox) {
			if _, err := st.CreateMailbox(acct, n, ""); err != nil && !errors.Is(err, storage.ErrMailboxExists) {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}
