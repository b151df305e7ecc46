package webui

import (
	"net/http"

	"postroom/appliance/admin"
)

// POST /restart: "Restart the box", on the settings page and in the note
// after "Move the mail to this disk" on the Backups page (whose copy the
// next start makes), so that nobody pulls the plug instead. The admin
// layer's box.restart does it; the answer is shown on the page the form
// came from ("from"), before the box goes down.
func (h *handler) restart(w http.ResponseWriter, r *http.Request, v *visitor) {
	from := "settings"
	if r.PostForm.Get("from") == "backups" {
		from = "backups"
	}
	pv := h.view(v, from)
	code := http.StatusOK
	res, err := admin.Call[admin.RestartResult](r.Context(), h.admin, v.actor, admin.RestartBox{})
	if err != nil {
		code = pv.fail("restart", err)
		pv.OfferRestart = from == "backups" // the form again, with the message
	} else {
		pv.Notice = res.Note
	}
	if from == "backups" {
		h.renderBackups(w, r, v, pv, code, "")
		return
	}
	h.renderSettings(w, r, v, pv, code, "settings.html")
}
