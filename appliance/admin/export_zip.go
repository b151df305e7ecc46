package admin

import (
	"archive/zip"
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"postroom/storage"
)

// ExportZip writes an account's mail (every mailbox) to w as a zip file,
// for a download from the web page: mbox (one NAME.mbox per mailbox,
// mboxrd) or a Maildir++ (INBOX at the root of the folder Maildir/, the
// others as .Sent, .Archive.2024, flags and keywords as ExportMail writes
// them). It streams: each message goes from the store through the zip
// writer to w, so neither the box's memory nor its disk holds the export.
// It is the same question as ExportMail, logged the same way.
func (a *Admin) ExportZip(ctx context.Context, by Actor, account, format string, w io.Writer) (TransferResult, error) {
	var res TransferResult
	if format != FormatMbox && format != FormatMaildir {
		return res, errorf(CodeInvalid, "format", "the format is mbox or maildir, not %q", format)
	}
	acct, err := a.account("account", account)
	if err != nil {
		return res, err
	}
	boxes, err := a.st.Mailboxes(acct.ID)
	if err != nil {
		return res, internal("reading the mailboxes", err)
	}
	zw := &zipMail{z: zip.NewWriter(w), format: format, keywords: map[string][]string{}}
	err = a.exportBoxes(ctx, acct.ID, boxes, zw, &res)
	if cerr := zw.Close(); err == nil && cerr != nil {
		err = internal("finishing the zip file", cerr)
	}
	if err != nil {
		a.log.Error("admin: export failed", "by", by, "op", "mail.export", "account", acct.Name, "to", "a download", "err", err)
		return res, err
	}
	a.log.Info(fmt.Sprintf("admin: exported %d messages of %s as a download (%s zip)", res.Messages, acct.Name, format), "by", by, "op", "mail.export")
	return res, nil
}

// zipMail is the mailWriter of ExportZip.
type zipMail struct {
	z        *zip.Writer
	format   string
	box      string
	mbox     *bufio.Writer // the open NAME.mbox entry
	keywords map[string][]string
	dirs     map[string]bool
}

// folder is a mailbox's Maildir++ folder in the zip.
func folder(box string) string {
	if box == "INBOX" {
		return "Maildir"
	}
	return path.Join("Maildir", "."+strings.ReplaceAll(box, "/", "."))
}

func (z *zipMail) Add(box string, m storage.Message, sender string, body io.Reader) (int64, error) {
	if z.format == FormatMbox {
		if z.mbox == nil || box != z.box {
			if err := z.flush(); err != nil {
				return 0, err
			}
			f, err := z.z.CreateHeader(&zip.FileHeader{Name: strings.ReplaceAll(box, "/", ".") + ".mbox", Method: zip.Deflate})
			if err != nil {
				return 0, err
			}
			z.mbox, z.box = bufio.NewWriterSize(f, 32<<10), box
		}
		from := fmt.Sprintf("From %s %s\n%s", sender, m.InternalDate.UTC().Format(asctime), mboxStatus(m.Flags, m.Keywords))
		z.mbox.WriteString(from)
		n, err := copyLines(z.mbox, body, true)
		if err != nil {
			return n, err
		}
		return n + int64(len(from)) + 1, z.mbox.WriteByte('\n')
	}
	d := folder(box)
	if z.dirs == nil {
		z.dirs = map[string]bool{}
	}
	if !z.dirs[d] { // empty new/ and tmp/ make it a Maildir to every reader
		z.dirs[d] = true
		for _, sub := range []string{"new/", "tmp/"} {
			if _, err := z.z.CreateHeader(&zip.FileHeader{Name: d + "/" + sub, Method: zip.Store}); err != nil {
				return 0, err
			}
		}
	}
	kws := z.keywords[d]
	name, info := maildirName(m, &kws)
	z.keywords[d] = kws
	f, err := z.z.CreateHeader(&zip.FileHeader{Name: d + "/cur/" + name + info, Method: zip.Deflate, Modified: m.InternalDate})
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 32<<10)
	n, err := copyLines(bw, body, false)
	if err == nil {
		err = bw.Flush()
	}
	return n, err
}

func (z *zipMail) flush() error {
	if z.mbox == nil {
		return nil
	}
	err := z.mbox.Flush()
	z.mbox = nil
	return err
}

func (z *zipMail) Close() error {
	if err := z.flush(); err != nil {
		return err
	}
	for d, kws := range z.keywords {
		if len(kws) == 0 {
			continue
		}
		f, err := z.z.Create(d + "/dovecot-keywords")
		if err != nil {
			return err
		}
		if _, err := f.Write(dovecotKeywords(kws)); err != nil {
			return err
		}
	}
	return z.z.Close()
}
