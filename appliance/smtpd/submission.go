package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/authguard"
	"postroom/appliance/mailauth"
	"postroom/storage"
)

// Submission replies (RFC 4954 6 for AUTH, RFC 6409 for the rest).
var (
	errAuthRequired = reply(530, 5, 7, 0, "Authentication required")
	errAuthFailed   = reply(535, 5, 7, 8, "Authentication credentials invalid")
	// authguard locked the address or the account: temporary (RFC 4954 6,
	// 454 4.7.0 "Temporary authentication failure").
	errAuthLocked = reply(454, 4, 7, 0, "Too many failed logins, try again later")
	errAuthTemp   = reply(454, 4, 7, 0, "Temporary authentication failure, try again later")
	// RFC 4954 4 and 6: a mechanism that sends the password in the clear
	// needs TLS first.
	errEncryptionRequired = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism")
	errAuthMech           = reply(504, 5, 5, 4, "Unrecognized authentication type")
	errAuthSyntax         = reply(501, 5, 5, 2, "Invalid AUTH response")
	errNoAuthHere         = reply(502, 5, 5, 1, "No AUTH on this port, use the submission port 587")
	errNotYourSender      = reply(553, 5, 7, 1, "Sender address does not belong to your account")
	errNotYourFrom        = reply(553, 5, 7, 1, "From: or Sender: address does not belong to your account")
	// RFC 5322 3.6 requires exactly one From: field with at least one
	// address; without it we cannot tell who is writing.
	errBadFrom     = reply(550, 5, 6, 0, "Message needs a From: header field with your address")
	errRateLimited = reply(451, 4, 7, 1, "Sending rate exceeded, try again later")
	// No Outbound configured. Temporary, not permanent: it is a
	// setting of this box that its operator can change, so a relaying
	// client should keep the message, and a mail program shows the
	// reason either way (see docs and the report).
	errNoOutbound = reply(451, 4, 3, 0, "Outbound mail is not configured on this server")
	errNoLiteral  = reply(553, 5, 1, 2, "Address literals are not accepted for remote delivery")
	errQueue      = reply(451, 4, 3, 0, "Cannot queue the message right now, try again later")
)

// Outbound is the outbound mail queue as submission needs it (STYLE
// convention 1: the consumer owns the interface). *queue.Queue is one.
type Outbound interface {
	// EnqueueStaged queues the staged message for the recipients, with
	// prefix (our header fields) in front, and returns once it is
	// durable; the queue then delivers it on its own. The queue takes a
	// reference to the staged body: it is not copied.
	EnqueueStaged(ctx context.Context, from string, to []string, body *storage.Staged, prefix []byte) (id string, err error)
}

// AuthMechanisms lists what EHLO offers (RFC 4954 3): PLAIN and LOGIN, and
// only where a password may travel (authguard.PlaintextAllowed): under TLS,
// or from the LAN when the config allows it.
func (s *session) AuthMechanisms() []string {
	if s.srv.opts.Submission == nil || !s.plaintextOK() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) plaintextOK() bool {
	return authguard.PlaintextAllowed(s.sconn.Conn().RemoteAddr(), s.tls != nil, s.srv.opts.Submission.AllowPlaintextLAN)
}

// Auth starts a SASL exchange (RFC 4954 4). go-smtp has refused a second
// AUTH after success and does the base64 and the "*" cancel.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.srv.opts.Submission == nil {
		return nil, s.refuse(nil, errNoAuthHere, "AUTH")
	}
	if !s.plaintextOK() {
		return nil, s.refuse(nil, errEncryptionRequired, "AUTH", "mech", mech)
	}
	switch mech {
	case sasl.Plain:
		// RFC 4616 2: an authorization identity other than the login
		// asks to act as someone else, which nobody may.
		return saslReplies{sasl.NewPlainServer(func(identity, user, password string) error {
			if identity != "" && identity != user {
				return s.refuse(nil, errAuthFailed, "AUTH", "user", user, "reason", "authorization identity differs")
			}
			return s.login(user, password)
		})}, nil
	case sasl.Login:
		return saslReplies{&loginServer{auth: s.login}}, nil
	}
	return nil, s.refuse(nil, errAuthMech, "AUTH", "mech", mech)
}

// login checks the password through the shared Guard (delay and lockout).
// The password goes nowhere else: not to the log, not to any reply.
func (s *session) login(user, password string) error {
	sub := s.srv.opts.Submission
	acct, err := s.srv.guard.Login(s.srv.ctx, sub.Accounts, s.sconn.Conn().RemoteAddr(), user, password)
	switch {
	case err == nil:
		s.acct = &acct
		if s.conn != nil {
			s.conn.fc.LoggedIn()                  // the front's pre-login limits end
			s.conn.fc.SetClient(acct.AppPassword) // the device's name, when known
			s.conn.fc.SetAccount(acct.Name)
		}
		s.srv.log.Info("smtp login", s.logAttrs(nil)...)
		return nil
	case errors.Is(err, storage.ErrAuthFailed):
		return s.refuse(nil, errAuthFailed, "AUTH", "user", user)
	case errors.Is(err, authguard.ErrLocked):
		return s.refuse(nil, errAuthLocked, "AUTH", "user", user)
	case s.srv.ctx.Err() != nil:
		return s.refuse(nil, errShutdown, "AUTH")
	default:
		return s.refuse(nil, errAuthTemp, "AUTH", "user", user, "error", err)
	}
}

// saslReplies turns go-sasl's own errors (a malformed PLAIN response) into
// an SMTP reply; go-smtp would put their text on the wire.
type saslReplies struct{ sasl.Server }

