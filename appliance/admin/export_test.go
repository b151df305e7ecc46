package admin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/storage"
)

// exportMessages are messages of awkward shapes for mbox: lines that start
// with "From " and ">From " (which mboxrd quotes), a line of only ">", a
// body with no final line end, and 8-bit text.
var exportMessages = []struct {
	box      string
	flags    storage.Flags
	date     time.Time
	body     string
	keywords []string
}{
	{"INBOX", storage.FlagSeen | storage.FlagFlagged, time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC),
		"From: a@example.org\r\nSubject: one\r\n\r\nFrom the start\r\n>From quoted\r\n>>From twice\r\n>\r\nFrom\r\n", []string{"$Forwarded", "work"}},
	{"INBOX", 0, time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -7*3600)),
		"From: b@example.org\r\nSubject: two\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n\r\n\r\nFrom x\r\n", nil},
	{"Sent", storage.FlagAnswered | storage.FlagDraft | storage.FlagDeleted, time.Date(2020, 6, 7, 8, 9, 10, 0, time.UTC),
		"From: c@example.org\r\nSubject: three\r\n\r\nlast line without end", nil},
	{"Archive/2024", storage.FlagSeen, time.Date(2019, 12, 31, 0, 0, 1, 0, time.UTC),
		"Subject: four\r\n\r\nbody\r\n", nil},
}

// stored reads a mailbox's messages: bytes, flags, dates, in UID order.
type storedMsg struct {
	body     string
	flags    storage.Flags
	date     time.Time
	keywords string
}

func storedMessages(t *testing.T, st *storage.Store, acct storage.AccountID, box string) []storedMsg {
	t.Helper()
	mb, err := st.Mailbox(acct, box)
	if err != nil {
		t.Fatalf("mailbox %s: %v", box, err)
	}
	msgs, err := st.Messages(acct, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedMsg
	for _, m := range msgs {
		b, err := st.OpenBody(m.Object)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(b.Reader())
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, storedMsg{string(data), m.Flags, m.InternalDate.UTC(), strings.Join(m.Keywords, " ")})
	}
	return out
}

func fillExport(t *testing.T, e *env) storage.Account {
	t.Helper()
	src := addAccount(t, e, "src@example.org")
	if _, err := e.st.CreateMailbox(src.ID, "Archive/2024", ""); err != nil {
		t.Fatal(err)
	}
	for _, m := range exportMessages {
		if _, err := e.st.Append(context.Background(), src.ID, m.box, m.flags, m.keywords, m.date, strings.NewReader(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// TestExportImportRoundTrip exports every mailbox in both formats, imports
// each mailbox's export into a fresh account, and wants the same bytes,
// flags and dates; a second import adds nothing.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{FormatMbox, FormatMaildir} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			src := fillExport(t, e)
			dst := addAccount(t, e, "dst@example.org")
			dir := t.TempDir()
			out := filepath.Join(dir, "export")
			res, err := e.a.ExportMail(ctx, actor, ExportMail{Account: src.Name, Format: format, Path: out})
			if err != nil {
				t.Fatal(err)
			}
			if res.Messages != len(exportMessages) {
				t.Fatalf("exported %d messages, want %d", res.Messages, len(exportMessages))
			}
			// Where each mailbox went.
			where := map[string]string{}
			for _, box := range []string{"INBOX", "Sent", "Archive/2024"} {
				if format == FormatMbox {
					where[box] = filepath.Join(out, strings.ReplaceAll(box, "/", ".")+".mbox")
				} else if box == "INBOX" {
					where[box] = out
				} else {
					where[box] = filepath.Join(out, "."+strings.ReplaceAll(box, "/", "."))
				}
			}
			for _, fi := range []string{"tmp", "new"} {
				if st, err := os.Stat(filepath.Join(out, ".Sent", fi)); format == FormatMaildir && (err != nil || !st.IsDir()) {
					t.Errorf("Maildir .Sent has no %s/: %v", fi, err)
				}
			}
			for box, path := range where {
				into := "Imported/" + box
				for round, wantAdded := range []int{-1, 0} {
					r, err := e.a.ImportMail(ctx, actor, ImportMail{Account: dst.Name, Mailbox: into, Format: format, Path: path})
					if err != nil {
						t.Fatalf("import %s round %d: %v", path, round, err)
					}
					want := storedMessages(t, e.st, src.ID, box)
					if wantAdded < 0 {
						wantAdded = len(want)
					}
					if r.Messages != wantAdded || r.Skipped != len(want)-wantAdded {
						t.Errorf("%s round %d: added %d skipped %d, want %d and %d", box, round, r.Messages, r.Skipped, wantAdded, len(want)-wantAdded)
					}
					got := storedMessages(t, e.st, dst.ID, into)
					if len(got) != len(want) {
						t.Fatalf("%s: %d messages after import, want %d", box, len(got), len(want))
					}
					for i := range want {
						w := want[i]
						if !strings.HasSuffix(w.body, "\r\n") {
							w.body += "\r\n" // a file's last line always ends
						}
						if got[i] != w {
							t.Errorf("%s message %d:\n got %q %v %v %q\nwant %q %v %v %q", box, i, got[i].body, got[i].flags, got[i].date, got[i].keywords, w.body, w.flags, w.date, w.keywords)
						}
					}
				}
			}
		})
	}
}

