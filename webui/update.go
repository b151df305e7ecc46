package webui

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/status"
)

// /update: the software update (PRODUCT.md journey 7). An administrator
// uploads the signed update file; it is spooled to the data disk (never
// held in memory) and handed to the admin layer's update.install, which
// checks it before writing anything and restarts the box to try it.

// MaxUpdateUpload bounds an uploaded update file: a root partition and
// the boot files, with room to spare.
const MaxUpdateUpload = 512 << 20

type updateView struct {
	pageView
	System    status.System
	Uptime    string
	Uploading bool // the box takes uploads (Options.UpdateDir and Updatable)
}

func (h *handler) updatePage(w http.ResponseWriter, r *http.Request, v *visitor) {
	h.renderUpdate(w, v, h.view(v, "update"), http.StatusOK)
}

func (h *handler) renderUpdate(w http.ResponseWriter, v *visitor, pv pageView, code int) {
	pv.Heading = "Software update"
	s := h.bus.Latest()
	view := updateView{pageView: pv, System: s.System, Uploading: h.updateDir != "" && s.System.Updatable}
	if up := s.System.Uptime(h.now()); up > 0 {
		view.Uptime = age(up)
	}
	h.render(w, code, "update.html", view)
}

// isUpload tells the update form's post (multipart, checked by
// updateUpload itself) from the other forms, which page parses.
func isUpload(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.URL.Path == "/update" && mt == "multipart/form-data"
}

// updateUpload reads the form as a stream: the CSRF token must come
// first (it does: the template puts it before the file), then the file
// is copied to the spool folder, at most MaxUpdateUpload bytes.
func (h *handler) updateUpload(w http.ResponseWriter, r *http.Request, v *visitor) {
	pv := h.view(v, "update")
	fail := func(code int, msg string) {
		pv.Failed = "upload"
		pv.errs = map[string]string{"upload.file": msg}
		h.renderUpdate(w, v, pv, code)
	}
	if !isUpload(r) || h.updateDir == "" {
		fail(http.StatusBadRequest, "Choose the update file, then press Install.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxUpdateUpload+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		fail(http.StatusBadRequest, "The upload could not be read.")
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "csrf" {
		http.Error(w, "This form is out of date or came from another page: reload the page and try again.", http.StatusForbidden)
		return
	}
	token, _ := io.ReadAll(io.LimitReader(part, 256))
	if subtle.ConstantTimeCompare(token, []byte(v.sess.CSRF)) != 1 {
		h.logger.Warn("web form refused: no or wrong form token", "user", v.acct.Name, "path", r.URL.Path, "remote", r.RemoteAddr)
		http.Error(w, "This form is out of date or came from another page: reload the page and try again.", http.StatusForbidden)
		return
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "file" {
		fail(http.StatusBadRequest, "Choose the update file, then press Install.")
		return
	}
	path, err := h.spoolUpload(part)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("The file is larger than an update can be (%d MB).", MaxUpdateUpload>>20))
			return
		}
		h.logger.Error("update upload", "err", err)
		fail(http.StatusInternalServerError, "The file could not be saved on the box: "+err.Error()+".")
		return
	}
	defer os.Remove(path)
	res, err := admin.Call[admin.UpdateResult](r.Context(), h.admin, v.actor, admin.InstallUpdate{File: path})
	if err != nil {
		code := pv.fail("upload", err, "file")
		h.renderUpdate(w, v, pv, code)
		return
	}
	pv.Notice = res.Note
	h.renderUpdate(w, v, pv, http.StatusOK)
}

// spoolUpload copies an uploaded file into the spool folder and returns
// its path; an earlier upload left there is replaced.
func (h *handler) spoolUpload(r io.Reader) (string, error) {
	if err := os.MkdirAll(h.updateDir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(h.updateDir, "upload-*.update")
	if err != nil {
		return "", err
	}
	_, err = io.CopyBuffer(f, r, make([]byte, 1<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return filepath.Clean(f.Name()), nil
}

// systemReadings are the status page's lines about the software and the
// box's start; none off the board. diskBytes is the data file system's
// size (0: not measured yet): a card bigger than the image grows it at
// the first start, and the line says how big it became.
func systemReadings(s status.System, diskBytes uint64, now time.Time) []reading {
	if s.Version == "" {
		return nil
	}
	version := s.Version
	if s.OtherVersion != "" {
		version += " (the spare copy holds " + s.OtherVersion + ")"
	}
	out := []reading{{ID: "version", Label: "Software", Value: version}}
	if s.Updating != "" {
		out = append(out, reading{ID: "updating", Label: "Updating", Value: upperFirst(s.Updating) + "."})
	}
	if s.LastUpdate != "" {
		out = append(out, reading{ID: "last-update", Label: "Last update", Value: upperFirst(s.LastUpdate) + ".",
			Bad: s.LastUpdateFailed && now.Sub(s.LastUpdateAt) < status.UpdateFailedShown})
	}
	if up := s.Uptime(now); up > 0 {
		out = append(out, reading{ID: "uptime", Label: "Running for", Value: age(up)})
	}
	if s.Boots > 0 {
		out = append(out, reading{ID: "boots", Label: "Starts", Value: fmt.Sprintf("%d since the box was made", s.Boots)})
	}
	if s.DataDisk != "" {
		where := s.DataDisk
		if diskBytes > 0 {
			where += ", " + bytesWords(diskBytes)
		}
		out = append(out, reading{ID: "data-disk", Label: "Mail is kept on", Value: where})
	}
	if s.Crashes > 0 {
		out = append(out, reading{ID: "crashes", Label: "Crashes", Value: fmt.Sprintf("The mail service stopped %d times in a row and was restarted.", s.Crashes),
			Bad: s.Crashes >= status.CrashesShown})
	}
	return out
}
