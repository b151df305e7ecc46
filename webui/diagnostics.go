package webui

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"postroom/appliance/admin"
	"postroom/appliance/status"
)

// The log page (the box's recent log lines, newest first) and the
// diagnostics bundle: one zip to hand to whoever helps, with the status,
// the settings (without passwords: admin.Settings has none), the store's
// figures and the recent log. Both for administrators only.

// LogSource holds the box's recent log lines (internal/logring).
type LogSource interface {
	// Lines returns the lines kept, oldest first.
	Lines() []string
}

type logView struct {
	pageView
	Lines []string // newest first
}

func (h *handler) logPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	view := logView{pageView: h.view(v, "log")}
	if h.log != nil {
		view.Lines = h.log.Lines()
		slices.Reverse(view.Lines)
	}
	h.render(w, http.StatusOK, "log.html", view)
}

// diagnostics writes the bundle.
func (h *handler) diagnostics(w http.ResponseWriter, r *http.Request, v *visitor) {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	add := func(name string, body []byte) error {
		f, err := z.Create(name)
		if err != nil {
			return err
		}
		_, err = f.Write(body)
		return err
	}
	asJSON := func(x any, err error) []byte {
		if err != nil {
			return []byte("not available: " + err.Error() + "\n")
		}
		b, merr := json.MarshalIndent(x, "", "  ")
		if merr != nil {
			return []byte("not available: " + merr.Error() + "\n")
		}
		return append(b, '\n')
	}
	ctx := r.Context()
	settings, serr := admin.Call[admin.Settings](ctx, h.admin, v.actor, admin.GetSettings{})
	stats, terr := admin.Call[admin.StatsResult](ctx, h.admin, v.actor, admin.GetStats{})
	var lines []string
	if h.log != nil {
		lines = h.log.Lines()
	}
	files := []struct {
		name string
		body []byte
	}{
		{"README.txt", []byte("Postroom diagnostics of " + h.bus.Latest().Hostname + ", made " + h.now().UTC().Format("2006-01-02 15:04:05 UTC") + " by " + v.acct.Name + ".\n" +
			"status.json: the status page's data. settings.json: the settings, without passwords.\n" +
			"store.json: the store's figures and every account's size. log.txt: the recent log, oldest first.\n" +
			"The box never writes passwords to its log.\n")},
		{"status.json", asJSON(withoutCode(h.bus.Latest()), nil)},
		{"settings.json", asJSON(settings, serr)},
		{"store.json", asJSON(stats, terr)},
		{"log.txt", []byte(strings.Join(lines, "\n") + "\n")},
	}
	for _, f := range files {
		if err := add(f.name, f.body); err != nil {
			h.failPage(w, err)
			return
		}
	}
	if err := z.Close(); err != nil {
		h.failPage(w, err)
		return
	}
	h.logger.Info("diagnostics downloaded", "by", v.acct.Name, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="postroom-diagnostics.zip"`)
	w.Write(buf.Bytes())
}

// withoutCode is s without the set-up code, which only the display and the
// console show.
func withoutCode(s status.Snapshot) status.Snapshot {
	s.SetupCode = ""
	return s
}