// TestExportMboxText checks the mboxrd text itself: From lines with the
// envelope sender or MAILER-DAEMON and an asctime date, quoting, and a
// blank line after each message; and that s-nail reads it.
func TestExportMboxText(t *testing.T) {
	e := newEnv(t)
	src := fillExport(t, e)
	path := filepath.Join(t.TempDir(), "inbox.mbox")
	if _, err := e.a.ExportMail(context.Background(), actor, ExportMail{Account: src.Name, Mailbox: "INBOX", Format: FormatMbox, Path: path}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "From MAILER-DAEMON Thu Feb 29 23:59:58 2024\nStatus: RO\nX-Status: F\nX-Keywords: $Forwarded work\n" +
		"From: a@example.org\nSubject: one\n\n>From the start\n>>From quoted\n>>>From twice\n>\nFrom\n\n" +
		"From MAILER-DAEMON Thu Jan  2 10:04:05 2025\nStatus: O\nX-Status: \n" +
		"From: b@example.org\nSubject: two\n\nGr\xc3\xbc\xc3\x9fe\n\n\n>From x\n\n"
	if string(data) != want {
		t.Errorf("mbox:\n%s\nwant:\n%s", data, want)
	}
	if _, err := e.a.ExportMail(context.Background(), actor, ExportMail{Account: src.Name, Mailbox: "INBOX", Format: FormatMbox, Path: path}); CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "exists") {
		t.Errorf("export over an existing file: %v, want a refusal", err)
	}

	snail, err := exec.LookPath("s-nail")
	if err != nil {
		t.Skip("s-nail is not installed (make deps installs it)")
	}
	home := t.TempDir()
	cmd := exec.Command(snail, "-n", "-N", "-R", "-H", "-S", "headline=%s", "-f", path)
	cmd.Env = []string{"HOME=" + home, "MAILRC=/dev/null", "LC_ALL=C.UTF-8", "TZ=UTC"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("s-nail: %v\n%s", err, out)
	}
	if lines := strings.Fields(string(out)); strings.Join(lines, " ") != "one two" {
		t.Errorf("s-nail -H lists %q, want the subjects one and two", out)
	}
}

