package appliance

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/storage"
)

// The trial boot's self-test (run_update.go): a new version is kept only
// if, on this box with this store and this configuration,
//  1. the store opens (it did, or the start failed) and its quick check
//     (storage.Check) finds nothing wrong;
//  2. every enabled service answers on its port: each accepts a
//     connection, and the mail services greet (220, * OK, +OK);
//  3. a message goes through: over loopback SMTP to a temporary account,
//     read back over IMAP. The account is removed afterwards. It is sent
//     on the submission port, logged in as that account, when submission
//     is on: the inbound port's sender checks ask DNS, and a box whose
//     internet is down during an update must not roll back for that.
//     Without submission it goes to the inbound port (25).
// Any failure is returned in words for the log and the status page.

// selfTestUser is the temporary account's address: a reserved domain
// (RFC 2606 .invalid) that no real account can have.
const selfTestUser = "postroom-selftest@selftest.invalid"

// selfTestFault, when set (go build -ldflags "-X
// postroom/appliance.selfTestFault=..."), fails the self-test after its
// real checks: a build made to be rolled back, for the tests of the
// rollback (image/qemu_test.go, run_update_test.go).
var selfTestFault string

func (r *runner) selfTest(ctx context.Context, st *storage.Store, services []*service) error {
	if err := r.selfTestChecks(ctx, st, services); err != nil {
		return err
	}
	if selfTestFault != "" {
		return fmt.Errorf("a fault built in for testing: %s", selfTestFault)
	}
	return nil
}

func (r *runner) selfTestChecks(ctx context.Context, st *storage.Store, services []*service) error {
	if err := st.Check(ctx); err != nil {
		return fmt.Errorf("the mail store check failed: %w", err)
	}
	addrs := map[string]string{}
	for _, sv := range services {
		addr := loopback(sv.ln.Addr())
		addrs[sv.name] = addr
		if err := greets(ctx, sv.name, addr); err != nil {
			return fmt.Errorf("%s does not answer on %s: %w", sv.title, addr, err)
		}
	}
	smtpAddr, auth := addrs[ServiceSubmission], true
	if smtpAddr == "" {
		smtpAddr, auth = addrs[ServiceSMTP], false
	}
	imapAddr, implicit := addrs[ServiceIMAP], false
	if imapAddr == "" {
		imapAddr, implicit = addrs[ServiceIMAPS], true
	}
	if smtpAddr == "" || imapAddr == "" {
		r.log.Info("update self-test: no loopback mail test (SMTP or IMAP is off)")
		return nil
	}
	return selfTestMail(ctx, st, smtpAddr, auth, imapAddr, implicit)
}

// loopback turns a listener's address into one to dial on this machine.
func loopback(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

// greets connects to a service and, for the mail protocols with a plain
// greeting, reads it.
func greets(ctx context.Context, name, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	want := map[string]string{ServiceSMTP: "220 ", ServiceSubmission: "220 ", ServiceIMAP: "* OK", "pop3": "+OK"}[name]
	if want == "" {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	c.SetDeadline(deadline)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	return nil
}

// selfTestMail sends one message to a temporary account over SMTP and
// finds it over IMAP. TLS is used as a client would, but without checking
// the certificate: the box talks to itself over loopback, and the
// certificate is made for its LAN name.
func selfTestMail(ctx context.Context, st *storage.Store, smtpAddr string, auth bool, imapAddr string, implicitTLS bool) (err error) {
	secret := make([]byte, 18)
	rand.Read(secret)
	password := hex.EncodeToString(secret)
	token := "postroom-self-test-" + hex.EncodeToString(secret[:6])
	if _, err := st.CreateAccount(selfTestUser, password); err != nil {
		// Left by a test that was cut short: start from a clean one.
		if derr := st.DeleteAccount(selfTestUser); derr != nil {
			return fmt.Errorf("make the test account: %w", err)
		}
		if _, err := st.CreateAccount(selfTestUser, password); err != nil {
			return fmt.Errorf("make the test account: %w", err)
		}
	}
	defer func() {
		if derr := st.DeleteAccount(selfTestUser); derr != nil && err == nil {
			err = fmt.Errorf("remove the test account: %w", derr)
		}
	}()
	insecure := &tls.Config{InsecureSkipVerify: true} // loopback to itself, see above
	// Both ports offer STARTTLS: take it, as a client would.
	c, err := smtp.DialStartTLS(smtpAddr, insecure)
	if err != nil {
		return fmt.Errorf("SMTP: %w", err)
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.CommandTimeout, c.SubmissionTimeout = time.Until(deadline), time.Until(deadline)
	}
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@selftest.invalid>\r\n\r\nThe update's self-test.\r\n",
		selfTestUser, selfTestUser, token, time.Now().Format(time.RFC1123Z), token)
	from := "" // a null sender on the inbound port: nothing to check of it
	if auth {
		if err := c.Auth(sasl.NewPlainClient("", selfTestUser, password)); err != nil {
			return fmt.Errorf("SMTP AUTH: %w", err)
		}
		from = selfTestUser
	}
	if err := c.SendMail(from, []string{selfTestUser}, strings.NewReader(msg)); err != nil {
		return fmt.Errorf("SMTP delivery: %w", err)
	}
	c.Quit()

	opts := &imapclient.Options{TLSConfig: insecure}
	var ic *imapclient.Client
	if implicitTLS {
		ic, err = imapclient.DialTLS(imapAddr, opts)
	} else {
		ic, err = imapclient.DialStartTLS(imapAddr, opts)
	}
	if err != nil {
		return fmt.Errorf("IMAP: %w", err)
	}
	defer ic.Close()
	if err := ic.Login(selfTestUser, password).Wait(); err != nil {
		return fmt.Errorf("IMAP LOGIN: %w", err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		return fmt.Errorf("IMAP SELECT: %w", err)
	}
	found, err := ic.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: token}}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("IMAP SEARCH: %w", err)
	}
	if len(found.AllUIDs()) != 1 {
		return fmt.Errorf("the test message sent over SMTP is not in the IMAP INBOX")
	}
	ic.Logout().Wait()
	return nil
}
