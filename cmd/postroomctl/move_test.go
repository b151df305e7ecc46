package main

import (
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/status"
	"postroom/appliance/transition"
	"postroom/internal/dovecottest"
)

// TestRunningBoxMove: postroomctl starts a move from an old IMAP account
// (a real Dovecot) on a running box, which fetches it at once; move list
// shows the progress, move finish ends it. Bad input is refused with the
// field's words, and the old password is never printed.
func TestRunningBoxMove(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: "ann@old.example", Password: "ann old secret"})
	old, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Login("ann@old.example", "ann old secret").Wait(); err != nil {
		t.Fatal(err)
	}
	body := "From: x@old.example\r\nSubject: from the old days\r\n\r\nhello\r\n"
	cmd := old.Append("INBOX", int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged}})
	io.WriteString(cmd, body)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}

	b := startBox(t, nil) // development mode: the old server is on this machine, without TLS
	const ann = "ann@example.org"
	hostport := "127.0.0.1:" + dc.IMAP[strings.LastIndex(dc.IMAP, ":")+1:]
	runSteps(t, b.data, []ctlStep{
		{[]string{"users", "add", ann, "-password-stdin"}, "ann's secret pass\n", 0, []string{"created account " + ann}, nil},
		{[]string{"move", "list"}, "", 0, []string{"no moves"}, nil},
		{[]string{"move", "add", ann, "uucp", hostport, "ann@old.example", "none"}, "ann old secret\n", 1, nil, []string{"choose IMAP or POP3"}},
		{[]string{"move", "add", ann, "imap", "127.0.0.1:99x", "ann@old.example", "none"}, "ann old secret\n", 2, nil, []string{"must be a number"}},
		{[]string{"move", "add", ann, "imap", hostport, "ann@old.example", "none"}, "wrong secret\n", 1, nil, []string{"refused the user name or password"}},
		{[]string{"move", "add", ann, "imap", hostport, "ann@old.example", "none"}, "ann old secret\n", 0, []string{"moving ann@old.example on 127.0.0.1 (IMAP"}, nil},
	})
	b.await(t, "the move to fetch the message", func(s status.Snapshot) bool {
		return len(s.Moving) == 1 && s.Moving[0].Fetched == 1
	})
	r := runCtl(t, b.data, "", "move", "list")
	if r.code != 0 || !strings.Contains(r.out, "ann@old.example on 127.0.0.1 (imap)") || !strings.Contains(r.out, "running") {
		t.Fatalf("move list: %+v", r)
	}
	id := strings.Fields(strings.Split(r.out, "\n")[1])[0]
	runSteps(t, b.data, []ctlStep{
		{[]string{"move", "finish", "nope"}, "", 1, nil, []string{"no such move"}},
		{[]string{"move", "finish", id}, "", 0, []string{"finished moving ann@old.example", "password is erased"}, nil},
		{[]string{"move", "remove", id}, "", 0, []string{"removed " + id}, nil},
	})
}

// TestRunningBoxMoveTrust: an old server with a self-signed certificate
// (Dovecot's own) is refused with its fingerprint and how to trust it;
// move add with trust= and that fingerprint starts the move, and says
// which certificate is trusted. A fingerprint that is not the server's is
// refused.
func TestRunningBoxMoveTrust(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: "ann@old.example", Password: "ann old secret"})
	pemData, err := os.ReadFile(dc.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemData)
	fp := transition.CertInfo{SHA256: fmt.Sprintf("%x", sha256.Sum256(blk.Bytes))}.Fingerprint()
	b := startBox(t, nil)
	const ann = "ann@example.org"
	hostport := "localhost:" + dc.IMAPS[strings.LastIndex(dc.IMAPS, ":")+1:]
	runSteps(t, b.data, []ctlStep{
		{[]string{"users", "add", ann, "-password-stdin"}, "ann's secret pass\n", 0, []string{"created account " + ann}, nil},
		{[]string{"move", "add", ann, "imap", hostport, "ann@old.example"}, "ann old secret\n", 1, nil, []string{"self-signed", fp, "add trust="}},
		{[]string{"move", "add", ann, "imap", hostport, "ann@old.example", "trust=" + strings.Repeat("AB:", 31) + "AB"}, "ann old secret\n", 1, nil, []string{"different certificate", fp}},
		{[]string{"move", "add", ann, "imap", hostport, "ann@old.example", "trusted"}, "ann old secret\n", 2, nil, []string{"trust=FINGERPRINT"}},
		{[]string{"move", "add", ann, "imap", hostport, "ann@old.example", "trust=" + fp}, "ann old secret\n", 0, []string{"moving ann@old.example on localhost (IMAP", "certificate " + fp, "CN=localhost", "is trusted for this move"}, nil},
	})
}
