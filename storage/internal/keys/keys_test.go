package keys

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	if a, err := ParseAccount(Account(7)); err != nil || a != 7 {
		t.Fatalf("account: %d %v", a, err)
	}
	if s, err := ParseAddress(Address("a@b.test")); err != nil || s != "a@b.test" {
		t.Fatalf("address: %q %v", s, err)
	}
	if s, err := ParseDomain(Domain("b.test")); err != nil || s != "b.test" {
		t.Fatalf("domain: %q %v", s, err)
	}
	if a, m, err := ParseMailbox(Mailbox(1, 2)); err != nil || a != 1 || m != 2 {
		t.Fatalf("mailbox: %d %d %v", a, m, err)
	}
	if a, n, err := ParseMailboxName(MailboxName(3, "Archive/2026")); err != nil || a != 3 || n != "Archive/2026" {
		t.Fatalf("mailbox name: %d %q %v", a, n, err)
	}
	if a, m, u, err := ParseMessage(Message(1, 2, 3)); err != nil || a != 1 || m != 2 || u != 3 {
		t.Fatalf("message: %v", err)
	}
	for _, k := range [][]byte{ModSeq(1, 2, 3, 4), Tombstone(1, 2, 3, 4)} {
		if a, m, ms, u, err := ParseModSeq(k); err != nil || a != 1 || m != 2 || ms != 3 || u != 4 {
			t.Fatalf("modseq: %v", err)
		}
	}
	if o, c, err := ParseChunk(Chunk(9, 10)); err != nil || o != 9 || c != 10 {
		t.Fatalf("chunk: %v", err)
	}
	if a, m, _, isSeg, err := ParseUIDIndex(UIDIndexHeader(1, 2)); err != nil || a != 1 || m != 2 || isSeg {
		t.Fatalf("uid index header: %v", err)
	}
	if a, m, sg, isSeg, err := ParseUIDIndex(UIDIndexSegment(1, 2, 3)); err != nil || a != 1 || m != 2 || sg != 3 || !isSeg {
		t.Fatalf("uid index segment: %v", err)
	}
	// The header sorts before its segments, and both under the account.
	if h, sg := UIDIndexHeader(1, 2), UIDIndexSegment(1, 2, 0); bytes.Compare(h, sg) >= 0 || !bytes.HasPrefix(sg, h) || !bytes.HasPrefix(h, UIDIndexAccountPrefix(1)) {
		t.Fatal("uid index key order")
	}
	if q, err := ParseQueueMsg(QueueMsg(11)); err != nil || q != 11 {
		t.Fatalf("queue message: %v", err)
	}
	if q, r, err := ParseQueueRcpt(QueueRcpt(11, 12)); err != nil || q != 11 || r != 12 {
		t.Fatalf("queue recipient: %v", err)
	}
	if !bytes.HasPrefix(QueueRcpt(11, 12), QueueRcptPrefix(11)) {
		t.Fatal("queue recipient prefix")
	}
	for _, k := range [][]byte{Object(5), Erase(5), Staged(5)} {
		if o, err := ParseObjectKey(k); err != nil || o != 5 {
			t.Fatalf("object: %v", err)
		}
	}
	if d, a, err := ParseDayCount(DayCount(20261206, 13)); err != nil || d != 20261206 || a != 13 {
		t.Fatalf("day count: %d %d %v", d, a, err)
	}
	if !bytes.HasPrefix(DayCount(20261206, 13), DayCountPrefix(20261206)) || bytes.HasPrefix(DayCount(20261207, 13), DayCountPrefix(20261206)) {
		t.Fatal("day count prefix")
	}
	if bytes.Compare(DayCount(20261231, 99), DayCount(20270101, 1)) >= 0 {
		t.Fatal("day counts out of date order")
	}
	id := [32]byte{1, 2, 3, 31: 0xff}
	if got, err := ParseWebSession(WebSession(id)); err != nil || got != id || !bytes.HasPrefix(WebSession(id), WebSessionFamily()) {
		t.Fatalf("web session: %x %v", got, err)
	}
	if a, n, err := ParseSubscribed(Subscribed(7, "Lists/go")); err != nil || a != 7 || n != "Lists/go" ||
		!bytes.HasPrefix(Subscribed(7, "x"), SubscribedPrefix(7)) || bytes.HasPrefix(Subscribed(8, "x"), SubscribedPrefix(7)) {
		t.Errorf("Subscribed round trip: %d %q %v", a, n, err)
	}
	if _, _, err := ParseSubscribed(SubscribedPrefix(7)); err == nil {
		t.Error("ParseSubscribed accepted a key without a name")
	}
	if a, i, err := ParseAppPassword(AppPassword(7, "abcd")); err != nil || a != 7 || i != "abcd" ||
		!bytes.HasPrefix(AppPassword(7, "abcd"), AppPasswordPrefix(7)) || bytes.HasPrefix(AppPassword(8, "abcd"), AppPasswordPrefix(7)) {
		t.Fatalf("app password: %d %q %v", a, i, err)
	}
	if _, _, err := ParseAppPassword(AppPasswordPrefix(7)); err == nil {
		t.Fatal("app password key without an id parsed")
	}
	if a, err := ParseLogins(Logins(9)); err != nil || a != 9 {
		t.Fatalf("logins: %d %v", a, err)
	}
	if _, err := ParseLogins(Account(9)); err == nil {
		t.Fatal("account key parsed as logins")
	}
	if _, err := ParseWebSession(Account(1)); err == nil {
		t.Fatal("account key parsed as web session")
	}
}

