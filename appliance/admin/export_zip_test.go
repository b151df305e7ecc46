package admin

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unzipTo writes a zip's files under dir, with their times.
func unzipTo(t *testing.T, b []byte, dir string) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if strings.HasSuffix(f.Name, "/") {
			os.MkdirAll(p, 0o700)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o700)
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		os.WriteFile(p, data, 0o600)
		os.Chtimes(p, f.Modified, f.Modified) // as unzip does: Maildir readers take the date from it
	}
	return names
}

// TestExportZip: the download of a whole account, mbox and Maildir, is a
// zip whose folders import back into equal mailboxes (bytes, flags,
// dates, keywords).
func TestExportZip(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{FormatMbox, FormatMaildir} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			src := fillExport(t, e)
			dst := addAccount(t, e, "dst@example.org")
			var buf bytes.Buffer
			res, err := e.a.ExportZip(ctx, actor, src.Name, format, &buf)
			if err != nil || res.Messages != len(exportMessages) {
				t.Fatalf("export: %+v %v", res, err)
			}
			dir := t.TempDir()
			names := unzipTo(t, buf.Bytes(), dir)
			paths := map[string]string{
				"INBOX": filepath.Join(dir, "INBOX.mbox"), "Sent": filepath.Join(dir, "Sent.mbox"), "Archive/2024": filepath.Join(dir, "Archive.2024.mbox"),
			}
			if format == FormatMaildir {
				paths = map[string]string{"INBOX": filepath.Join(dir, "Maildir"), "Sent": filepath.Join(dir, "Maildir", ".Sent"), "Archive/2024": filepath.Join(dir, "Maildir", ".Archive.2024")}
				if !strings.Contains(strings.Join(names, " "), "Maildir/dovecot-keywords") {
					t.Errorf("no dovecot-keywords for INBOX's keywords: %v", names)
				}
			}
			for box, p := range paths {
				if _, err := e.a.ImportMail(ctx, actor, ImportMail{Account: dst.Name, Mailbox: "Z/" + box, Format: format, Path: p}); err != nil {
					t.Fatalf("import %s: %v", p, err)
				}
				want, got := storedMessages(t, e.st, src.ID, box), storedMessages(t, e.st, dst.ID, "Z/"+box)
				for i := range want {
					if !strings.HasSuffix(want[i].body, "\r\n") {
						want[i].body += "\r\n"
					}
				}
				if len(got) != len(want) || len(got) > 0 && got[0] != want[0] {
					t.Errorf("%s: got %+v, want %+v", box, got, want)
				}
			}
			if _, err := e.a.ExportZip(ctx, actor, "nobody@example.org", format, io.Discard); CodeOf(err) != CodeNotFound {
				t.Errorf("unknown account: %v", err)
			}
		})
	}
}
