package webui

import (
	"archive/zip"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/backup"
	"postroom/appliance/status"
)

// /backups: the box's backups (PRODUCT.md journey 6) and the mail of one
// account in the standard formats. The administrator chooses the target
// (a USB disk's folder or an SFTP server) and the hour; the first save
// makes the recovery key, which this page shows once, to print. The
// table lists the last backups with their restore test; "Back up now"
// starts one. An account's mail downloads as a zip (mbox or Maildir,
// streamed from the store), and an mbox file or a zipped Maildir uploads
// into a mailbox (spooled to the data disk, imported, removed).

// Limits of an import upload.
const (
	MaxImportUpload  = 2 << 30 // one upload: a large mailbox
	maxImportEntries = 200000  // files in a zipped Maildir
	maxImportUnzip   = 8 << 30 // what a zipped Maildir may unpack to
)

// mailExporter is the admin layer's streamed export (admin.ExportZip),
// asked for with a type assertion on Options.Admin.
type mailExporter interface {
	ExportZip(ctx context.Context, by admin.Actor, account, format string, w io.Writer) (admin.TransferResult, error)
}

var backupNotices = map[string]string{
	"settings": "Saved. The next backup runs at the hour below, or now with the button.",
	"started":  "The backup has started: this page shows its progress when you reload it.",
	"trusted":  "The server's key is trusted from now on.",
}

type backupsView struct {
	pageView
	admin.BackupView
	// RecoveryKey is shown once, after it was made.
	RecoveryKey string
	Hours       []int
	Accounts    []string
	Rows        []backupRow
	Verified    string // "2026-03-02 02:04", "" never
	Running     string // "saving: 120 MB written", "" when idle
	// ListErr is why the target could not be listed; OfferedKey the
	// SFTP server's key when that was the reason.
	ListErr, OfferedKey string
	OnTarget            int
	CanImport           bool
	// USB is what the box sees of USB disks (backups_usb.go).
	USB usbView
}

type backupRow struct {
	When, Kind, Size, Took, State string
	Bad                           bool
}

func (h *handler) backupsPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	pv := h.view(v, "backups")
	pv.Notice = backupNotices[r.URL.Query().Get("done")]
	h.renderBackups(w, r, v, pv, http.StatusOK, "")
}

func (h *handler) renderBackups(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView, code int, key string) {
	pv.Heading = "Backups"
	b, err := admin.Call[admin.BackupView](r.Context(), h.admin, v.actor, admin.GetBackups{})
	if err != nil {
		h.failPage(w, err)
		return
	}
	view := backupsView{pageView: pv, BackupView: b, RecoveryKey: key, CanImport: h.updateDir != ""}
	view.USB = h.usbView(r, v, b)
	for i := 0; i < 24; i++ {
		view.Hours = append(view.Hours, i)
	}
	if accts, err := admin.Call[admin.AccountList](r.Context(), h.admin, v.actor, admin.ListAccounts{}); err == nil {
		for _, a := range accts.Accounts {
			view.Accounts = append(view.Accounts, a.Name)
		}
	}
	if !b.LastVerified.IsZero() {
		view.Verified = b.LastVerified.In(time.Local).Format("2006-01-02 15:04")
	}
	if b.Running {
		view.Running = b.Step + ": " + sizeText(b.Done) + " written"
	}
	for _, res := range b.History {
		row := backupRow{When: res.Started.In(time.Local).Format("2006-01-02 15:04"), Kind: "only the changes", Size: sizeText(res.Size), Took: res.Duration.Round(time.Second).String(), State: "Restore tested: complete"}
		if res.Kind == backup.KindFull {
			row.Kind = "everything"
		}
		switch {
		case res.Error != "":
			row.State, row.Bad = "Failed: "+res.Error, true
		case res.VerifyError != "":
			row.State, row.Bad = "Written, but its restore test failed: "+res.VerifyError, true
		}
		view.Rows = append(view.Rows, row)
	}
	if b.Target != "" && !b.Running {
		list, err := admin.Call[[]backup.Backup](r.Context(), h.admin, v.actor, admin.ListBackups{})
		if err != nil {
			view.ListErr = upperFirst(strings.TrimSuffix(err.Error(), ".")) + "."
			if i := strings.Index(err.Error(), "(its key: "); i >= 0 {
				view.OfferedKey = strings.TrimSuffix(err.Error()[i+len("(its key: "):], ")")
			}
		}
		view.OnTarget = len(list)
	}
	h.render(w, code, "backups.html", view)
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KB", (n+1023)>>10)
	}
}

