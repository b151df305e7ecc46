package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"postroom/storage"
)

// Account is an account as the operations show it.
type Account struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`      // the login, its primary address
	Addresses []string  `json:"addresses"` // every address delivered here, the login included
	Quota     int64     `json:"quota"`     // bytes; 0: unlimited
	Usage     int64     `json:"usage"`     // bytes
	Messages  int64     `json:"messages"`
	Created   time.Time `json:"created"`
	// RetentionDays: POP3 downloads are deleted from INBOX after so many
	// days; 0 keeps them.
	RetentionDays int  `json:"retention_days"`
	Admin         bool `json:"admin"`
	// PasswordWebOnly: the account's password works on the web page
	// only; mail programs use app passwords.
	PasswordWebOnly bool `json:"password_web_only,omitempty"`
	// LastLogin is the last login seen (any protocol, the web page too),
	// up to 10 minutes old; zero when none. Filled by the list and get
	// operations.
	LastLogin time.Time `json:"last_login,omitzero"`
}

func accountOf(a storage.Account) Account {
	return Account{
		ID: uint64(a.ID), Name: a.Name, Addresses: a.Addresses, Quota: a.Quota, Usage: a.Usage,
		Messages: a.Messages, Created: a.Created, RetentionDays: a.POPRetentionDays, Admin: a.Admin,
		PasswordWebOnly: a.PasswordWebOnly,
	}
}

// AccountResult is the answer of the account operations: the account after
// the change (before it, for a removal).
type AccountResult struct {
	Account Account `json:"account"`
	// Password is set only when the operation made one up (Generate): it
	// is shown once and never stored in clear.
	Password string `json:"password,omitempty"`
	// Mailboxes are the folders a new account got.
	Mailboxes []string `json:"mailboxes,omitempty"`
}

// Limits of what a person types.
const (
	maxAddress  = 254 // RFC 5321 4.5.3.1.3, the path less its brackets
	minPassword = 8
	maxPassword = 256
	maxDays     = 36500
)

// NormalizeAddress checks an address as a person typed it and returns the
// form the store keeps: trimmed, lower case, the domain in its ASCII (IDNA)
// form, so "Anna@Bücher.example" becomes "anna@xn--bcher-kva.example".
// catchAll allows "@domain". The local part may be UTF-8 (SMTPUTF8), but
// never holds spaces, control characters, quotes or angle brackets: what
// could break a header, a log line or a page is refused, not escaped.
func NormalizeAddress(field, addr string, catchAll bool) (string, error) {
	s := strings.TrimSpace(addr)
	what := "an address such as anna@example.org"
	if catchAll {
		what += ", or @example.org for every other address of the domain"
	}
	switch {
	case s == "":
		return "", errorf(CodeInvalid, field, "give %s", what)
	case len(s) > maxAddress:
		return "", errorf(CodeInvalid, field, "an address has at most %d characters", maxAddress)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`<>"\,;:()[]`, r)
	}):
		return "", errorf(CodeInvalid, field, "%q is not an address: it holds a space, a control character or one of <>\"\\,;:()[]", s)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 || at == len(s)-1 || strings.Count(s, "@") != 1 {
		return "", errorf(CodeInvalid, field, "%q is not %s", s, what)
	}
	if at == 0 && !catchAll {
		return "", errorf(CodeInvalid, field, "%q has no name before the @: give e.g. anna%s", s, s)
	}
	domain, err := NormalizeDomain(field, s[at+1:])
	if err != nil {
		return "", err
	}
	out, err := storage.NormalizeAddress(s[:at] + "@" + domain)
	if err != nil || len(out) > maxAddress {
		return "", errorf(CodeInvalid, field, "%q is not %s", s, what)
	}
	return out, nil
}

// NormalizeDomain checks a domain name and returns its lower-case ASCII
// form (IDNA 2008, as browsers look names up).
func NormalizeDomain(field, d string) (string, error) {
	s := strings.TrimSuffix(strings.TrimSpace(d), ".")
	if s == "" {
		return "", errorf(CodeInvalid, field, "give a domain such as example.org")
	}
	ascii, err := idna.Lookup.ToASCII(s)
	if err != nil || !strings.Contains(ascii, ".") || len(ascii) > 253 {
		return "", errorf(CodeInvalid, field, "%q is not a domain such as example.org", safe(s))
	}
	return strings.ToLower(ascii), nil
}

