package webui

import (
	"net/http"
	"strings"

	"postroom/appliance/admin"
)

// The first boot's other way (issue #15): a new box, or one after a
// factory reset, takes everything from a backup the office made before:
// accounts, mail with its UIDs, settings, TLS and DKIM keys. The person
// has shown the set-up code already; they give where the backups are (a
// USB disk's folder) and the recovery key the box printed when backups
// were set up. The admin layer checks both before anything stops; the
// box then restores the newest complete backup, proves it and starts
// again with it (appliance/run_backup.go).

func (h *handler) setupRestorePage(w http.ResponseWriter, r *http.Request) {
	_, wz, ok := h.setupSession(w, r)
	if !ok {
		return
	}
	h.render(w, http.StatusOK, "wizard.html", restoreView(h.setupView("restore", wz)))
}

func restoreView(v wizardView) wizardView {
	v.Heading = "Set up the box: restore from a backup"
	return v
}

func (h *handler) setupRestore(w http.ResponseWriter, r *http.Request) {
	_, wz, ok := h.setupSession(w, r)
	if !ok {
		return
	}
	v := restoreView(h.setupView("restore", wz))
	folder := strings.TrimSpace(r.PostForm.Get("folder"))
	key := strings.TrimSpace(r.PostForm.Get("recovery_key"))
	v.keepVal("restore", "folder", folder)
	switch {
	case folder == "":
		h.failStep(w, v, invalid("folder", "give the folder that holds the backups, such as the USB disk's"), "folder")
		return
	case key == "":
		h.failStep(w, v, invalid("recovery_key", "type or paste the recovery key printed when backups were set up"), "recovery_key")
		return
	}
	ctx := r.Context()
	if _, err := admin.Call[admin.SetBackupResult](ctx, h.admin, setupActor, admin.SetBackup{Target: "folder", Folder: folder, RecoveryKey: key}); err != nil {
		h.failStep(w, v, restoreField(err), "folder", "recovery_key")
		return
	}
	res, err := admin.Call[admin.RestoreBoxResult](ctx, h.admin, setupActor, admin.RestoreBox{RecoveryKey: key})
	if err != nil {
		h.failStep(w, v, restoreField(err), "folder", "recovery_key")
		return
	}
	h.logger.Info("set-up: restore of the whole box asked for", "remote", r.RemoteAddr)
	v.Step = "restoring"
	v.Notice = res.Note
	h.render(w, http.StatusOK, "wizard.html", v)
}

// restoreField puts the admin layer's words next to the form's fields:
// the target's and the name's problems are the folder's.
func restoreField(err error) error {
	var ae *admin.Error
	if e, ok := err.(*admin.Error); ok {
		ae = e
	}
	if ae == nil {
		return err
	}
	c := *ae
	switch c.Field {
	case "target", "name", "folder":
		c.Field = "folder"
	}
	return &c
}