func (w saslReplies) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := w.Server.Next(resp)
	var se *smtp.SMTPError
	if err != nil && !errors.As(err, &se) {
		err = errAuthSyntax
	}
	return ch, done, err
}

// allow takes one token of the account's sending rate; nil (the MX role)
// and no Limiter allow everything.
func (sub *Submission) allow(acct *storage.Account) bool {
	if sub == nil || acct == nil {
		return true
	}
	return sub.Limiter.Allow(acct.ID)
}

// owns reports whether the logged-in account may use addr as a sender:
// exactly when mail to addr would be delivered to it (Store.Resolve): its
// name and aliases, a "+tag" of those (RFC 5233), and for a catch-all
// "@domain" every address of that domain that no other account has. So the
// owner of a catch-all cannot write as a colleague in the same domain.
func (s *session) owns(addr string) (bool, error) {
	id, err := s.srv.opts.Store.Resolve(addr)
	if errors.Is(err, storage.ErrUnknownAddress) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resolve sender %q: %w", addr, err)
	}
	return id == s.acct.ID, nil
}

// rcptRemote accepts a recipient in another domain for the queue.
func (s *session) rcptRemote(tx *transaction, to string, addr address) error {
	sub := s.srv.opts.Submission
	switch {
	case sub.Outbound == nil:
		return s.refuse(tx, errNoOutbound, "RCPT", "rcpt", to)
	case strings.HasPrefix(addr.domain, "["):
		return s.refuse(tx, errNoLiteral, "RCPT", "rcpt", to)
	case !sub.allow(s.acct):
		return s.refuse(tx, errRateLimited, "RCPT", "rcpt", to)
	}
	r := addr.remote()
	for _, have := range tx.remote {
		if have == r {
			tx.accept(to)
			return nil
		}
	}
	tx.remote = append(tx.remote, r)
	tx.accept(to)
	return nil
}

// submit checks a submitted message, completes its header (RFC 6409 8),
// delivers it to local recipients and queues it for remote ones.
//
// Local delivery comes first; if queueing then fails the client gets 451
// and retries, and local recipients get a second copy: SMTP has no partial
// success for one DATA, and a duplicate is better than a loss.
func (s *session) submit(tx *transaction, body io.Reader, start time.Time) ([]any, error) {
	sg, err := s.stage(body)
	if err != nil {
		return nil, err
	}
	defer sg.Close()
	hdr, _, err := mailauth.ReadHeader(sg.Reader())
	if err != nil && !errors.Is(err, mailauth.ErrNoHeader) {
		return nil, fmt.Errorf("read back the staged message: %w", err)
	}
	fields := mailauth.Fields(hdr)
	if err := s.checkAuthors(fields); err != nil {
		return nil, err
	}
	rcv := received(s.trace(tx, start)) + missingFields(fields, tx.id, s.srv.opts.Hostname, start)

	rcpts := tx.rcpts
	sub := s.srv.opts.Submission
	if sub.SentCopy {
		rcpts = append(rcpts[:len(rcpts):len(rcpts)], storage.Recipient{Account: s.acct.ID, Mailbox: "Sent", Flags: storage.FlagSeen, Origin: storage.OriginSentCopy})
	}
	attrs := []any{"local", len(tx.rcpts), "remote", len(tx.remote), "sent_copy", sub.SentCopy}
	// One body for both: the local copies and the queue each hold a
	// reference to it, with their own header fields in front.
	if len(rcpts) > 0 {
		if err := s.commitLocal(sg, rcpts, returnPath(tx.from)+rcv); err != nil {
			return attrs, err
		}
	}
	if len(tx.remote) > 0 {
		id, err := sub.Outbound.EnqueueStaged(s.srv.ctx, tx.from, tx.remote, sg, []byte(rcv))
		if err != nil {
			return attrs, fmt.Errorf("%w: enqueue: %w", errQueue, err)
		}
		attrs = append(attrs, "queue_id", id)
	}
	return attrs, nil
}

// checkAuthors enforces that the author fields name the account: every
// address of every From: field, and the Sender: field (RFC 5322 3.6.2),
// which would otherwise let a user claim to send on someone's behalf.
//
// The error is an *smtp.SMTPError for the client, or a store fault.
func (s *session) checkAuthors(fields []mailauth.Field) error {
	from := 0
	for _, f := range fields {
		isFrom := strings.EqualFold(f.Name, "From")
		if !isFrom && !strings.EqualFold(f.Name, "Sender") {
			continue
		}
		addrs, ok := mailauth.Addresses(f.Value)
		if !ok || len(addrs) == 0 {
			return errBadFrom
		}
		for _, a := range addrs {
			ok, err := s.owns(a)
			if err != nil {
				return err
			}
			if !ok {
				return errNotYourFrom
			}
		}
		if isFrom {
			from++
		}
	}
	if from == 0 {
		return errBadFrom
	}
	return nil
}

// missingFields returns the Date: and Message-ID: fields a message lacks
// (RFC 6409 8.2 and 8.3: the MSA may add them; RFC 5322 3.6 wants both).
func missingFields(fields []mailauth.Field, id, host string, now time.Time) string {
	hasDate, hasID := false, false
	for _, f := range fields {
		hasDate = hasDate || strings.EqualFold(f.Name, "Date")
		hasID = hasID || strings.EqualFold(f.Name, "Message-ID")
	}
	var b strings.Builder
	if !hasDate {
		b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	}
	if !hasID {
		b.WriteString("Message-ID: <" + id + "." + newTransactionID() + "@" + host + ">\r\n")
	}
	return b.String()
}