// safe shortens what a person typed for an error message and makes control
// characters visible, so that no message carries a line break or escape.
func safe(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// checkPassword refuses what cannot be a password. It never repeats the
// password in the message.
func checkPassword(field, pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < minPassword:
		return errorf(CodeInvalid, field, "a password has at least %d characters", minPassword)
	case len(pw) > maxPassword:
		return errorf(CodeInvalid, field, "a password has at most %d characters", maxPassword)
	case !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl):
		return errorf(CodeInvalid, field, "a password cannot hold control characters (line breaks, tabs)")
	}
	return nil
}

// newPassword returns the password of a request: the one given, or one made
// up when generate is set and none is given.
func newPassword(field, given string, generate bool) (pw string, generated bool, err error) {
	if given == "" && generate {
		return rand.Text(), true, nil
	}
	return given, false, checkPassword(field, given)
}

// account finds an account by its login.
func (a *Admin) account(field, name string) (storage.Account, error) {
	login, err := NormalizeAddress(field, name, false)
	if err != nil {
		return storage.Account{}, err
	}
	acct, err := a.st.Account(login)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Account{}, errorf(CodeNotFound, field, "no account %q", login)
	}
	if err != nil {
		return storage.Account{}, internal("reading account "+login, err)
	}
	return acct, nil
}

// admins counts the administrators.
func (a *Admin) admins() (int, int, error) {
	accts, err := a.st.Accounts()
	if err != nil {
		return 0, 0, internal("reading the accounts", err)
	}
	n := 0
	for _, x := range accts {
		if x.Admin {
			n++
		}
	}
	return n, len(accts), nil
}

const (
	opAccountAdd    = "account.add"
	opAccountRemove = "account.remove"
)

// AddAccount creates an account with the default mailboxes. Name is the
// login and first address. Password, or with Generate and no Password one
// made up and returned once. Admin makes it an administrator at once.
type AddAccount struct {
	Name     string `json:"name"`
	Password string `json:"password,omitempty"`
	Generate bool   `json:"generate,omitempty"`
	Admin    bool   `json:"admin,omitempty"`
}

func (AddAccount) OpName() string { return opAccountAdd }

// LogValue hides the password if the request itself is ever logged.
func (r AddAccount) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", r.Name), slog.Bool("admin", r.Admin))
}

func (a *Admin) AddAccount(ctx context.Context, by Actor, req AddAccount) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req AddAccount) (AccountResult, string, error) {
		name, err := NormalizeAddress("name", req.Name, false)
		if err != nil {
			return AccountResult{}, "", err
		}
		pw, generated, err := newPassword("password", req.Password, req.Generate)
		if err != nil {
			return AccountResult{}, "", err
		}
		if o, err := a.owner(name); err != nil {
			return AccountResult{}, "", err
		} else if o.Name == name {
			return AccountResult{}, "", errorf(CodeExists, "name", "account %q exists already", name)
		} else if o.Name != "" {
			return AccountResult{}, "", errorf(CodeExists, "name", "%q is already an address of account %s", name, o.Name)
		}
		acct, err := a.st.CreateAccount(name, pw)
		switch {
		case errors.Is(err, storage.ErrAccountExists):
			return AccountResult{}, "", errorf(CodeExists, "name", "account %q exists already", name)
		case errors.Is(err, storage.ErrAddressTaken):
			return AccountResult{}, "", errorf(CodeExists, "name", "%q is already an address of another account", name)
		case err != nil:
			return AccountResult{}, "", internal("creating account "+name, err)
		}
		what := "added account " + acct.Name
		if req.Admin {
			if err := a.st.SetAdmin(acct.Name, true); err != nil {
				// Not half-saved: take the new account away again.
				if derr := a.st.DeleteAccount(acct.Name); derr != nil {
					a.log.Error("admin: undo a half-made account", "account", acct.Name, "err", derr)
				}
				return AccountResult{}, "", internal("making "+acct.Name+" an administrator", err)
			}
			acct.Admin = true
			what += " (administrator)"
		}
		res := AccountResult{Account: accountOf(acct)}
		for _, m := range storage.DefaultMailboxes {
			res.Mailboxes = append(res.Mailboxes, m.Name)
		}
		if generated {
			res.Password = pw
			what += " with a generated password"
		}
		return res, what, nil
	})
}

