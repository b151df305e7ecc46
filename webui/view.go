package webui

import (
	"fmt"
	"html/template"
	"math"
	"time"

	"postroom/appliance/status"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"stamp": func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	// fe names a form's field for the "formerr" and "fielderr" templates.
	"fe":     func(v errSource, form, field string) fieldRef { return fieldRef{V: v, Form: form, Field: field} },
	"minus1": func(n int) int { return n - 1 },
}

// errSource is a page view with messages for its forms (pageView.Err).
type errSource interface {
	Err(form, field string) string
}

// fieldRef is one form's field, for the templates that show its message.
type fieldRef struct {
	V           errSource
	Form, Field string
}

// statusView is what the status template shows: the Snapshot, and its
// readings already put into words for an office manager, so that the
// template only lays them out and the words are tested in Go.
type statusView struct {
	status.Snapshot
	MailToday, SentToday, FailedToday int
	Display                           bool // the panel draws a display: show /display.png
	ResetPending                      bool // a button press asks for a factory reset (reset.go)
	Readings                          []reading
	PhaseWords                        string    // the phase for people: "Running", "Maintenance: factory reset"
	MoreAttention                     []string  // what else needs a person, after Problem (Snapshot.Attention)
	Services                          []service // the Snapshot's, with their state in words
}

// service is one row of the services table.
type service struct {
	status.Service
	StateWords string
}

// reading is one line of the "This box" table: what, its value in words,
// and whether it needs a person (shown in red).
type reading struct {
	ID, Label, Value string
	Bad              bool
}

func newStatusView(s status.Snapshot, now time.Time, display, resetPending bool) statusView {
	v := statusView{Snapshot: s, Display: display, ResetPending: resetPending,
		MailToday: s.MailOn(now), SentToday: s.SentOn(now), FailedToday: s.FailedOn(now),
		PhaseWords: phaseWords(s)}
	if a := s.Attention(now); len(a) > 1 && a[0] == s.Problem {
		v.MoreAttention = a[1:]
	}
	for _, sv := range s.Services {
		v.Services = append(v.Services, service{Service: sv, StateWords: stateWords(sv)})
	}
	add := func(id, label, value string, bad bool) {
		v.Readings = append(v.Readings, reading{ID: id, Label: label, Value: value, Bad: bad})
	}
	add("queue", "Outgoing mail", queueWords(s.Queue, now), s.Queue.Length > 0 && now.Sub(s.Queue.Oldest) > status.QueueStuckAfter)
	add("disk", "Disk space", diskWords(s.Disk, now), s.Disk.UsedPercent() > status.DiskFullPercent || s.Disk.Problem() != "")
	cert, certBad := certWords(s)
	add("cert", "Certificate", cert, certBad)
	add("clock", "Clock", clockWords(s), !s.ClockSynced && !s.Time.IsZero())
	if mem, bad := memoryWords(s.Memory); mem != "" {
		add("memory", "Memory", mem, bad) // memory.go
	}
	if t, ok := s.CPUTemp(); ok {
		add("temp", "Temperature", fmt.Sprintf("%.0f °C", t), t >= 80)
	}
	if s.BackupError != "" {
		add("backup", "Last backup", "Failed: "+s.BackupError, true)
	} else if b := s.Backup; b.Running != "" || !b.Verified.IsZero() {
		add("backup", "Backups", backupWords(b, now), false) // backups.go
	}
	if d := s.DNS; !d.Checked.IsZero() {
		add("dns", "DNS records", dnsWords(d, now), len(d.Problems) > 0) // dns.go
	}
	if s.DevOutbox.Dir != "" {
		add("dev-outbox", "Mail to other domains", "Development mode: never sent to the internet. "+s.DevOutbox.Summary()+".", false)
	}
	v.Readings = append(v.Readings, systemReadings(s.System, s.Disk.TotalBytes, now)...) // update.go
	if c := s.LastChange; c.Seq > 0 {
		add("last-change", "Last change", fmt.Sprintf("%s, by %s, %s ago.", upperFirst(c.What), c.By, age(now.Sub(c.Time))), false)
	}
	return v
}

// phaseWords says what the box is doing.
func phaseWords(s status.Snapshot) string {
	switch s.Phase {
	case status.PhaseBooting:
		return "Starting"
	case status.PhaseNeedsSetup:
		return "Waiting to be set up"
	case status.PhaseRunning:
		return "Running"
	case status.PhaseUpdating:
		return "Updating"
	case status.PhaseMaintenance:
		if s.Maintenance != "" {
			return "Maintenance: " + s.Maintenance
		}
		return "Maintenance"
	case status.PhaseShuttingDown:
		return "Stopping"
	case "":
		return "Starting"
	}
	return string(s.Phase)
}