// backupsChange is every form of the page but the upload.
func (h *handler) backupsChange(w http.ResponseWriter, r *http.Request, v *visitor) {
	form := r.PathValue("form")
	pv := h.view(v, "backups")
	f := r.PostForm.Get
	switch form {
	case "settings", "newkey", "trust":
		cur, err := admin.Call[admin.BackupView](r.Context(), h.admin, v.actor, admin.GetBackups{})
		if err != nil {
			h.failPage(w, err)
			return
		}
		req := admin.SetBackup{Target: cur.Target, NewKey: !cur.HasKey}
		fields := []string{"target", "usb_uuid", "folder", "sftp_address", "sftp_user", "sftp_password", "sftp_path", "sftp_host_key", "hour", "recovery_key"}
		switch form {
		case "settings":
			req = admin.SetBackup{Target: f("target"), USBUUID: f("usb_uuid"), Folder: f("folder"), SFTPAddress: f("sftp_address"), SFTPUser: f("sftp_user"),
				SFTPPassword: f("sftp_password"), SFTPPath: f("sftp_path"), SFTPHostKey: f("sftp_host_key"), NewKey: !cur.HasKey && f("target") != ""}
			hour, err := strconv.Atoi(f("hour"))
			if err != nil || hour < 0 || hour > 23 {
				pv.keep(form, r, "target", "usb_uuid", "folder", "sftp_address", "sftp_user", "sftp_path", "sftp_host_key", "hour")
				h.renderBackups(w, r, v, pv, pv.fail(form, &admin.Error{Code: admin.CodeInvalid, Field: "hour", Message: "choose an hour from the list"}, "hour"), "")
				return
			}
			req.Hour = &hour
		case "newkey":
			req.NewKey = true
		case "trust":
			req.SFTPHostKey = f("key")
			req.NewKey = false
		}
		res, err := admin.Call[admin.SetBackupResult](r.Context(), h.admin, v.actor, req)
		if err != nil {
			pv.keep(form, r, "target", "usb_uuid", "folder", "sftp_address", "sftp_user", "sftp_path", "sftp_host_key", "hour")
			h.renderBackups(w, r, v, pv, pv.fail(form, err, fields...), "")
			return
		}
		if res.RecoveryKey != "" {
			// Shown now and never again: no redirect, and no cache.
			w.Header().Set("Cache-Control", "no-store")
			pv.Notice = "Saved. Print the recovery key below now: this is the only time it is shown."
			h.renderBackups(w, r, v, pv, http.StatusOK, res.RecoveryKey)
			return
		}
		done := "settings"
		if form == "trust" {
			done = "trusted"
		}
		http.Redirect(w, r, "/backups?done="+done, http.StatusSeeOther)
	case "mail":
		res, err := admin.Call[backup.MailRestoreResult](r.Context(), h.admin, v.actor, admin.RestoreMail{Account: f("account"), Mailbox: strings.TrimSpace(f("mailbox"))})
		if err != nil {
			pv.keep(form, r, "account", "mailbox")
			h.renderBackups(w, r, v, pv, pv.fail(form, err, "account", "mailbox"), "")
			return
		}
		var parts []string
		for _, mb := range res.Mailboxes {
			if mb.Recreated {
				parts = append(parts, fmt.Sprintf("%s is back with %d messages, as mail programs knew it", mb.Name, mb.Added))
			} else if mb.Added > 0 {
				parts = append(parts, fmt.Sprintf("%s got %d messages back", mb.Name, mb.Added))
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "nothing was missing")
		}
		pv.Notice = "From the backup of " + res.Backup + ": " + strings.Join(parts, "; ") + "."
		h.renderBackups(w, r, v, pv, http.StatusOK, "")
	case "format":
		h.backupsFormat(w, r, v, pv) // backups_usb.go
	case "now":
		if _, err := admin.Call[admin.BackupNowResult](r.Context(), h.admin, v.actor, admin.BackupNow{}); err != nil {
			h.renderBackups(w, r, v, pv, pv.fail(form, err), "")
			return
		}
		http.Redirect(w, r, "/backups?done=started", http.StatusSeeOther)
	default:
		http.NotFound(w, r)
	}
}