// TestImportMalformed wants a clear error and nothing imported, not even
// the mailbox made, for sources that are not whole.
func TestImportMalformed(t *testing.T) {
	e := newEnv(t)
	dst := addAccount(t, e, "dst@example.org")
	dir := t.TempDir()
	good := "From someone@example.org Mon Jan  1 00:00:00 2024\nSubject: a\n\nx\n\n"
	cases := []struct {
		name, format, content, want string
	}{
		{"no From line", FormatMbox, "Subject: a\n\nbody\n", "does not start with"},
		{"empty", FormatMbox, "", "no \"From \" line"},
		{"truncated", FormatMbox, good + "From b@example.org Mon Jan  1 00:00:00 2024\nSubject: b\n\nhalf a li", "truncated"},
		{"From line without date", FormatMbox, good + "From b@example.org\nSubject: b\n\nx\n\n", "has no date"},
		{"not a Maildir", FormatMaildir, "", "not a Maildir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if c.format == FormatMbox {
				if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := e.a.ImportMail(context.Background(), actor, ImportMail{Account: dst.Name, Mailbox: "Old", Format: c.format, Path: p})
			if CodeOf(err) != CodeInvalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("import: %v, want an invalid-input error with %q", err, c.want)
			}
			if _, err := e.st.Mailbox(dst.ID, "Old"); err == nil {
				t.Errorf("the mailbox was made by a failed import")
			}
		})
	}
	for _, bad := range []ImportMail{
		{Account: dst.Name, Mailbox: "Old", Format: "zip", Path: "/x"},
		{Account: dst.Name, Mailbox: "Old", Format: FormatMbox, Path: "relative/x"},
		{Account: "nobody@example.org", Mailbox: "Old", Format: FormatMbox, Path: "/x"},
	} {
		if _, err := e.a.ImportMail(context.Background(), actor, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestMaildirNames checks the flag letters of exported names, sorted, and
// that a file time becomes the date.
func TestMaildirNames(t *testing.T) {
	e := newEnv(t)
	src := fillExport(t, e)
	out := filepath.Join(t.TempDir(), "md")
	if _, err := e.a.ExportMail(context.Background(), actor, ExportMail{Account: src.Name, Mailbox: "Sent", Format: FormatMaildir, Path: out}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(out, "cur"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("cur/: %v %v", ents, err)
	}
	if name := ents[0].Name(); !strings.HasSuffix(name, ":2,DRT") {
		t.Errorf("name %q, want the flags :2,DRT", name)
	}
	fi, _ := ents[0].Info()
	if !fi.ModTime().Equal(exportMessages[2].date) {
		t.Errorf("file time %v, want %v", fi.ModTime(), exportMessages[2].date)
	}
	data, _ := os.ReadFile(filepath.Join(out, "cur", ents[0].Name()))
	if !bytes.Equal(data, []byte("From: c@example.org\nSubject: three\n\nlast line without end\n")) {
		t.Errorf("file %q", data)
	}
}

// TestExportLongLines sends lines longer than the copy buffer, one with
// its CR and LF on either side of the buffer's end, through both formats.
func TestExportLongLines(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("x", 32<<10-1)
	body := "Subject: long\r\n\r\n" + long + "\r\n" + long + "y\r\nFrom " + strings.Repeat("z", 70<<10) + "\r\n>From end\r\n"
	for _, format := range []string{FormatMbox, FormatMaildir} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			src := addAccount(t, e, "src@example.org")
			if _, err := e.st.Append(ctx, src.ID, "INBOX", 0, nil, t0, strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "out")
			if _, err := e.a.ExportMail(ctx, actor, ExportMail{Account: src.Name, Mailbox: "INBOX", Format: format, Path: p}); err != nil {
				t.Fatal(err)
			}
			file := p
			if format == FormatMaildir {
				names, _ := filepath.Glob(filepath.Join(p, "cur", "*"))
				if len(names) != 1 {
					t.Fatalf("cur/ has %q", names)
				}
				file = names[0]
			}
			if data, err := os.ReadFile(file); err != nil || bytes.IndexByte(data, '\r') >= 0 {
				t.Fatalf("the exported file has a CR (or %v)", err)
			}
			if _, err := e.a.ImportMail(ctx, actor, ImportMail{Account: src.Name, Mailbox: "Back", Format: format, Path: p}); err != nil {
				t.Fatal(err)
			}
			got := storedMessages(t, e.st, src.ID, "Back")
			if len(got) != 1 || got[0].body != body || !got[0].date.Equal(t0) {
				t.Fatalf("got %d messages; first differs from the original", len(got))
			}
		})
	}
}

