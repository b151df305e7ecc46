package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"postroom/appliance/transition"
)

// The move from the old provider (appliance/transition): an administrator
// gives each account's old IMAP or POP3 login, the box pulls the mail and
// keeps pulling until they say the move is done, which erases the old
// password.

// AddTransition starts moving an old account's mail into Account. The old
// server is logged in to first, so a wrong password or server is said at
// once, next to its field.
type AddTransition struct {
	Account  string `json:"account"`
	Protocol string `json:"protocol"` // imap or pop3
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`     // 0: the usual port
	Security string `json:"security,omitempty"` // tls (default) or starttls
	Username string `json:"username"`
	Password string `json:"password"`
	// Pin is the SHA-256 fingerprint of the old server's certificate to
	// trust in place of the usual checks, as a CertificateError showed it
	// (a self-signed or out-of-date certificate of the office's own old
	// server); "" for the usual checks.
	Pin string `json:"pin,omitempty"`
}

func (AddTransition) OpName() string { return "transition.add" }

// LogValue hides the old password if the request itself is ever logged.
func (r AddTransition) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account", r.Account), slog.String("host", r.Host), slog.String("username", r.Username), slog.String("pin", r.Pin))
}

// CertificateError is AddTransition's refusal of an old server whose
// certificate is not trusted. Its Err is the usual *Error (field
// "certificate", the certificate described in its message, so a remote
// caller reads it too); Certificate lets the page offer to trust it:
// AddTransition again with Pin set to Certificate.SHA256.
type CertificateError struct {
	Err         *Error
	Certificate transition.CertInfo
	// Pinned is the fingerprint that was given, when the server showed
	// another certificate; "" when none was given.
	Pinned string
}

func (e *CertificateError) Error() string { return e.Err.Error() }
func (e *CertificateError) Unwrap() error { return e.Err }

// ListTransitions lists the moves, running and finished.
type ListTransitions struct{}

func (ListTransitions) OpName() string { return "transition.list" }
func (ListTransitions) readOnly()      {}

// RunTransitions pulls every running move now rather than at its next
// turn; it returns at once, the pages show the progress.
type RunTransitions struct{}

func (RunTransitions) OpName() string { return "transition.run" }

// FinishTransition ends a move (the MX points at the box now): the old
// account is not pulled again and its password is erased.
type FinishTransition struct {
	ID string `json:"id"`
}

func (FinishTransition) OpName() string { return "transition.finish" }

// TrustTransitionCertificate trusts, for a running move, the certificate
// the old server showed when its last fetch was refused for it
// (Source.Offered): an old server of the office's own whose certificate
// changed. Pin is that certificate's SHA-256 fingerprint.
type TrustTransitionCertificate struct {
	ID  string `json:"id"`
	Pin string `json:"pin"`
}

func (TrustTransitionCertificate) OpName() string { return "transition.trust" }

func (a *Admin) TrustTransitionCertificate(ctx context.Context, by Actor, req TrustTransitionCertificate) (transition.Source, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req TrustTransitionCertificate) (transition.Source, string, error) {
		m, err := a.transitions()
		if err != nil {
			return transition.Source{}, "", err
		}
		src, err := m.Trust(req.ID, req.Pin)
		if err != nil {
			return src, "", transitionErr(err)
		}
		m.Kick()
		return src, fmt.Sprintf("trusting the old server's certificate %s for the move of %s on %s into %s", src.Pin, src.Username, src.Host, src.Account), nil
	})
}

// RemoveTransition forgets a finished move.
type RemoveTransition struct {
	ID string `json:"id"`
}

func (RemoveTransition) OpName() string { return "transition.remove" }

// Transitions is the answer of the transition operations.
type Transitions struct {
	Sources []transition.Source `json:"sources"`
}

func (a *Admin) transitions() (*transition.Manager, error) {
	if a.o.Transition == nil {
		return nil, errorf(CodeConflict, "", "moving mail from an old provider is done by the running box: start it first")
	}
	return a.o.Transition, nil
}

// transitionErr turns the manager's errors into this package's.
func transitionErr(err error) error {
	var fe *transition.FieldError
	var ce *transition.CertError
	switch {
	case errors.As(err, &ce):
		return &CertificateError{Err: errorf(CodeInvalid, "certificate", "%s", ce.Error()), Certificate: ce.Cert, Pinned: ce.Pinned}
	case errors.As(err, &fe):
		return errorf(CodeInvalid, fe.Field, "%s", fe.Msg)
	case errors.Is(err, transition.ErrNotFound):
		return errorf(CodeNotFound, "id", "there is no such move")
	}
	return internal("the move from the old provider", err)
}

func (a *Admin) AddTransition(ctx context.Context, by Actor, req AddTransition) (transition.Source, error) {
	m, err := a.transitions()
	if err != nil {
		return transition.Source{}, a.refused(ctx, by, req, err)
	}
	acct, err := a.account("account", req.Account)
	if err != nil {
		return transition.Source{}, a.refused(ctx, by, req, err)
	}
	n := transition.NewSource{Account: acct.Name, Protocol: req.Protocol, Host: req.Host, Port: req.Port,
		Security: req.Security, Username: req.Username, Password: req.Password, Pin: req.Pin}
	// The old server is asked before the lock is taken: it may take a
	// minute to answer, and other changes need not wait for it.
	if err := m.Check(ctx, &n); err != nil {
		return transition.Source{}, a.refused(ctx, by, req, transitionErr(err))
	}
	return run(a, ctx, by, req, func(ctx context.Context, _ AddTransition) (transition.Source, string, error) {
		src, err := m.Keep(n)
		if err != nil {
			return src, "", transitionErr(err)
		}
		m.Kick()
		what := fmt.Sprintf("started moving %s on %s (%s) into %s", src.Username, src.Host, src.Protocol, src.Account)
		if src.Pin != "" {
			what += ", trusting the old server's certificate " + src.Pin
		}
		return src, what, nil
	})
}

func (a *Admin) ListTransitions(ctx context.Context, by Actor, req ListTransitions) (Transitions, error) {
	return run(a, ctx, by, req, func(ctx context.Context, _ ListTransitions) (Transitions, string, error) {
		m, err := a.transitions()
		if err != nil {
			return Transitions{}, "", err
		}
		return Transitions{Sources: m.List()}, "", nil
	})
}

func (a *Admin) RunTransitions(ctx context.Context, by Actor, req RunTransitions) (Transitions, error) {
	return run(a, ctx, by, req, func(ctx context.Context, _ RunTransitions) (Transitions, string, error) {
		m, err := a.transitions()
		if err != nil {
			return Transitions{}, "", err
		}
		m.Kick()
		return Transitions{Sources: m.List()}, "asked for the old accounts to be pulled now", nil
	})
}

func (a *Admin) FinishTransition(ctx context.Context, by Actor, req FinishTransition) (transition.Source, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req FinishTransition) (transition.Source, string, error) {
		m, err := a.transitions()
		if err != nil {
			return transition.Source{}, "", err
		}
		src, err := m.Finish(req.ID)
		if err != nil {
			return src, "", transitionErr(err)
		}
		return src, fmt.Sprintf("finished moving %s on %s into %s (%d messages); its password is erased", src.Username, src.Host, src.Account, src.Fetched), nil
	})
}

func (a *Admin) RemoveTransition(ctx context.Context, by Actor, req RemoveTransition) (Transitions, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RemoveTransition) (Transitions, string, error) {
		m, err := a.transitions()
		if err != nil {
			return Transitions{}, "", err
		}
		if err := m.Remove(req.ID); err != nil {
			return Transitions{}, "", transitionErr(err)
		}
		return Transitions{Sources: m.List()}, "removed a finished move " + req.ID, nil
	})
}
