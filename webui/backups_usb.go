package webui

import (
	"net/http"
	"strings"

	"postroom/appliance/admin"
	"postroom/appliance/usbdisk"
)

// The Backups page's USB disks (appliance/usbdisk through the admin
// layer): the disks with a file system the box can write are offered as
// the backup target, chosen by their file system's UUID; a blank disk is
// offered for formatting, for backups or for the mail, only after the
// administrator types its size as shown (the admin layer checks that,
// and that the disk is still the one shown and still blank).

// usbView is the USB part of the page.
type usbView struct {
	// Sees: the box looks at USB disks (the board). A developer's
	// machine does not, and the page says to use a folder.
	Sees    bool
	Err     string // why the disks could not be listed
	Choices []usbChoice
	Blank   []admin.USBDisk
}

// usbChoice is one file system offered as the target, or shown as one
// that cannot be (Why).
type usbChoice struct {
	UUID, Words, Why string
	Checked          bool
}

func (h *handler) usbView(r *http.Request, v *visitor, b admin.BackupView) usbView {
	disks, err := admin.Call[admin.USBDisks](r.Context(), h.admin, v.actor, admin.ListUSBDisks{})
	out := usbView{Sees: disks.Sees}
	if err != nil {
		out.Err = upperFirst(strings.TrimSuffix(err.Error(), ".")) + "."
		return out
	}
	found := false
	for _, d := range disks.Disks {
		if d.Blank {
			out.Blank = append(out.Blank, d)
			continue
		}
		for _, fs := range d.FS {
			c := usbChoice{UUID: fs.UUID, Words: fsWords(d, fs)}
			switch {
			case fs.Data:
				c.Why = "holds the mail"
			case fs.Type == "ntfs":
				c.Why = "NTFS: the box cannot write to it"
			case !fs.Usable() || fs.UUID == "":
				c.Why = "no file system the box can use"
			}
			if c.Why == "" && b.Target == "usb" && strings.EqualFold(fs.UUID, b.USBUUID) {
				c.Checked, found = true, true
			}
			out.Choices = append(out.Choices, c)
		}
	}
	if b.Target == "usb" && b.USBUUID != "" && !found {
		name := "the USB disk chosen before"
		if b.USBLabel != "" {
			name = "the USB disk labelled " + b.USBLabel
		}
		out.Choices = append([]usbChoice{{UUID: b.USBUUID, Words: name + ": not plugged in now", Checked: true}}, out.Choices...)
	}
	return out
}

// fsWords describes a file system in the list: "SanDisk Cruzer Blade,
// 32.0 GB, FAT, labelled OFFICE".
func fsWords(d admin.USBDisk, fs usbdisk.FS) string {
	kind := map[string]string{"vfat": "FAT", "exfat": "exFAT", "ntfs": "NTFS", "": "unknown"}[fs.Type]
	if kind == "" {
		kind = fs.Type
	}
	w := d.Title + ", " + usbdisk.SizeWords(fs.Size) + ", " + kind
	if fs.Label != "" {
		w += ", labelled " + fs.Label
	}
	return w
}

var formatNotice = "The disk is formatted, and backups go to it from now on."

// backupsFormat formats a blank USB disk: for backups (and makes it the
// target at once, with a new recovery key if there is none yet), or for
// the mail (used from the next restart).
func (h *handler) backupsFormat(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView) {
	f := r.PostForm.Get
	req := admin.FormatUSB{Disk: f("disk"), Fingerprint: f("fingerprint"), Use: f("use"), Confirm: f("confirm")}
	res, err := admin.Call[admin.FormatUSBResult](r.Context(), h.admin, v.actor, req)
	if err != nil {
		pv.keep("format", r, "disk")
		h.renderBackups(w, r, v, pv, pv.fail("format", err, "confirm", "use", "disk"), "")
		return
	}
	if req.Use != admin.UseBackup {
		pv.Notice = res.Note
		pv.OfferRestart = true // the move is made at the next start
		h.renderBackups(w, r, v, pv, http.StatusOK, "")
		return
	}
	cur, err := admin.Call[admin.BackupView](r.Context(), h.admin, v.actor, admin.GetBackups{})
	if err != nil {
		h.failPage(w, err)
		return
	}
	set, err := admin.Call[admin.SetBackupResult](r.Context(), h.admin, v.actor, admin.SetBackup{Target: "usb", USBUUID: res.FS.UUID, NewKey: !cur.HasKey})
	if err != nil {
		pv.Notice = "The disk is formatted."
		h.renderBackups(w, r, v, pv, pv.fail("settings", err, "target", "usb_uuid"), "")
		return
	}
	pv.Notice = formatNotice
	if set.RecoveryKey != "" {
		w.Header().Set("Cache-Control", "no-store")
		pv.Notice += " Print the recovery key below now: this is the only time it is shown."
	}
	h.renderBackups(w, r, v, pv, http.StatusOK, set.RecoveryKey)
}
