package pop3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"postroom/storage"
)

// The retention policy: an account with POPRetentionDays = N > 0 keeps a
// message in INBOX for N days after its first POP3 download, for "leave a
// copy on the server, delete it after N days" without relying on each
// client to do it. It lives here, not in storage, because it must respect
// the POP3 maildrop lock: an account with a POP3 session is skipped and
// retried at the next run, so a session's message numbers never lose a
// message mid-session. The policy is announced in CAPA EXPIRE.

// RetentionResult is what one run did for one account.
type RetentionResult struct {
	Account string
	Deleted int
	Skipped bool // a POP3 session was active
}

// RunRetention applies the policy now and then every
// Options.RetentionInterval until ctx ends; it returns nil then. A failed
// run is logged and retried at the next interval.
func (s *Server) RunRetention(ctx context.Context) error {
	t := time.NewTicker(s.opts.RetentionInterval)
	defer t.Stop()
	for {
		if _, err := s.Retain(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("pop3 retention run failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Retain runs the policy once over every account, at Options.Now, and
// logs each account it looked at.
func (s *Server) Retain(ctx context.Context) ([]RetentionResult, error) {
	accts, err := s.opts.Store.Accounts()
	if err != nil {
		return nil, fmt.Errorf("pop3 retention: list accounts: %w", err)
	}
	var out []RetentionResult
	var errs []error
	for _, a := range accts {
		if a.POPRetentionDays <= 0 {
			continue
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		res := RetentionResult{Account: a.Name}
		if !s.lockAccount(a.ID) {
			res.Skipped = true
			s.log.Info("pop3 retention", "account", a.Name, "days", a.POPRetentionDays, "skipped", "POP3 session active")
			out = append(out, res)
			continue
		}
		n, err := s.retainAccount(a)
		s.unlockAccount(a.ID)
		res.Deleted = n
		if err != nil {
			s.log.Error("pop3 retention", "account", a.Name, "days", a.POPRetentionDays, "deleted", n, "err", err)
			errs = append(errs, err)
		} else {
			s.log.Info("pop3 retention", "account", a.Name, "days", a.POPRetentionDays, "deleted", n)
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// retainAccount expunges the INBOX messages first downloaded N days ago or
// earlier. Messages never downloaded over POP3 stay, whatever their age.
func (s *Server) retainAccount(a storage.Account) (int, error) {
	mb, err := s.opts.Store.Mailbox(a.ID, storage.InboxName)
	if err != nil {
		return 0, fmt.Errorf("open INBOX of %s: %w", a.Name, err)
	}
	msgs, err := s.opts.Store.Messages(a.ID, mb.ID)
	if err != nil {
		return 0, fmt.Errorf("list INBOX of %s: %w", a.Name, err)
	}
	cutoff := s.opts.Now().Add(-time.Duration(a.POPRetentionDays) * 24 * time.Hour)
	var uids []uint32
	for _, m := range msgs {
		if !m.POPDownloaded.IsZero() && !m.POPDownloaded.After(cutoff) {
			uids = append(uids, m.UID)
		}
	}
	if len(uids) == 0 {
		return 0, nil
	}
	gone, err := s.opts.Store.Expunge(a.ID, mb.ID, uids)
	if err != nil {
		return len(gone), fmt.Errorf("expunge from INBOX of %s: %w", a.Name, err)
	}
	return len(gone), nil
}
