package transition

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// popConn is a logged-in POP3 connection (RFC 1939, STLS from RFC 2595).
// Only what a transition needs: UIDL and RETR. It never sends DELE: the
// mail stays on the old server.
type popConn struct {
	conn    net.Conn
	tp      *textproto.Conn
	timeout time.Duration
	stop    func() bool
}

// maxPopLine bounds a response line (RFC 1939 allows 512 octets; some
// servers send longer greetings).
const maxPopLine = 4096

func (c *popConn) deadline() { c.conn.SetDeadline(time.Now().Add(c.timeout)) }

// readLine reads one line, refusing overlong ones.
func (c *popConn) readLine() (string, error) {
	c.deadline()
	line, err := c.tp.ReadLine()
	if err != nil {
		return "", &netError{op: "reading", err: err}
	}
	if len(line) > maxPopLine {
		return "", &protoError{what: "a line of over 4096 characters"}
	}
	return line, nil
}

// popRefused is a -ERR answer.
type popRefused struct{ cmd, text string }

func (e *popRefused) Error() string { return e.cmd + ": -ERR " + e.text }

// status reads a +OK/-ERR line.
func (c *popConn) status(cmd string) (string, error) {
	line, err := c.readLine()
	if err != nil {
		return "", err
	}
	switch {
	case line == "+OK" || strings.HasPrefix(line, "+OK "):
		return strings.TrimPrefix(strings.TrimPrefix(line, "+OK"), " "), nil
	case line == "-ERR" || strings.HasPrefix(line, "-ERR "):
		return "", &popRefused{cmd: cmd, text: strings.TrimPrefix(strings.TrimPrefix(line, "-ERR"), " ")}
	}
	return "", &protoError{what: fmt.Sprintf("%s: %q is neither +OK nor -ERR", cmd, trim(line))}
}

func (c *popConn) cmd(name, arg string) (string, error) {
	c.deadline()
	line := name
	if arg != "" {
		line += " " + arg
	}
	if err := c.tp.PrintfLine("%s", line); err != nil {
		return "", &netError{op: name, err: err}
	}
	return c.status(name)
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (p *puller) popLogin(ctx context.Context, pw string) (*popConn, error) {
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c := &popConn{conn: conn, tp: textproto.NewConn(conn), timeout: p.m.o.Timeout, stop: stop}
	fail := func(err error) (*popConn, error) {
		stop()
		conn.Close()
		return nil, err
	}
	if _, err := c.status("the greeting"); err != nil {
		return fail(err)
	}
	if p.src.Security == StartTLS {
		if _, err := c.cmd("STLS", ""); err != nil {
			return fail(&netError{op: "tls", err: err})
		}
		tc := tls.Client(conn, p.tlsConfig())
		tc.SetDeadline(time.Now().Add(p.m.o.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(p.tlsErr(err))
		}
		c.conn, c.tp = tc, textproto.NewConn(tc)
	}
	if _, err := c.cmd("USER", p.src.Username); err != nil {
		return fail(popLoginErr(err))
	}
	c.deadline()
	if err := c.tp.PrintfLine("PASS %s", pw); err != nil {
		return fail(&netError{op: "PASS", err: err})
	}
	if _, err := c.status("PASS"); err != nil {
		return fail(popLoginErr(err))
	}
	return c, nil
}

func popLoginErr(err error) error {
	var r *popRefused
	if errors.As(err, &r) {
		return fmt.Errorf("%w: %s", errLogin, r.text)
	}
	return err
}

func (c *popConn) quit() {
	c.cmd("QUIT", "")
	c.conn.Close()
	c.stop()
}

// uidls lists message numbers and unique ids. ok is false when the
// server has no UIDL (RFC 1939 makes it optional).
func (c *popConn) uidls() (nums []int, ids []string, ok bool, err error) {
	if _, err := c.cmd("UIDL", ""); err != nil {
		var r *popRefused
		if errors.As(err, &r) {
			return nil, nil, false, nil
		}
		return nil, nil, false, err
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, nil, false, err
		}
		if line == "." {
			return nums, ids, true, nil
		}
		n, id, found := strings.Cut(line, " ")
		num, nerr := strconv.Atoi(n)
		if !found || nerr != nil || num < 1 || !validUIDL(id) {
			return nil, nil, false, &protoError{what: fmt.Sprintf("UIDL: the line %q is not \"number id\"", trim(line))}
		}
		nums, ids = append(nums, num), append(ids, id)
		if len(nums) > 1_000_000 {
			return nil, nil, false, &protoError{what: "UIDL: more than a million messages"}
		}
	}
}

// validUIDL: 1 to 70 characters from 0x21 to 0x7E (RFC 1939 7).
func validUIDL(id string) bool {
	if len(id) == 0 || len(id) > 70 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// count is STAT's number of messages, for servers without UIDL.
func (c *popConn) count() (int, error) {
	s, err := c.cmd("STAT", "")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, &protoError{what: "STAT: no count"}
	}
	n, nerr := strconv.Atoi(f[0])
	if nerr != nil || n < 0 {
		return 0, &protoError{what: fmt.Sprintf("STAT: %q", trim(s))}
	}
	return n, nil
}

// retr starts RETR n; the message (dot-stuffing undone) is read from the
// returned reader, which must be read to its end.
func (c *popConn) retr(n int) (io.Reader, error) {
	if _, err := c.cmd("RETR", strconv.Itoa(n)); err != nil {
		return nil, err
	}
	// Long messages take longer than one read's deadline: each read of
	// the body renews it.
	return &renewing{c: c, r: c.tp.DotReader()}, nil
}

type renewing struct {
	c *popConn
	r io.Reader
}

func (r *renewing) Read(p []byte) (int, error) {
	r.c.deadline()
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = &netError{op: "RETR", err: err}
	}
	return n, err
}

