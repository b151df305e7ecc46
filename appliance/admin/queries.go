package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"postroom/storage"
)

// AccountList is the accounts asked for, by name, and how many match in
// all (for paging).
type AccountList struct {
	Accounts []Account `json:"accounts"`
	Total    int       `json:"total"`
}

// ListAccounts lists the accounts with their addresses and usage, by name:
// every one, or those with Query in one of their addresses (any case), and
// of those Limit (0: all) from Offset, so a page of a large office shows
// one screenful.
type ListAccounts struct {
	Query  string `json:"query,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

func (ListAccounts) OpName() string { return "account.list" }
func (ListAccounts) readOnly()      {}

func (a *Admin) accounts() ([]Account, error) {
	accts, err := a.st.Accounts()
	if err != nil {
		return nil, internal("reading the accounts", err)
	}
	last, err := a.st.LastLogins()
	if err != nil {
		return nil, internal("reading the last logins", err)
	}
	out := make([]Account, 0, len(accts))
	for _, x := range accts {
		acct := accountOf(x)
		acct.LastLogin = last[x.ID].Last
		out = append(out, acct)
	}
	slices.SortFunc(out, func(x, y Account) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

func (a *Admin) ListAccounts(ctx context.Context, by Actor, req ListAccounts) (AccountList, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListAccounts) (AccountList, string, error) {
		if req.Offset < 0 || req.Limit < 0 {
			return AccountList{}, "", errorf(CodeInvalid, "offset", "give an offset and a limit of 0 or more")
		}
		accts, err := a.accounts()
		if err != nil {
			return AccountList{}, "", err
		}
		if q := strings.ToLower(strings.TrimSpace(req.Query)); q != "" {
			accts = slices.DeleteFunc(accts, func(x Account) bool {
				return !slices.ContainsFunc(x.Addresses, func(ad string) bool { return strings.Contains(ad, q) })
			})
		}
		out := AccountList{Total: len(accts), Accounts: accts[min(req.Offset, len(accts)):]}
		if req.Limit > 0 && len(out.Accounts) > req.Limit {
			out.Accounts = out.Accounts[:req.Limit]
		}
		return out, "", nil
	})
}

// GetAccount reads one account.
type GetAccount struct {
	Name string `json:"name"`
}

func (GetAccount) OpName() string { return "account.get" }
func (GetAccount) readOnly()      {}

func (a *Admin) GetAccount(ctx context.Context, by Actor, req GetAccount) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req GetAccount) (AccountResult, string, error) {
		acct, err := a.account("name", req.Name)
		if err != nil {
			return AccountResult{}, "", err
		}
		res := AccountResult{Account: accountOf(acct)}
		if ds, err := a.st.Devices(acct.Name); err == nil && len(ds) > 0 {
			res.Account.LastLogin = ds[0].Last
		}
		return res, "", nil
	})
}

// MailboxList is an account's folders with their counts.
type MailboxList struct {
	Account   Account           `json:"account"`
	Mailboxes []storage.Mailbox `json:"mailboxes"`
}

// ListMailboxes lists an account's folders.
type ListMailboxes struct {
	Account string `json:"account"`
}

func (ListMailboxes) OpName() string { return "mailbox.list" }
func (ListMailboxes) readOnly()      {}

func (a *Admin) ListMailboxes(ctx context.Context, by Actor, req ListMailboxes) (MailboxList, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListMailboxes) (MailboxList, string, error) {
		acct, err := a.account("account", req.Account)
		if err != nil {
			return MailboxList{}, "", err
		}
		boxes, err := a.st.Mailboxes(acct.ID)
		if err != nil {
			return MailboxList{}, "", internal("reading the mailboxes of "+acct.Name, err)
		}
		return MailboxList{Account: accountOf(acct), Mailboxes: boxes}, "", nil
	})
}

// MessageRow is one message of a folder, for a list.
type MessageRow struct {
	UID     uint32    `json:"uid"`
	Date    time.Time `json:"date"` // when it arrived (IMAP INTERNALDATE)
	Size    int64     `json:"size"`
	Flags   []string  `json:"flags"`
	From    string    `json:"from"`              // "Name <local@host>", not decoded further
	Subject string    `json:"subject"`           // decoded
	Problem string    `json:"problem,omitempty"` // the message's body record cannot be read
}

// MessageList is (the end of) a folder's messages, oldest first.
type MessageList struct {
	Account  string       `json:"account"`
	Mailbox  string       `json:"mailbox"`
	Total    int          `json:"total"`
	Messages []MessageRow `json:"messages"`
}

// ListMessages lists a folder's messages (default INBOX); Last > 0 only the
// newest Last.
type ListMessages struct {
	Account string `json:"account"`
	Mailbox string `json:"mailbox,omitempty"`
	Last    int    `json:"last,omitempty"`
}

func (ListMessages) OpName() string { return "message.list" }
func (ListMessages) readOnly()      {}

func (a *Admin) ListMessages(ctx context.Context, by Actor, req ListMessages) (MessageList, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListMessages) (MessageList, string, error) {
		if req.Last < 0 {
			return MessageList{}, "", errorf(CodeInvalid, "last", "give 0 (all) or more")
		}
		acct, err := a.account("account", req.Account)
		if err != nil {
			return MessageList{}, "", err
		}
		name := req.Mailbox
		if name == "" {
			name = storage.InboxName
		}
		mb, err := a.st.Mailbox(acct.ID, name)
		if errors.Is(err, storage.ErrNoMailbox) || errors.Is(err, storage.ErrNotFound) {
			return MessageList{}, "", errorf(CodeNotFound, "mailbox", "%s has no mailbox %q", acct.Name, safe(name))
		}
		if err != nil {
			return MessageList{}, "", internal("reading the mailbox", err)
		}
		msgs, err := a.st.Messages(acct.ID, mb.ID)
		if err != nil {
			return MessageList{}, "", internal("reading the messages", err)
		}
		out := MessageList{Account: acct.Name, Mailbox: mb.Name, Total: len(msgs), Messages: []MessageRow{}}
		if req.Last > 0 && len(msgs) > req.Last {
			msgs = msgs[len(msgs)-req.Last:]
		}
		for _, m := range msgs {
			row := MessageRow{UID: m.UID, Date: m.InternalDate, Size: m.Size, Flags: m.AllFlags()}
			if o, err := a.st.Object(m.Object); err != nil {
				row.Problem = err.Error()
			} else if e := o.Envelope; e != nil {
				row.Subject = e.Subject
				if len(e.From) > 0 {
					row.From = mailbox(e.From[0])
				}
			}
			out.Messages = append(out.Messages, row)
		}
		return out, "", nil
	})
}

// mailbox shows an address as "Name <local@host>", or without the name.
func mailbox(ad storage.Address) string {
	s := ad.Mailbox
	if ad.Host != "" {
		s += "@" + ad.Host
	}
	if ad.Name != "" {
		return ad.Name + " <" + s + ">"
	}
	return s
}

// StatsResult is the store's counts and sizes, and every account.
type StatsResult struct {
	Store    storage.Stats `json:"store"`
	Accounts []Account     `json:"accounts"`
}

// GetStats reads the store's counts and sizes.
type GetStats struct{}

func (GetStats) OpName() string { return "store.stats" }
func (GetStats) readOnly()      {}

func (a *Admin) GetStats(ctx context.Context, by Actor, req GetStats) (StatsResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req GetStats) (StatsResult, string, error) {
		s, err := a.st.Stats()
		if err != nil {
			return StatsResult{}, "", internal("reading the store's figures", err)
		}
		accts, err := a.accounts()
		return StatsResult{Store: s, Accounts: accts}, "", err
	})
}

// CheckResult is what the consistency check found.
type CheckResult struct {
	Accounts int64    `json:"accounts"`
	Messages int64    `json:"messages"`
	Problems []string `json:"problems"`
}

// CheckStore recounts and verifies everything in the store (storage.Check),
// in one consistent snapshot, so it runs on a live box too. It repairs
// nothing.
type CheckStore struct{}

func (CheckStore) OpName() string { return "store.check" }
func (CheckStore) readOnly()      {}

func (a *Admin) CheckStore(ctx context.Context, by Actor, req CheckStore) (CheckResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req CheckStore) (CheckResult, string, error) {
		r, err := a.st.CheckReport(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return CheckResult{}, "", ctx.Err()
			}
			return CheckResult{}, "", internal("checking the store", err)
		}
		return CheckResult{Accounts: r.Accounts, Messages: r.Messages, Problems: append([]string{}, r.Problems...)}, "", nil
	})
}