// stateWords says how one service is.
func stateWords(sv status.Service) string {
	switch sv.State {
	case status.ServiceStarting:
		return "Starting"
	case status.ServiceListening:
		return "Working"
	case status.ServiceFailed:
		if sv.Error != "" {
			return "Not working: " + sv.Error
		}
		return "Not working"
	case status.ServiceStopped:
		return "Stopped"
	}
	return string(sv.State)
}

// queueWords says how the outgoing queue stands.
func queueWords(q status.Queue, now time.Time) string {
	if q.Length == 0 {
		return "Nothing waiting: all sent."
	}
	msg := plural(q.Length, "message") + " waiting to be sent"
	if !q.Oldest.IsZero() {
		msg += fmt.Sprintf(", the oldest for %s (since %s)", age(now.Sub(q.Oldest)), q.Oldest.Format("Jan 2 15:04"))
	}
	msg += "."
	if q.LastError != "" {
		msg += " Last attempt: " + q.LastError
	}
	return msg
}

// diskWords says how much space is free, where it goes, and whether mail
// is refused for it.
func diskWords(d status.Disk, now time.Time) string {
	msg := d.Problem()
	if d.TotalBytes == 0 {
		if msg == "" {
			return "Not measured yet."
		}
		return msg
	}
	if msg != "" {
		msg += " "
	}
	msg += fmt.Sprintf("%s free of %s (%.0f%% used).", bytesWords(d.FreeBytes), bytesWords(d.TotalBytes), d.UsedPercent())
	switch t := d.TrendBytesPerDay; {
	case t < 0:
		msg += fmt.Sprintf(" It fills by about %s a day", bytesWords(uint64(-t)))
		if days := float64(d.FreeBytes) / float64(-t); days < 3650 {
			msg += fmt.Sprintf(": full in about %s", plural(int(math.Max(1, math.Round(days))), "day"))
		}
		msg += "."
	case t > 0:
		msg += fmt.Sprintf(" About %s a day is being freed.", bytesWords(uint64(t)))
	}
	if d.ReclaimedBytes > 0 && !d.ReclaimedAt.IsZero() {
		msg += fmt.Sprintf(" Deleted mail gave back %s %s ago.", bytesWords(uint64(d.ReclaimedBytes)), age(now.Sub(d.ReclaimedAt)))
	}
	return msg
}

// certWords says until when the TLS certificate is good, and whether that
// needs a person.
func certWords(s status.Snapshot) (string, bool) {
	var msg string
	bad := false
	switch {
	case s.CertExpires.IsZero():
		return "Not checked yet.", false
	case s.CertDaysLeft < 0:
		msg, bad = "Expired on "+s.CertExpires.Format(time.DateOnly)+": mail programs will warn or refuse to connect.", true
	default:
		msg = fmt.Sprintf("Valid until %s (%s left).", s.CertExpires.Format(time.DateOnly), plural(s.CertDaysLeft, "day"))
		bad = s.CertDaysLeft < status.CertWarnDays
	}
	switch s.CertSource {
	case "self-signed":
		msg = "Made by the box itself (mail programs warn once). " + msg
	case "acme":
		msg = "Trusted, renewed by the box. " + msg
	case "uploaded", "configured":
		msg = "Trusted (" + s.CertSource + "). " + msg
	}
	// A failed renewal is said here always; it is a problem for the red
	// LED only when the certificate ends soon (status.Attention).
	if s.CertProblem != "" {
		msg += " " + s.CertProblem
	}
	return msg, bad
}

// clockWords says whether the box's clock can be trusted.
func clockWords(s status.Snapshot) string {
	msg := "Set from the network."
	if !s.ClockSynced {
		msg = "Not yet set from the network: dates on mail may be wrong."
	}
	if s.ClockNote != "" {
		msg += " (" + s.ClockNote + ")"
	}
	return msg
}

// bytesWords writes n in the units a file manager uses: "512 MB".
func bytesWords(n uint64) string {
	const unit = 1000
	if n < unit {
		return plural(int(n), "byte")
	}
	f, prefix := float64(n), "kMGTP"
	i := -1
	for f >= unit && i < len(prefix)-1 {
		f /= unit
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %cB", f, prefix[i])
	}
	return fmt.Sprintf("%.0f %cB", f, prefix[i])
}

// age writes d as "5 minutes", "3 hours" or "2 days".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < 2*time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour")
	default:
		return plural(int(d.Hours()/24), "day")
	}
}

// upperFirst starts s with a capital letter, for a sentence.
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
