package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"filippo.io/age"

	"postroom/storage"
)

// Restore of one account's mail, or one folder, on the running box, from
// a backup this box made (read with the box's own key: the office's
// recovery key is not needed). It is put back so that mail programs keep
// what they have:
//   - a folder that is gone comes back with its UIDVALIDITY, its messages
//     with their UIDs, UIDNEXT where it was;
//   - a folder that exists keeps its UIDs (they only ever go up), and the
//     messages it lacks are added as new ones, with their flags and dates;
//     a message already there (the same bytes) is skipped.

// MailRestore asks for one account's mailboxes (Mailbox "": all) from
// the backup Name ("": the newest that can be restored).
type MailRestore struct {
	Account string `json:"account"`
	Mailbox string `json:"mailbox,omitempty"`
	Name    string `json:"name,omitempty"`
}

// MailRestoreResult says what was put back.
type MailRestoreResult struct {
	Backup    string            `json:"backup"`
	Mailboxes []MailboxRestored `json:"mailboxes"`
}

// MailboxRestored is one mailbox's part.
type MailboxRestored struct {
	Name string `json:"name"`
	// Recreated: the mailbox was gone and came back with its UIDVALIDITY
	// and UIDs; else the missing messages were added.
	Recreated   bool   `json:"recreated"`
	UIDValidity uint32 `json:"uidvalidity"`
	Added       int    `json:"added"`
	Skipped     int    `json:"skipped"`
}

// ErrNoAccount: the account to restore into is not on the box.
var ErrNoAccount = errors.New("the account is not on this box: add it first, then put its mail back")

// RestoreMail puts an account's mail back from a backup.
func (m *Manager) RestoreMail(ctx context.Context, req MailRestore) (*MailRestoreResult, error) {
	if !m.run.TryLock() {
		return nil, ErrBusy
	}
	defer m.run.Unlock()
	live, err := m.o.Store.Account(req.Account)
	if err != nil {
		return nil, ErrNoAccount
	}
	bc := m.o.Config().Backup
	t, err := m.o.OpenTarget(ctx, m.o.DataDir, bc)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	list, err := List(ctx, t)
	if err != nil {
		return nil, err
	}
	var b *Backup
	for i := range list {
		if list[i].Restorable && (req.Name == "" || list[i].Name == req.Name) {
			b = &list[i]
			break
		}
	}
	if b == nil {
		return nil, fmt.Errorf("there is no complete backup %s on %s", req.Name, t)
	}
	id, err := boxIdentity(m.o.DataDir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(m.o.Scratch, "mail")
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(m.o.Scratch, 0o700); err != nil {
		return nil, err
	}
	if _, err := restoreChain(ctx, t, b.Chain, []age.Identity{id}, filepath.Join(dir, "store"), m.o.Logger, nil); err != nil {
		if errors.Is(err, ErrWrongKey) {
			return nil, fmt.Errorf("%w: the backup was made by another box; restore the whole box with the recovery key instead", err)
		}
		return nil, err
	}
	old, err := storage.Open(storage.Options{Dir: filepath.Join(dir, "store"), Logger: m.o.Logger, NoGC: true})
	if err != nil {
		return nil, err
	}
	defer old.Close()
	oldAcct, err := old.Account(req.Account)
	if err != nil {
		return nil, fmt.Errorf("the backup %s has no account %s", b.Name, req.Account)
	}
	boxes, err := old.Mailboxes(oldAcct.ID)
	if err != nil {
		return nil, err
	}
	if req.Mailbox != "" {
		cn, err := storage.CanonicalMailboxName(req.Mailbox)
		if err != nil {
			return nil, err
		}
		boxes = slices.DeleteFunc(boxes, func(mb storage.Mailbox) bool { return mb.Name != cn })
		if len(boxes) == 0 {
			return nil, fmt.Errorf("the backup %s has no folder %s in %s", b.Name, req.Mailbox, req.Account)
		}
	}
	res := &MailRestoreResult{Backup: b.Name}
	for _, mb := range boxes {
		r, err := m.restoreMailbox(ctx, old, oldAcct.ID, mb, live.ID)
		if r != nil {
			res.Mailboxes = append(res.Mailboxes, *r)
		}
		if err != nil {
			return res, fmt.Errorf("folder %s: %w", mb.Name, err)
		}
	}
	m.log.Info("mail put back from a backup", "backup", b.Name, "account", req.Account, "mailbox", req.Mailbox, "mailboxes", len(res.Mailboxes))
	return res, nil
}

func (m *Manager) restoreMailbox(ctx context.Context, old *storage.Store, oldAcct storage.AccountID, mb storage.Mailbox, acct storage.AccountID) (*MailboxRestored, error) {
	st := m.o.Store
	r := &MailboxRestored{Name: mb.Name, UIDValidity: mb.UIDValidity}
	have := map[[32]byte]bool{}
	_, err := st.Mailbox(acct, mb.Name)
	switch {
	case errors.Is(err, storage.ErrNoMailbox):
		if _, err := st.RecreateMailbox(acct, mb.Name, mb.SpecialUse, mb.Subscribed, mb.UIDValidity); err != nil {
			return nil, err
		}
		r.Recreated = true
	case err != nil:
		return nil, err
	default:
		cur, _ := st.Mailbox(acct, mb.Name)
		r.UIDValidity = cur.UIDValidity
		msgs, err := st.Messages(acct, cur.ID)
		if err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			if o, err := st.Object(msg.Object); err == nil {
				h, err := messageHash(st, o)
				if err != nil {
					return nil, err
				}
				have[h] = true
			}
		}
	}
	msgs, err := old.Messages(oldAcct, mb.ID)
	if err != nil {
		return r, err
	}
	for _, msg := range msgs {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		o, err := old.Object(msg.Object)
		if err != nil {
			return r, err
		}
		h, err := messageHash(old, o)
		if err != nil {
			return r, err
		}
		if have[h] {
			r.Skipped++
			continue
		}
		body := old.OpenObjectBody(o)
		if r.Recreated {
			_, err = st.AppendUID(ctx, acct, mb.Name, msg.UID, msg.Flags, msg.Keywords, msg.InternalDate, body.Reader())
		} else {
			_, err = st.Append(ctx, acct, mb.Name, msg.Flags, msg.Keywords, msg.InternalDate, body.Reader())
		}
		body.Close()
		if err != nil {
			return r, err
		}
		have[h] = true
		r.Added++
	}
	if r.Recreated {
		if err := st.RaiseUIDNext(acct, mb.Name, mb.UIDNext); err != nil {
			return r, err
		}
	}
	return r, nil
}

// messageHash is the SHA-256 of a message's bytes as a client sees them:
// the stored body's own hash when it has no trace fields in front, else
// read (a message put back has them in its body, so only this form
// compares equal on both sides).
func messageHash(st *storage.Store, o storage.Object) ([32]byte, error) {
	if len(o.Prefix) == 0 {
		return o.SHA256, nil
	}
	b := st.OpenObjectBody(o)
	defer b.Close()
	h := sha256.New()
	if _, err := io.Copy(h, b.Reader()); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}
