package imapd

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// NUL bytes in stored mail (issue #11: "NUL bytes never go out inside a
// plain BODY literal"). A message may hold NUL: a literal8 APPEND keeps
// its bytes as sent (RFC 3516 4.4), and mail from the Internet sometimes
// carries one. A plain literal cannot (RFC 9051 4.3, 9: literal is
// *CHAR8, and CHAR8 is %x01-ff), and literal8 is only for BINARY (RFC 9051
// 7.5.2, RFC 3516 4.2). So BODY[], BODY[section], BODY[]<partial> and the
// RFC822 items send each NUL as 0x80, as Dovecot does (its imap-msgpart
// changes NULs to 0x80 "because IMAP literals must not contain NULs"):
// one byte for one byte, so the announced size, RFC822.SIZE and partial
// offsets stay right, and a client that takes the literal stays in step.
// Dropping the byte would change every size and offset; refusing the
// FETCH would hide the message. BINARY[] sends the bytes as they are, in a
// literal8 (~{n}), for clients that want them exact.

// nulMail has a NUL in a text part's body.
const nulMail = "From: a@example.org\r\nSubject: nul\r\nContent-Type: text/plain\r\n\r\nbefore\x00after\r\n"

// literalOf sends a FETCH of one item and returns the literal's marker
// ("{" or "~{") and its bytes.
func literalOf(t *testing.T, rc *rawConn, tag, cmd string) (string, []byte) {
	t.Helper()
	rc.send(tag + " " + cmd + "\r\n")
	head := rc.line()
	m := regexp.MustCompile(`(~?\{)(\d+)\}$`).FindStringSubmatch(head)
	if m == nil {
		t.Fatalf("%s: %q does not end in a literal", cmd, head)
	}
	n, _ := strconv.Atoi(m[2])
	b := make([]byte, n)
	if _, err := io.ReadFull(rc.r, b); err != nil {
		t.Fatalf("%s: literal of %d: %v", cmd, n, err)
	}
	rc.until(`^` + tag + ` OK`)
	return m[1], b
}

func TestNulNeverInPlainLiteral(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, "", nulMail) // UID 1: as SMTP stores it
	rc := e.rawLogin(alice)
	rc.do(step{send: "a APPEND INBOX ~{" + fmt.Sprint(len(binaryMessage)) + "+}\r\n" + binaryMessage, want: []string{`^a OK`}}) // UID 2
	rc.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
	wantWhole := map[int]string{1: nulMail, 2: binaryMessage}
	for _, c := range []struct {
		uid   int
		item  string
		bytes string // as stored, NUL included
	}{
		{1, "BODY.PEEK[]", nulMail},
		{1, "BODY.PEEK[TEXT]", "before\x00after\r\n"},
		{1, "BODY.PEEK[1]", "before\x00after\r\n"},
		{1, "BODY.PEEK[]<60.10>", nulMail[60:70]},
		{1, "RFC822.TEXT", "before\x00after\r\n"},
		{2, "BODY.PEEK[]", binaryMessage},
		{2, "BODY.PEEK[1]", "a\nb\x00c\r\nd"},
	} {
		if !strings.Contains(c.bytes, "\x00") {
			t.Fatalf("test case %s has no NUL", c.item)
		}
		marker, got := literalOf(t, rc, "f", fmt.Sprintf("UID FETCH %d %s", c.uid, c.item))
		want := strings.ReplaceAll(c.bytes, "\x00", "\x80")
		if marker != "{" || string(got) != want {
			t.Errorf("UID %d %s: %s%q, want {%q", c.uid, c.item, marker, got, want)
		}
	}
	// RFC822.SIZE counts the stored bytes: the same as the literal's size.
	for uid, whole := range wantWhole {
		rc.do(step{send: fmt.Sprintf("z UID FETCH %d RFC822.SIZE", uid), want: []string{fmt.Sprintf(`RFC822.SIZE %d\)`, len(whole))}})
	}
	// BINARY gives the bytes as they are, in a literal8.
	marker, got := literalOf(t, rc, "b", "UID FETCH 2 BINARY.PEEK[1]")
	if marker != "~{" || string(got) != "a\nb\x00c\r\nd" {
		t.Errorf("BINARY[1]: %s%q", marker, got)
	}

	// A real client: Python's imaplib takes the literal whole, NUL-free.
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	host, port, _ := net.SplitHostPort(e.addr)
	script := `
import imaplib, sys
M = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
M.login('alice@example.test', 'password-alice@example.test')
M.select('INBOX', readonly=True)
typ, data = M.uid('FETCH', '1', '(BODY.PEEK[] RFC822.SIZE)')
assert typ == 'OK', (typ, data)
body = data[0][1]
assert b'\x00' not in body and b'before\x80after' in body, body
assert b'RFC822.SIZE %d' % len(body) in data[0][0] + data[1], data
typ, data = M.uid('FETCH', '1', '(FLAGS)')
assert typ == 'OK', (typ, data)
M.logout()
print('imaplib nul ok')
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("imaplib nul ok")) {
		t.Fatalf("python imaplib: %v\n%s", err, out)
	}
}