// TestExportOverSocket runs export and import through the control socket,
// as postroomctl does on a running box: paths on the box, results as JSON.
func TestExportOverSocket(t *testing.T) {
	e := newEnv(t)
	src := fillExport(t, e)
	c, err := Dial(context.Background(), serve(t, e, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "sent.mbox")
	res, err := Call[TransferResult](ctx, c, actor, ExportMail{Account: src.Name, Mailbox: "Sent", Format: FormatMbox, Path: p})
	if err != nil || res.Messages != 1 || res.Mailboxes != 1 {
		t.Fatalf("export: %+v %v", res, err)
	}
	for round, want := range []TransferResult{{Mailboxes: 1, Messages: 1, Created: true}, {Mailboxes: 1, Skipped: 1}} {
		res, err := Call[TransferResult](ctx, c, actor, ImportMail{Account: src.Name, Mailbox: "Sent again", Format: FormatMbox, Path: p})
		res.Bytes = 0
		if err != nil || res != want {
			t.Errorf("import round %d: %+v %v, want %+v", round, res, err, want)
		}
	}
	if !strings.Contains(e.log.String(), "exported 1 messages of src@example.org to "+p) {
		t.Errorf("the export is not in the audit log:\n%s", e.log.String())
	}
	if !strings.Contains(e.log.String(), "imported 1 messages into Sent again of src@example.org") {
		t.Errorf("the import is not in the audit log:\n%s", e.log.String())
	}
	_, err = Call[TransferResult](ctx, c, actor, ImportMail{Account: src.Name, Mailbox: "X", Format: FormatMbox, Path: "/nonexistent/x.mbox"})
	if CodeOf(err) != CodeInvalid {
		t.Errorf("import of a missing file: %v", err)
	}
}

func TestEnvelopeSender(t *testing.T) {
	for _, c := range []struct{ prefix, want string }{
		{"", "MAILER-DAEMON"},
		{"Return-Path: <>\r\nReceived: from x\r\n", "MAILER-DAEMON"},
		{"Received: a\r\nreturn-path: <bob@example.org>\r\n", "bob@example.org"},
		{"Return-Path: <a b@example.org>\r\n", "MAILER-DAEMON"},
	} {
		if got := envelopeSender([]byte(c.prefix)); got != c.want {
			t.Errorf("envelopeSender(%q) = %q, want %q", c.prefix, got, c.want)
		}
	}
}

// BenchmarkExportImport exports a mailbox of 500 messages of 20 KB (10 MB)
// as mbox and imports it into another mailbox, once per iteration; B/op
// shows that neither holds the mailbox in memory.
func BenchmarkExportImport(b *testing.B) {
	for _, format := range []string{FormatMbox, FormatMaildir} {
		b.Run(format, func(b *testing.B) {
			e := newEnv(b)
			ctx := context.Background()
			acct, err := e.st.CreateAccount("bench@example.org", "password")
			if err != nil {
				b.Fatal(err)
			}
			line := strings.Repeat("0123456789", 7) + "\r\n"
			body := "Subject: bench\r\n\r\n" + strings.Repeat(line, 20<<10/len(line))
			const n = 500
			for i := 0; i < n; i++ {
				if _, err := e.st.Append(ctx, acct.ID, "INBOX", 0, nil, t0, strings.NewReader(fmt.Sprintf("X-N: %d\r\n%s", i, body))); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(n * len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := filepath.Join(b.TempDir(), "out")
				if _, err := e.a.ExportMail(ctx, actor, ExportMail{Account: acct.Name, Mailbox: "INBOX", Format: format, Path: p}); err != nil {
					b.Fatal(err)
				}
				r, err := e.a.ImportMail(ctx, actor, ImportMail{Account: acct.Name, Mailbox: fmt.Sprintf("Copy%d", i), Format: format, Path: p})
				if err != nil || r.Messages != n {
					b.Fatalf("import: %+v %v", r, err)
				}
			}
		})
	}
}

// TestMaildirKeywords checks Dovecot's form of keywords: letters after the
// flags, named by the folder's dovecot-keywords.
func TestMaildirKeywords(t *testing.T) {
	e := newEnv(t)
	src := fillExport(t, e)
	out := filepath.Join(t.TempDir(), "md")
	if _, err := e.a.ExportMail(context.Background(), actor, ExportMail{Account: src.Name, Mailbox: "INBOX", Format: FormatMaildir, Path: out}); err != nil {
		t.Fatal(err)
	}
	kw, err := os.ReadFile(filepath.Join(out, "dovecot-keywords"))
	if err != nil || string(kw) != "0 $Forwarded\n1 work\n" {
		t.Errorf("dovecot-keywords %q, %v", kw, err)
	}
	names, _ := filepath.Glob(filepath.Join(out, "cur", "*:2,FSab"))
	if len(names) != 1 {
		t.Errorf("no file named with :2,FSab in cur/: %q", names)
	}
}
