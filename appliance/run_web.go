package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"postroom/appliance/admin"
	"postroom/appliance/authguard"
	"postroom/storage"
	"postroom/webui"
)

// The web pages' parts (webui.Options): the admin layer, the logins
// through the login guard, and the sessions in the store.

// webAdmin is webui.Admin: the admin layer that controlWorker makes for
// this start of the services. It is made after the web service is built
// but before any service serves, so a request always finds it; until
// then (and on a start without it) the pages say the box cannot do it.
type webAdmin struct{ r *runner }

func (a webAdmin) Do(ctx context.Context, by admin.Actor, op admin.Op) (any, error) {
	if a.r.admin == nil {
		return nil, &admin.Error{Code: admin.CodeInternal, Message: "the admin layer did not start; the log says why"}
	}
	return a.r.admin.Do(ctx, by, op)
}

// ExportZip is the Backups page's download (webui's mailExporter).
func (a webAdmin) ExportZip(ctx context.Context, by admin.Actor, account, format string, w io.Writer) (admin.TransferResult, error) {
	if a.r.admin == nil {
		return admin.TransferResult{}, &admin.Error{Code: admin.CodeInternal, Message: "the admin layer did not start; the log says why"}
	}
	return a.r.admin.ExportZip(ctx, by, account, format, w)
}

// webLogins is webui.Logins: any account's login, through the same guard
// as IMAP, POP3 and submission.
type webLogins struct {
	r  *runner
	st *storage.Store
}

func (l webLogins) Login(ctx context.Context, remote, user, password string) (string, error) {
	addr, err := net.ResolveTCPAddr("tcp", remote) // "ip:port": no lookup
	if err != nil {
		return "", fmt.Errorf("client address %q: %w", remote, err)
	}
	// The account's own password only: app passwords are for mail programs.
	acct, err := l.r.guard.Login(ctx, l.st.AccountPasswordOnly(), addr, user, password)
	switch {
	case errors.Is(err, authguard.ErrLocked):
		l.r.log.Warn("web login locked out", "user", user, "remote", remote)
		return "", fmt.Errorf("%w: %w", webui.ErrLoginLocked, err)
	case err != nil:
		l.r.log.Warn("web login failed", "user", user, "remote", remote, "err", err)
		return "", err
	}
	if err := l.st.NoteLogin(acct.Name, storage.Login{Protocol: "web", Addr: addr.IP.String()}); err != nil {
		l.r.log.Warn("last login not saved", "account", acct.Name, "err", err)
	}
	return acct.Name, nil
}

// PasswordStamp is webui.PasswordStamps: a password set with postroomctl
// ends the account's web logins too.
func (l webLogins) PasswordStamp(login string) (string, error) { return l.st.PasswordStamp(login) }
