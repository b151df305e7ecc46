package admin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/transition"
	"postroom/internal/dovecottest"
	"postroom/storage/storagetest"
)

// TestTransitionOps drives the move from an old provider through the
// operations the web page and postroomctl use, against a real Dovecot:
// a wrong password is said next to its field, the old password never
// reaches the audit log, and finishing erases it.
func TestTransitionOps(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: "old@example.net", Password: "old secret pw"})
	e := newEnv(t)
	storagetest.Account(t, e.st, "anna@example.org")
	m, err := transition.New(transition.Options{Store: e.st, Dir: filepath.Join(t.TempDir(), "transition"), RootCAs: dc.Client.RootCAs, Now: e.a.o.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.a.o.Transition = m
	port := dc.IMAPS[strings.LastIndex(dc.IMAPS, ":")+1:]
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	add := AddTransition{Account: "anna@example.org", Protocol: "imap", Host: "localhost", Port: p, Username: "old@example.net", Password: "old secret pw"}
	bad := add
	bad.Password = "not the password"
	plain := add
	plain.Security = "none"
	var id string
	e.run(t, []step{
		{op: bad, code: CodeInvalid, field: "password", want: "refused the user name or password"},
		{op: plain, code: CodeInvalid, field: "security", want: "encryption"},
		{op: AddTransition{Account: "nobody@example.org", Protocol: "imap", Host: "localhost", Username: "x", Password: "y"}, code: CodeNotFound, field: "account"},
		{op: AddTransition{Account: "anna@example.org", Protocol: "imap", Host: "local host", Username: "x", Password: "y"}, code: CodeInvalid, field: "host"},
		{op: add, want: "started moving old@example.net on localhost (imap) into anna@example.org", check: func(t *testing.T, e *env, res any) {
			id = res.(transition.Source).ID
		}},
		{op: add, code: CodeInvalid, field: "username", want: "already being moved"},
	})
	if _, err := m.RunOnce(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	list, err := e.a.ListTransitions(context.Background(), actor, ListTransitions{})
	if err != nil || len(list.Sources) != 1 || list.Sources[0].LastRun.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}
	e.run(t, []step{
		{op: RemoveTransition{ID: id}, code: CodeInvalid, field: "id", want: "finish"},
		{op: FinishTransition{ID: id}, want: "its password is erased"},
		{op: FinishTransition{ID: "nope"}, code: CodeNotFound, field: "id"},
		{op: RemoveTransition{ID: id}, want: "removed"},
	})
	if strings.Contains(e.log.String(), "old secret pw") || strings.Contains(e.log.String(), "not the password") {
		t.Errorf("an old password reached the log:\n%s", e.log.String())
	}
}

// TestTransitionTrustCertificate: an old server with a self-signed
// certificate is refused with a CertificateError that describes it; the
// same request with its fingerprint as Pin starts the move, and the pin
// is kept with the source.
func TestTransitionTrustCertificate(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: "old@example.net", Password: "old secret pw"})
	e := newEnv(t)
	storagetest.Account(t, e.st, "anna@example.org")
	// The system's authorities only, as on the box: Dovecot's certificate
	// is its own.
	m, err := transition.New(transition.Options{Store: e.st, Dir: filepath.Join(t.TempDir(), "transition"), Now: e.a.o.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.a.o.Transition = m
	var p int
	for _, c := range dc.POP3S[strings.LastIndex(dc.POP3S, ":")+1:] {
		p = p*10 + int(c-'0')
	}
	add := AddTransition{Account: "anna@example.org", Protocol: "pop3", Host: "localhost", Port: p, Username: "old@example.net", Password: "old secret pw"}
	_, err = e.a.AddTransition(context.Background(), actor, add)
	var ce *CertificateError
	if !errors.As(err, &ce) || CodeOf(err) != CodeInvalid || ce.Err.Field != "certificate" || ce.Certificate.SHA256 == "" ||
		!strings.Contains(err.Error(), ce.Certificate.Fingerprint()) || !strings.Contains(err.Error(), "self-signed") {
		t.Fatalf("AddTransition with a self-signed certificate: %#v", err)
	}
	add.Pin = ce.Certificate.Fingerprint()
	src, err := e.a.AddTransition(context.Background(), actor, add)
	if err != nil || src.Pin != ce.Certificate.SHA256 || src.Trusted == nil {
		t.Fatalf("AddTransition trusting it: %+v %v", src, err)
	}
	if res, err := m.RunOnce(context.Background(), src.ID); err != nil || res.Seen != 0 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if !strings.Contains(e.log.String(), "trusting the old server's certificate "+ce.Certificate.SHA256) {
		t.Errorf("the audit log does not say which certificate was trusted:\n%s", e.log.String())
	}
}