// RemoveAccount deletes an account and all its mail. The last
// administrator of a box that has other accounts stays: someone must be
// able to run the box.
type RemoveAccount struct {
	Name string `json:"name"`
}

func (RemoveAccount) OpName() string { return opAccountRemove }

func (a *Admin) RemoveAccount(ctx context.Context, by Actor, req RemoveAccount) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RemoveAccount) (AccountResult, string, error) {
		acct, err := a.account("name", req.Name)
		if err != nil {
			return AccountResult{}, "", err
		}
		if acct.Admin {
			n, total, err := a.admins()
			if err != nil {
				return AccountResult{}, "", err
			}
			if n == 1 && total > 1 {
				return AccountResult{}, "", errorf(CodeConflict, "name", "%s is the only administrator: make another account an administrator first", acct.Name)
			}
		}
		if err := a.st.DeleteAccount(acct.Name); err != nil {
			return AccountResult{}, "", internal("removing account "+acct.Name, err)
		}
		return AccountResult{Account: accountOf(acct)},
			fmt.Sprintf("removed account %s and its mail (%d messages, %d bytes)%s", acct.Name, acct.Messages, acct.Usage,
				endedWords(a.endSessions(acct.Name))), nil
	})
}

// RenameAccount changes an account's login. KeepOldAddress keeps the old
// login as an alias, so mail to it still arrives. The new name may be an
// alias of the same account, which becomes the login.
type RenameAccount struct {
	Name           string `json:"name"`
	NewName        string `json:"new_name"`
	KeepOldAddress bool   `json:"keep_old_address,omitempty"`
}

func (RenameAccount) OpName() string { return "account.rename" }

func (a *Admin) RenameAccount(ctx context.Context, by Actor, req RenameAccount) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RenameAccount) (AccountResult, string, error) {
		acct, err := a.account("name", req.Name)
		if err != nil {
			return AccountResult{}, "", err
		}
		to, err := NormalizeAddress("new_name", req.NewName, false)
		if err != nil {
			return AccountResult{}, "", err
		}
		if to == acct.Name {
			return AccountResult{}, "", errorf(CodeInvalid, "new_name", "%s is the account's name already", to)
		}
		got, err := a.st.RenameAccount(acct.Name, to, req.KeepOldAddress)
		if errors.Is(err, storage.ErrAddressTaken) {
			return AccountResult{}, "", a.taken("new_name", to)
		}
		if err != nil {
			return AccountResult{}, "", internal("renaming "+acct.Name, err)
		}
		// Sessions logged in under the old name end: they would log in
		// again under it, which no longer works.
		what := fmt.Sprintf("renamed account %s to %s%s", acct.Name, got.Name, endedWords(a.endSessions(acct.Name)))
		if req.KeepOldAddress {
			what += fmt.Sprintf(" (%s stays an address of it)", acct.Name)
		}
		return AccountResult{Account: accountOf(got)}, what, nil
	})
}

// owner is the account that has addr among its addresses ("" if none).
func (a *Admin) owner(addr string) (storage.Account, error) {
	accts, err := a.st.Accounts()
	if err != nil {
		return storage.Account{}, internal("reading the accounts", err)
	}
	if i := slices.IndexFunc(accts, func(x storage.Account) bool { return slices.Contains(x.Addresses, addr) }); i >= 0 {
		return accts[i], nil
	}
	return storage.Account{}, nil
}

// taken says which account has addr.
func (a *Admin) taken(field, addr string) error {
	who := "another account"
	if o, err := a.owner(addr); err == nil && o.Name != "" {
		who = "account " + o.Name
	}
	if strings.HasPrefix(addr, "@") {
		return errorf(CodeExists, field, "mail for any other address %s already goes to %s", addr, who)
	}
	return errorf(CodeExists, field, "%s already delivers to %s", addr, who)
}

// SetPassword sets an account's password: Password, or with Generate and
// no Password one made up and returned once.
type SetPassword struct {
	Name     string `json:"name"`
	Password string `json:"password,omitempty"`
	Generate bool   `json:"generate,omitempty"`
}

func (SetPassword) OpName() string { return "account.password" }

// LogValue hides the password if the request itself is ever logged.
func (r SetPassword) LogValue() slog.Value { return slog.GroupValue(slog.String("name", r.Name)) }

