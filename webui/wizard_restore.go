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
	v := restoreView(h.setupView("restore", wz))
	v.USB = h.restoreUSB(r)
	h.render(w, http.StatusOK, "wizard.html", v)
}

// restoreUSB lists the USB disks the backups may be on: those with a
// file system the box can read, not the mail's own.
func (h *handler) restoreUSB(r *http.Request) []usbChoice {
	disks, err := admin.Call[admin.USBDisks](r.Context(), h.admin, setupActor, admin.ListUSBDisks{})
	if err != nil {
		return nil
	}
	var out []usbChoice
	for _, d := range disks.Disks {
		for _, fs := range d.FS {
			if fs.Usable() && !fs.Data && fs.UUID != "" {
				out = append(out, usbChoice{UUID: fs.UUID, Words: fsWords(d, fs)})
			}
		}
	}
	return out
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
	v.USB = h.restoreUSB(r)
	folder := strings.TrimSpace(r.PostForm.Get("folder"))
	key := strings.TrimSpace(r.PostForm.Get("recovery_key"))
	uuid := strings.TrimSpace(r.PostForm.Get("usb_uuid"))
	v.keepVal("restore", "folder", folder)
	v.keepVal("restore", "usb_uuid", uuid)
	// From a USB disk: the box mounts it by its file system's UUID.
	set, field := admin.SetBackup{Target: "folder", Folder: folder, RecoveryKey: key}, "folder"
	if uuid != "" {
		set, field = admin.SetBackup{Target: "usb", USBUUID: uuid, RecoveryKey: key}, "usb_uuid"
	}
	switch {
	case uuid == "" && folder == "":
		h.failStep(w, v, invalid("folder", "give the folder that holds the backups, such as the USB disk's"), "folder")
		return
	case key == "":
		h.failStep(w, v, invalid("recovery_key", "type or paste the recovery key printed when backups were set up"), "recovery_key")
		return
	}
	ctx := r.Context()
	if _, err := admin.Call[admin.SetBackupResult](ctx, h.admin, setupActor, set); err != nil {
		h.failStep(w, v, restoreField(err, field), field, "recovery_key")
		return
	}
	res, err := admin.Call[admin.RestoreBoxResult](ctx, h.admin, setupActor, admin.RestoreBox{RecoveryKey: key})
	if err != nil {
		h.failStep(w, v, restoreField(err, field), field, "recovery_key")
		return
	}
	h.logger.Info("set-up: restore of the whole box asked for", "remote", r.RemoteAddr)
	v.Step = "restoring"
	v.Notice = res.Note
	h.render(w, http.StatusOK, "wizard.html", v)
}

// restoreField puts the admin layer's words next to the form's fields:
// the target's and the name's problems are where's (the folder's, or the
// USB disk's).
func restoreField(err error, where string) error {
	var ae *admin.Error
	if e, ok := err.(*admin.Error); ok {
		ae = e
	}
	if ae == nil {
		return err
	}
	c := *ae
	switch c.Field {
	case "target", "name", "folder", "usb_uuid":
		c.Field = where
	}
	return &c
}