func TestMalformed(t *testing.T) {
	if _, err := ParseAccount([]byte{TagAccount, 1}); err == nil {
		t.Error("short account key parsed")
	}
	if _, _, _, err := ParseMessage(Mailbox(1, 2)); err == nil {
		t.Error("mailbox key parsed as message")
	}
	if _, err := ParseObjectKey(Chunk(1, 1)); err == nil {
		t.Error("chunk key parsed as object")
	}
}

// Numeric order must be byte order, or prefix scans return UIDs out of order.
func TestOrder(t *testing.T) {
	cases := [][2][]byte{
		{Message(1, 1, 255), Message(1, 1, 256)},
		{Message(1, 1, 1<<31), Message(1, 2, 0)},
		{ModSeq(1, 1, 9, 100), ModSeq(1, 1, 10, 1)},
		{Chunk(1, 0xff), Chunk(1, 0x100)},
		{Account(255), Account(256)},
	}
	for i, c := range cases {
		if bytes.Compare(c[0], c[1]) >= 0 {
			t.Errorf("case %d: %x !< %x", i, c[0], c[1])
		}
	}
	if !bytes.HasPrefix(Message(4, 5, 6), MessagePrefix(4, 5)) {
		t.Error("message prefix")
	}
}

// TestTagsComplete reads keys.go: every Tag constant is in Tags, once, and
// no two families share a tag.
func TestTagsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "keys.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			for _, n := range sp.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Tag") {
					declared++
				}
			}
		}
	}
	seen := map[byte]bool{}
	for _, tag := range Tags {
		if seen[tag] {
			t.Errorf("tag %#x is listed twice", tag)
		}
		seen[tag] = true
	}
	if declared != len(Tags) || declared == 0 {
		t.Errorf("keys.go declares %d Tag constants; Tags lists %d distinct", declared, len(seen))
	}
}

// TestNoReservedPrefix: no key of any family can start with Badger's
// reserved "!badger!", for the largest ids a store can reach (ids count up
// from 1; 1<<48 is far beyond any box's lifetime).
func TestNoReservedPrefix(t *testing.T) {
	const big = 1 << 48
	reserved := []byte("!badger!")
	keys := [][]byte{
		Meta("badger!x"), Account(big), Address("badger!@x"), Domain("badger!"),
		Mailbox(big, big), MailboxName(big, "badger!"), Message(big, big, 1<<32-1),
		ModSeq(big, big, big, 1<<32-1), Tombstone(big, big, big, 1<<32-1), UIDIndexSegment(big, big, 1<<32-1),
		Object(big), Chunk(big, 1<<32-1), Erase(big), Staged(big),
		QueueMsg(big), QueueRcpt(big, 1<<32-1), DayCount(99991231, big),
		WebSession([32]byte{'b', 'a', 'd', 'g', 'e', 'r', '!'}),
		AppPassword(big, "badger!"), Logins(big), Subscribed(big, "badger!"),
	}
	if len(keys) != len(Tags) {
		t.Fatalf("%d sample keys for %d tags: add the new family's key here", len(keys), len(Tags))
	}
	for _, k := range keys {
		if bytes.HasPrefix(k, reserved[:2]) {
			t.Errorf("key %x can start like Badger's reserved %q", k, reserved)
		}
	}
}