func (a *Admin) SetPassword(ctx context.Context, by Actor, req SetPassword) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetPassword) (AccountResult, string, error) {
		acct, err := a.account("name", req.Name)
		if err != nil {
			return AccountResult{}, "", err
		}
		pw, generated, err := newPassword("password", req.Password, req.Generate)
		if err != nil {
			return AccountResult{}, "", err
		}
		if err := a.st.SetPassword(acct.Name, pw); err != nil {
			return AccountResult{}, "", internal("setting the password of "+acct.Name, err)
		}
		res := AccountResult{Account: accountOf(acct)}
		what := "changed the password of " + acct.Name
		if generated {
			res.Password = pw
			what += " to a generated one"
		}
		what += endedWords(a.endSessions(acct.Name))
		return res, what, nil
	})
}

// SetQuota limits an account's mail to Bytes; 0 is unlimited. A quota
// below what the account holds already is refused unless AllowBelowUsage:
// new mail would be refused at once.
type SetQuota struct {
	Name            string `json:"name"`
	Bytes           int64  `json:"bytes"`
	AllowBelowUsage bool   `json:"allow_below_usage,omitempty"`
}

func (SetQuota) OpName() string { return "account.quota" }

func (a *Admin) SetQuota(ctx context.Context, by Actor, req SetQuota) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetQuota) (AccountResult, string, error) {
		if req.Bytes < 0 || req.Bytes > 1<<50 {
			return AccountResult{}, "", errorf(CodeInvalid, "bytes", "a quota is 0 (unlimited) or a size up to 1P")
		}
		acct, err := a.account("name", req.Name)
		if err != nil {
			return AccountResult{}, "", err
		}
		if req.Bytes > 0 && req.Bytes < acct.Usage && !req.AllowBelowUsage {
			return AccountResult{}, "", errorf(CodeConflict, "bytes",
				"%s holds %d bytes of mail already, more than that quota: new mail would be refused at once; choose at least that much, or delete mail first", acct.Name, acct.Usage)
		}
		if err := a.st.SetQuota(acct.Name, req.Bytes); err != nil {
			return AccountResult{}, "", internal("setting the quota of "+acct.Name, err)
		}
		acct.Quota = req.Bytes
		what := fmt.Sprintf("set the quota of %s to %d bytes", acct.Name, req.Bytes)
		if req.Bytes == 0 {
			what = "removed the quota of " + acct.Name
		}
		return AccountResult{Account: accountOf(acct)}, what, nil
	})
}

// SetRetention sets after how many days a message downloaded over POP3 is
// deleted from INBOX; 0 keeps messages.
type SetRetention struct {
	Name string `json:"name"`
	Days int    `json:"days"`
}

func (SetRetention) OpName() string { return "account.retention" }

func (a *Admin) SetRetention(ctx context.Context, by Actor, req SetRetention) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetRetention) (AccountResult, string, error) {
		if req.Days < 0 || req.Days > maxDays {
			return AccountResult{}, "", errorf(CodeInvalid, "days", "give a number of days from 1 to %d, or 0 to keep messages", maxDays)
		}
		acct, err := a.account("name", req.Name)
		if err != nil {
			return AccountResult{}, "", err
		}
		if err := a.st.SetPOPRetention(acct.Name, req.Days); err != nil {
			return AccountResult{}, "", internal("setting the retention of "+acct.Name, err)
		}
		acct.POPRetentionDays = req.Days
		return AccountResult{Account: accountOf(acct)}, fmt.Sprintf("set the POP3 retention of %s to %d days", acct.Name, req.Days), nil
	})
}

// SetAdmin gives an account the administrator's rights or takes them
// away. The last administrator keeps them while other accounts exist.
type SetAdmin struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

func (SetAdmin) OpName() string { return "account.admin" }

func (a *Admin) SetAdmin(ctx context.Context, by Actor, req SetAdmin) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetAdmin) (AccountResult, string, error) {
		acct, err := a.account("name", req.Name)
		if err != nil {
			return AccountResult{}, "", err
		}
		if acct.Admin && !req.Admin {
			if n, _, err := a.admins(); err != nil {
				return AccountResult{}, "", err
			} else if n == 1 {
				return AccountResult{}, "", errorf(CodeConflict, "admin", "%s is the only administrator: make another account an administrator first", acct.Name)
			}
		}
		if err := a.st.SetAdmin(acct.Name, req.Admin); err != nil {
			return AccountResult{}, "", internal("changing the administrator flag of "+acct.Name, err)
		}
		acct.Admin = req.Admin
		what := "made " + acct.Name + " an administrator"
		if !req.Admin {
			what = "took the administrator's rights from " + acct.Name
		}
		return AccountResult{Account: accountOf(acct)}, what, nil
	})
}

