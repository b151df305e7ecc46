package wire

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// A small server on Reader, the typed parsers and Writer, with one
// mailbox of one message, talking to go-imap's client: what Writer sends
// must be what a real client reads, and what the client sends must parse.
const interopMsg = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"

var interopDate = time.Date(2026, 12, 6, 9, 5, 0, 0, time.FixedZone("", -(7*3600+30*60)))

func serveInterop(t *testing.T, c net.Conn, logins chan<- string) {
	defer c.Close()
	w := NewWriter(c, 0)
	r := NewReader(bufio.NewReader(c), Options{Continue: func() error {
		w.Continuation("go on")
		return w.Flush()
	}})
	w.Status("*", OK, "CAPABILITY IMAP4rev1 LITERAL+ BINARY", "ready")
	w.Flush()
	for {
		cmd, err := r.ReadCommand()
		var ce *CommandError
		if errors.As(err, &ce) {
			w.Error(ce)
			w.Flush()
			continue
		}
		if err != nil {
			return
		}
		switch cmd.Name {
		case "CAPABILITY":
			w.Untagged().Atom("CAPABILITY").Atom("IMAP4rev1").Atom("LITERAL+").Atom("BINARY").End()
		case "LOGIN":
			user, _ := cmd.Args[0].AString()
			pass, _ := cmd.Args[1].AString()
			logins <- user + ":" + pass
		case "SELECT":
			s, err := ParseSelect(cmd.Args, false)
			if err != nil || s.Mailbox != "INBOX" {
				w.Status(cmd.Tag, NO, "NONEXISTENT", "no")
				continue
			}
			w.Untagged().Number(1).Atom("EXISTS").End()
			w.Untagged().Atom("FLAGS").Flags([]imap.Flag{imap.FlagSeen, "$Junk"}).End()
			w.Status("*", OK, "UIDVALIDITY 7", "UIDs valid")
			w.Status("*", OK, "UIDNEXT 10", "next")
			w.Status(cmd.Tag, OK, "READ-WRITE", "SELECT done")
			w.Flush()
			continue
		case "FETCH":
			f, err := ParseFetch(cmd.Args, cmd.UID)
			if err != nil {
				w.Error(err.(*CommandError))
				w.Flush()
				continue
			}
			w.Untagged().Number(1).Atom("FETCH").BeginList()
			if f.Options.UID {
				w.Atom("UID").Number(9)
			}
			if f.Options.Flags {
				w.Atom("FLAGS").Flags([]imap.Flag{imap.FlagSeen, "$Junk"})
			}
			if f.Options.InternalDate {
				w.Atom("INTERNALDATE").DateTime(interopDate)
			}
			if f.Options.RFC822Size {
				w.Atom("RFC822.SIZE").Number(uint64(len(interopMsg)))
			}
			for range f.Options.BodySection {
				w.Atom("BODY[]").Literal(int64(len(interopMsg)), strings.NewReader(interopMsg))
			}
			for range f.Options.BinarySection {
				w.Atom("BINARY[1]").Literal8(3, strings.NewReader("a\x00b"))
			}
			w.EndList().End()
		case "LIST":
			l, err := ParseList(cmd.Args)
			if err != nil || l.Patterns[0] != "*" {
				w.Status(cmd.Tag, BAD, "", "unexpected")
				continue
			}
			for _, name := range []string{"INBOX", "Sent Items", `Odd "q" \x`, "Entw\xc3\xbcrfe"} {
				w.Untagged().Atom("LIST").Flags([]imap.Flag{`\HasNoChildren`}).Quoted("/").AString(name).End()
			}
		case "LOGOUT":
			w.Status("*", BYE, "", "bye")
			w.Status(cmd.Tag, OK, "", "LOGOUT done")
			w.Flush()
			return
		}
		w.Status(cmd.Tag, OK, "", cmd.Name+" done")
		w.Flush()
	}
}

func TestImapclientInterop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	logins := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err == nil {
			serveInterop(t, c, logins)
		}
	}()
	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An 8-bit password goes as a literal.
	if err := c.Login("alice", "p\xc3\xa4ss \"word\"").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := <-logins; got != "alice:p\xc3\xa4ss \"word\"" {
		t.Errorf("server read login %q", got)
	}
	sel, err := c.Select("inbox", nil).Wait()
	if err != nil || sel.NumMessages != 1 || sel.UIDValidity != 7 || sel.UIDNext != 10 {
		t.Fatalf("select: %+v %v", sel, err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
		RFC822Size: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		BinarySection: []*imap.FetchItemBinarySection{{Part: []int{1}, Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.UID != 9 || len(m.Flags) != 2 || m.Flags[1] != "$Junk" || !m.InternalDate.Equal(interopDate) ||
		m.RFC822Size != int64(len(interopMsg)) {
		t.Errorf("fetch data %+v", m)
	}
	if len(m.BodySection) != 1 || string(m.BodySection[0].Bytes) != interopMsg {
		t.Errorf("BODY[] %+v", m.BodySection)
	}
	if len(m.BinarySection) != 1 || string(m.BinarySection[0].Bytes) != "a\x00b" {
		t.Errorf("BINARY[1] %+v", m.BinarySection)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil || len(list) != 4 {
		t.Fatalf("list: %v %v", list, err)
	}
	for i, want := range []string{"INBOX", "Sent Items", `Odd "q" \x`, "Entw\xc3\xbcrfe"} {
		if list[i].Mailbox != want || list[i].Delim != '/' {
			t.Errorf("list[%d] = %+v, want %q", i, list[i], want)
		}
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	<-done
}
