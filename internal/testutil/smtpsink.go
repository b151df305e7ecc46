package testutil

import (
	"io"
	"net"
	"testing"

	"github.com/emersion/go-smtp"
)

// StartSMTPSink runs an SMTP server on 127.0.0.1 that greets as domain and
// passes the bytes of every message it is given to data; an error from data
// becomes the reply to DATA (return a *smtp.SMTPError to choose the code).
// It returns the port and stops at the end of the test.
func StartSMTPSink(tb testing.TB, domain string, data func(msg []byte) error) int {
	tb.Helper()
	srv := smtp.NewServer(sinkBackend(data))
	srv.Domain = domain
	srv.ErrorLog = quietLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

type sinkBackend func([]byte) error

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession(b), nil }

type sinkSession func([]byte) error

func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s(b)
}

// quietLog keeps go-smtp's own connection errors out of the test output.
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}