// AddressResult is the answer of the address operations.
type AddressResult struct {
	Address  string `json:"address"`
	Account  string `json:"account"`
	CatchAll bool   `json:"catch_all,omitempty"` // Address is "@domain"
}

// AddAddress delivers mail for Address to the account Account: an alias
// (info@example.org), or with "@example.org" the domain's catch-all, which
// gets every address of the domain that nothing else claims. An address
// of another account is refused, unless Move: then it moves, in one
// transaction (how a domain's catch-all changes hands). A login never
// moves.
type AddAddress struct {
	Address string `json:"address"`
	Account string `json:"account"`
	Move    bool   `json:"move,omitempty"`
}

func (AddAddress) OpName() string { return "address.add" }

func (a *Admin) AddAddress(ctx context.Context, by Actor, req AddAddress) (AddressResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req AddAddress) (AddressResult, string, error) {
		addr, err := NormalizeAddress("address", req.Address, true)
		if err != nil {
			return AddressResult{}, "", err
		}
		acct, err := a.account("account", req.Account)
		if err != nil {
			return AddressResult{}, "", err
		}
		res := AddressResult{Address: addr, Account: acct.Name, CatchAll: strings.HasPrefix(addr, "@")}
		err = a.st.AddAddress(acct.Name, addr)
		if errors.Is(err, storage.ErrAddressTaken) && req.Move {
			return a.moveAddress(res)
		}
		if errors.Is(err, storage.ErrAddressTaken) {
			return AddressResult{}, "", a.taken("address", addr)
		}
		if err != nil {
			return AddressResult{}, "", internal("adding address "+addr, err)
		}
		if res.CatchAll {
			return res, fmt.Sprintf("mail for any other address %s now goes to %s", addr, acct.Name), nil
		}
		return res, fmt.Sprintf("mail for %s now goes to %s", addr, acct.Name), nil
	})
}

// moveAddress gives res.Address, which another account has, to
// res.Account.
func (a *Admin) moveAddress(res AddressResult) (AddressResult, string, error) {
	owner, err := a.owner(res.Address)
	if err != nil {
		return AddressResult{}, "", err
	}
	switch owner.Name {
	case res.Account:
		return AddressResult{}, "", errorf(CodeExists, "address", "%s goes to %s already", res.Address, res.Account)
	case res.Address:
		return AddressResult{}, "", errorf(CodeConflict, "address", "%s is the login of an account: rename that account first", res.Address)
	}
	from, _, err := a.st.MoveAddress(res.Address, res.Account)
	if err != nil {
		return AddressResult{}, "", internal("moving address "+res.Address, err)
	}
	return res, fmt.Sprintf("mail for %s now goes to %s instead of %s", res.Address, res.Account, from.Name), nil
}

// RemoveAddress stops delivering mail for an alias or catch-all. An
// account's login is not removed this way: remove or rename the account.
type RemoveAddress struct {
	Address string `json:"address"`
}

func (RemoveAddress) OpName() string { return "address.remove" }

func (a *Admin) RemoveAddress(ctx context.Context, by Actor, req RemoveAddress) (AddressResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RemoveAddress) (AddressResult, string, error) {
		addr, err := NormalizeAddress("address", req.Address, true)
		if err != nil {
			return AddressResult{}, "", err
		}
		owner, err := a.owner(addr)
		if err != nil {
			return AddressResult{}, "", err
		}
		switch {
		case owner.Name == "":
			return AddressResult{}, "", errorf(CodeNotFound, "address", "no account has the address %s", addr)
		case owner.Name == addr:
			return AddressResult{}, "", errorf(CodeConflict, "address", "%s is the login of an account: remove or rename the account instead", addr)
		}
		if err := a.st.RemoveAddress(addr); err != nil {
			return AddressResult{}, "", internal("removing address "+addr, err)
		}
		return AddressResult{Address: addr, Account: owner.Name, CatchAll: strings.HasPrefix(addr, "@")},
			fmt.Sprintf("mail for %s is no longer accepted (it went to %s)", addr, owner.Name), nil
	})
}