// backupsExport streams the zip of an account's mail.
func (h *handler) backupsExport(w http.ResponseWriter, r *http.Request, v *visitor) {
	ex, ok := h.admin.(mailExporter)
	account, format := r.URL.Query().Get("account"), r.URL.Query().Get("format")
	pv := h.view(v, "backups")
	if !ok {
		h.renderBackups(w, r, v, pv, pv.fail("export", &admin.Error{Code: admin.CodeConflict, Message: "this box cannot make downloads"}), "")
		return
	}
	if format != admin.FormatMbox && format != admin.FormatMaildir {
		h.renderBackups(w, r, v, pv, pv.fail("export", &admin.Error{Code: admin.CodeInvalid, Field: "format", Message: "choose mbox or Maildir"}, "format"), "")
		return
	}
	if _, err := admin.Call[admin.AccountResult](r.Context(), h.admin, v.actor, admin.GetAccount{Name: account}); err != nil {
		h.renderBackups(w, r, v, pv, pv.fail("export", err, "account"), "")
		return
	}
	name := strings.NewReplacer("@", "-at-", "/", "-").Replace(account) + "-" + format + "-" + h.now().Format("2006-01-02") + ".zip"
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Cache-Control", "no-store")
	// From here the answer is the zip: an error can only cut it short,
	// which the browser shows as a failed download (and the log says why).
	if _, err := ex.ExportZip(r.Context(), v.actor, account, format, w); err != nil {
		h.logger.Error("export download cut short", "account", account, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// isMailUpload tells the import form's post, which reads its own form.
func isMailUpload(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.URL.Path == "/backups/import" && mt == "multipart/form-data"
}

// backupsImport reads the upload as a stream: the token, the account,
// mailbox and format fields, then the file, which goes to the data disk.
func (h *handler) backupsImport(w http.ResponseWriter, r *http.Request, v *visitor) {
	pv := h.view(v, "backups")
	fail := func(err error, fields ...string) {
		h.renderBackups(w, r, v, pv, pv.fail("import", err, fields...), "")
	}
	bad := func(field, msg string) error {
		return &admin.Error{Code: admin.CodeInvalid, Field: field, Message: msg}
	}
	if !isMailUpload(r) || h.updateDir == "" {
		fail(bad("file", "choose the file, then press Import"), "file")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxImportUpload+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		fail(bad("file", "the upload could not be read"), "file")
		return
	}
	vals := map[string]string{}
	var part *multipart.Part
	for {
		part, err = mr.NextPart()
		if err != nil {
			fail(bad("file", "choose the file, then press Import"), "file")
			return
		}
		if part.FormName() == "file" {
			break
		}
		b, _ := io.ReadAll(io.LimitReader(part, 4096))
		vals[part.FormName()] = string(b)
		if part.FormName() == "csrf" && subtle.ConstantTimeCompare(b, []byte(v.sess.CSRF)) != 1 {
			h.logger.Warn("web form refused: no or wrong form token", "user", v.acct.Name, "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "This form is out of date or came from another page: reload the page and try again.", http.StatusForbidden)
			return
		}
	}
	if _, ok := vals["csrf"]; !ok {
		http.Error(w, "This form is out of date or came from another page: reload the page and try again.", http.StatusForbidden)
		return
	}
	pv.vals = map[string]string{"import.account": vals["account"], "import.mailbox": vals["mailbox"], "import.format": vals["format"]}
	format := vals["format"]
	if format != admin.FormatMbox && format != admin.FormatMaildir {
		fail(bad("format", "choose mbox or Maildir"), "format")
		return
	}
	spool, err := os.MkdirTemp(h.updateDir, "import-")
	if err == nil {
		err = os.Chmod(spool, 0o700)
	}
	if err != nil {
		os.MkdirAll(h.updateDir, 0o700)
		if spool, err = os.MkdirTemp(h.updateDir, "import-"); err != nil {
			fail(fmt.Errorf("the upload could not be saved on the box: %w", err))
			return
		}
	}
	defer os.RemoveAll(spool)
	src := filepath.Join(spool, "upload.mbox")
	if format == admin.FormatMaildir {
		src, err = unzipMaildir(part, spool)
	} else {
		err = spoolFile(part, src)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			fail(&admin.Error{Code: admin.CodeInvalid, Field: "file", Message: fmt.Sprintf("the file is larger than an upload can be (%d GB); import it with postroomctl import from a USB disk", MaxImportUpload>>30)}, "file")
		case errors.Is(err, errNotMaildirZip):
			fail(bad("file", err.Error()), "file")
		default:
			h.logger.Error("import upload", "err", err)
			fail(fmt.Errorf("the upload could not be saved on the box: %w", err))
		}
		return
	}
	res, err := admin.Call[admin.TransferResult](r.Context(), h.admin, v.actor, admin.ImportMail{Account: vals["account"], Mailbox: vals["mailbox"], Format: format, Path: src})
	if err != nil {
		fail(err, "account", "mailbox", "format", "file")
		return
	}
	pv.Notice = fmt.Sprintf("Imported %d messages (%s) into %s of %s; %d were there already.", res.Messages, sizeText(res.Bytes), vals["mailbox"], vals["account"], res.Skipped)
	pv.vals = nil
	h.renderBackups(w, r, v, pv, http.StatusOK, "")
}

func spoolFile(r io.Reader, p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(f, r, make([]byte, 256<<10))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var errNotMaildirZip = errors.New("this is not a zip file of a Maildir (a folder with cur and new inside)")

// unzipMaildir reads a zipped Maildir from the upload stream into dir and
// returns the Maildir's folder. A zip's directory is at its end, so the
// upload is spooled first; names are checked (no absolute paths, no
// "..", nothing outside dir), and the count and sizes are bounded by the
// upload's own limit.
func unzipMaildir(r io.Reader, dir string) (string, error) {
	zpath := filepath.Join(dir, "upload.zip")
	if err := spoolFile(r, zpath); err != nil {
		return "", err
	}
	zr, err := zip.OpenReader(zpath)
	if err != nil {
		return "", errNotMaildirZip
	}
	defer zr.Close()
	if len(zr.File) > maxImportEntries {
		return "", fmt.Errorf("%w: it holds more than %d files", errNotMaildirZip, maxImportEntries)
	}
	out := filepath.Join(dir, "x")
	root := ""
	var left int64 = maxImportUnzip
	for _, f := range zr.File {
		name := path.Clean(strings.ReplaceAll(f.Name, "\\", "/"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || f.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("%w: it holds the odd name %q", errNotMaildirZip, f.Name)
		}
		p := filepath.Join(out, filepath.FromSlash(name))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return "", err
			}
			continue
		}
		// The Maildir is the folder whose cur/ comes nearest the top.
		if d, file := path.Split(name); path.Base(d) == "cur" && file != "" {
			if top := path.Dir(strings.TrimSuffix(d, "/")); root == "" || len(top) < len(root) {
				root = top
			}
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return "", err
		}
		rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("%w: %v", errNotMaildirZip, err)
		}
		lr := &io.LimitedReader{R: rc, N: left + 1}
		err = spoolFile(lr, p)
		rc.Close()
		if err != nil {
			return "", err
		}
		if left = lr.N - 1; left < 0 {
			return "", fmt.Errorf("%w: it unpacks to more than %d GB", errNotMaildirZip, maxImportUnzip>>30)
		}
		os.Chtimes(p, f.Modified, f.Modified) // the messages' dates
	}
	os.Remove(zpath)
	if root == "" {
		return "", errNotMaildirZip
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(out, filepath.FromSlash(root), sub), 0o700)
	}
	return filepath.Join(out, filepath.FromSlash(root)), nil
}

// backupWords is the status page's line about backups.
func backupWords(b status.Backup, now time.Time) string {
	if b.Running != "" {
		if b.Running == "saving" && b.Percent > 0 {
			return fmt.Sprintf("Running now: saving (%d %%).", b.Percent)
		}
		return "Running now: " + b.Running + "."
	}
	return "Last verified restore: " + b.Verified.In(time.Local).Format("2006-01-02 15:04") + " (" + age(now.Sub(b.Verified)) + " ago)."
}