// pop3 pulls the old account's INBOX, leaving the mail there.
func (p *puller) pop3(ctx context.Context, pw string) error {
	c, err := p.popLogin(ctx, pw)
	if err != nil {
		return err
	}
	defer c.quit()
	nums, ids, hasUIDL, err := c.uidls()
	if err != nil {
		return err
	}
	if !hasUIDL {
		// Without unique ids, every message is compared by its bytes
		// with what INBOX has.
		n, err := c.count()
		if err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			nums, ids = append(nums, i), append(ids, "")
		}
	}
	p.res.Seen = len(nums)
	seenPath := filepath.Join(p.m.o.Dir, p.src.ID+".uidl")
	taken, err := readUIDLs(seenPath)
	if err != nil {
		return err
	}
	log, err := os.OpenFile(seenPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("recording the messages taken: %w", err)
	}
	defer func() {
		log.Sync()
		log.Close()
	}()
	dd := &dedupe{st: p.m.o.Store, acct: p.acct.ID, box: "INBOX"}
	checking := true // a crash may have added the first ones without recording them (see saveEvery)
	for i, num := range nums {
		id := ids[i]
		if id != "" && taken[id] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := c.retr(num)
		if err != nil {
			var refused *popRefused
			if errors.As(err, &refused) {
				continue // deleted on the old side since UIDL
			}
			return err
		}
		br := bufio.NewReaderSize(r, 64<<10)
		date := headerDate(br, p.m.o.Now())
		var body io.Reader = br
		var sp *spool
		if checking || id == "" {
			sp, err = newSpool(br, p.m.o.Dir)
			if err != nil {
				return err
			}
			_, dup, err := dd.has(sp)
			if err != nil {
				sp.Close()
				return err
			}
			if dup {
				sp.Close()
				if id != "" {
					if err := recordUIDL(log, id, p.unsaved+1 >= saveEvery); err != nil {
						return err
					}
				}
				continue
			}
			body = sp.reader()
			checking = false
		}
		cr := &counter{r: body}
		_, err = p.m.o.Store.Append(ctx, p.acct.ID, "INBOX", 0, nil, date, cr)
		if sp != nil {
			sp.Close()
		} else {
			io.Copy(io.Discard, br) // the rest, if the store stopped early
		}
		if err != nil {
			return fmt.Errorf("adding a message to INBOX: %w", err)
		}
		if id != "" {
			if err := recordUIDL(log, id, p.unsaved+1 >= saveEvery); err != nil {
				return err
			}
			taken[id] = true
		}
		if err := p.took(cr.n, nil); err != nil {
			return err
		}
	}
	return nil
}

// headerDate is the message's Date field, read from what br has buffered
// without consuming it; now when it has none or one that cannot be read.
// POP3 has no arrival date, and the Date field is what clients show.
func headerDate(br *bufio.Reader, now time.Time) time.Time {
	head, _ := br.Peek(br.Size())
	if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
		head = head[:i+4]
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(head))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return now
	}
	d, err := mail.ParseDate(h.Get("Date"))
	if err != nil {
		return now
	}
	return d
}

func readUIDLs(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the messages taken: %w", err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			out[l] = true
		}
	}
	return out, nil
}

// recordUIDL appends one taken message's id, synced with sync (in
// batches, as the state: see saveEvery) and when the run ends.
func recordUIDL(f *os.File, id string, sync bool) error {
	if _, err := f.WriteString(id + "\n"); err != nil {
		return fmt.Errorf("recording a message taken: %w", err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("recording a message taken: %w", err)
		}
	}
	return nil
}
