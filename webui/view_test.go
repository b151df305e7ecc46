package webui

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"postroom/appliance/status"
	"postroom/internal/testutil"
)

// TestReadings: the status page's readings in words, at a fixed moment
// (the clock is an argument, so the test reads the same on any day).
func TestReadings(t *testing.T) {
	now := time.Date(2026, 3, 9, 14, 30, 0, 0, time.FixedZone("CHAST", 13*3600+45*60))
	base := status.Snapshot{Phase: status.PhaseRunning, Time: now, ClockSynced: true}
	for _, tc := range []struct {
		name string
		edit func(*status.Snapshot)
		id   string
		want string
		bad  bool
	}{
		{"queue empty", func(*status.Snapshot) {}, "queue", "Nothing waiting: all sent.", false},
		{"queue waiting", func(s *status.Snapshot) {
			s.Queue = status.Queue{Length: 3, Oldest: now.Add(-25 * time.Minute)}
		}, "queue", "3 messages waiting to be sent, the oldest for 25 minutes (since Mar 9 14:05).", false},
		{"queue stuck", func(s *status.Snapshot) {
			s.Queue = status.Queue{Length: 1, Oldest: now.Add(-50 * time.Hour), LastError: "mx.example.com did not answer."}
		}, "queue", "1 message waiting to be sent, the oldest for 2 days (since Mar 7 12:30). Last attempt: mx.example.com did not answer.", true},
		{"disk not measured", func(*status.Snapshot) {}, "disk", "Not measured yet.", false},
		{"disk filling", func(s *status.Snapshot) {
			s.Disk = status.Disk{FreeBytes: 2_500_000_000, TotalBytes: 8_000_000_000, TrendBytesPerDay: -100_000_000}
		}, "disk", "2.5 GB free of 8.0 GB (69% used). It fills by about 100 MB a day: full in about 25 days.", false},
		{"disk nearly full", func(s *status.Snapshot) {
			s.Disk = status.Disk{FreeBytes: 66_000_000, TotalBytes: 256_000_000}
		}, "disk", "66 MB free of 256 MB (74% used).", false},
		{"disk full", func(s *status.Snapshot) {
			s.Disk = status.Disk{FreeBytes: 10_000_000, TotalBytes: 256_000_000, TrendBytesPerDay: 5_000_000}
		}, "disk", "10 MB free of 256 MB (96% used). About 5.0 MB a day is being freed.", true},
		{"disk refusing mail", func(s *status.Snapshot) {
			s.Disk = status.Disk{FreeBytes: 66_000_000, TotalBytes: 256_000_000, RefusingMail: true}
		}, "disk", status.DiskFullProblem + " Delete old mail, or use a larger disk. 66 MB free of 256 MB (74% used).", true},
		{"disk read-only", func(s *status.Snapshot) { s.Disk = status.Disk{ReadOnly: true} }, "disk",
			status.DiskFullProblem + " Free space (delete files on the data disk), then restart the box.", true},
		{"disk space given back", func(s *status.Snapshot) {
			s.Disk = status.Disk{FreeBytes: 120_000_000, TotalBytes: 256_000_000, ReclaimedBytes: 55_000_000, ReclaimedAt: now.Add(-3 * time.Minute)}
		}, "disk", "120 MB free of 256 MB (53% used). Deleted mail gave back 55 MB 3 minutes ago.", false},
		{"certificate unknown", func(*status.Snapshot) {}, "cert", "Not checked yet.", false},
		{"certificate good", func(s *status.Snapshot) {
			s.CertExpires, s.CertDaysLeft = time.Date(2027, 3, 9, 0, 0, 0, 0, time.UTC), 365
		}, "cert", "Valid until 2027-03-09 (365 days left).", false},
		{"certificate ending", func(s *status.Snapshot) {
			s.CertExpires, s.CertDaysLeft = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), 1
		}, "cert", "Valid until 2026-03-10 (1 day left).", true},
		{"certificate expired", func(s *status.Snapshot) {
			s.CertExpires, s.CertDaysLeft = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), -8
		}, "cert", "Expired on 2026-03-01: mail programs will warn or refuse to connect.", true},
		{"certificate from ACME, renewal failing", func(s *status.Snapshot) {
			s.CertExpires, s.CertDaysLeft, s.CertSource, s.CertProblem = t0.AddDate(0, 0, 40), 40, "acme", "The certificate authority could not be reached."
		}, "cert", "Trusted, renewed by the box. Valid until 2026-04-10 (40 days left). The certificate authority could not be reached.", false},
		{"certificate self-signed", func(s *status.Snapshot) {
			s.CertExpires, s.CertDaysLeft, s.CertSource = t0.AddDate(2, 0, 0), 731, "self-signed"
		}, "cert", "Made by the box itself (mail programs warn once). Valid until 2028-03-01 (731 days left).", false},
		{"clock synced", func(s *status.Snapshot) { s.ClockNote = "systemd-timesyncd" }, "clock", "Set from the network. (systemd-timesyncd)", false},
		{"clock not synced", func(s *status.Snapshot) { s.ClockSynced = false }, "clock", "Not yet set from the network: dates on mail may be wrong.", true},
		{"temperature", func(s *status.Snapshot) { s.SetCPUTemp(51.4) }, "temp", "51 °C", false},
		{"memory on the box", func(s *status.Snapshot) {
			s.Memory = status.Memory{RSS: 36_000_000, RSSAnon: 20_000_000, InitRSS: 6_000_000, Total: 512_000_000, Available: 380_000_000}
		}, "memory", "Postroom uses 42 MB; 380 MB of 512 MB free.", false},
		{"memory off the box", func(s *status.Snapshot) {
			s.Memory = status.Memory{RSS: 42_000_000, Total: 16_000_000_000, Available: 9_000_000_000}
		}, "memory", "Postroom uses 42 MB; 9.0 GB of 16 GB free.", false},
		{"memory nearly full", func(s *status.Snapshot) {
			s.Memory = status.Memory{RSS: 42_000_000, Total: 512_000_000, Available: 30_000_000}
		}, "memory", "Postroom uses 42 MB; 30 MB of 512 MB free.", true},
		{"memory of the machine unknown", func(s *status.Snapshot) { s.Memory = status.Memory{RSS: 42_000_000} }, "memory", "Postroom uses 42 MB.", false},
		{"backup failed", func(s *status.Snapshot) { s.BackupError = "the USB disk is full" }, "backup", "Failed: the USB disk is full", true},
		{"dev outbox", func(s *status.Snapshot) { s.DevOutbox = status.DevOutbox{Dir: "/d/dev-outbox", Messages: 2} }, "dev-outbox",
			"Development mode: never sent to the internet. 2 messages held in the dev outbox instead of being sent (/d/dev-outbox).", false},
		{"last change", func(s *status.Snapshot) {
			s.LastChange = status.Change{Seq: 3, Time: now.Add(-5 * time.Minute), By: "root via postroomctl", Op: "account.add", What: "added account alice@example.org"}
		}, "last-change", "Added account alice@example.org, by root via postroomctl, 5 minutes ago.", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base.Clone()
			tc.edit(&s)
			v := newStatusView(s, now, false, false)
			for _, r := range v.Readings {
				if r.ID == tc.id {
					if r.Value != tc.want || r.Bad != tc.bad {
						t.Errorf("%s = %q (bad %v); want %q (bad %v)", r.Label, r.Value, r.Bad, tc.want, tc.bad)
					}
					return
				}
			}
			t.Errorf("no reading %q in %+v", tc.id, v.Readings)
		})
	}
}

// TestStatusPageReadings: the page shows what status.json has: mail sent
// and bounced today, unread mail, the readings, and the way to the
// factory-reset page.
func TestStatusPageReadings(t *testing.T) {
	today := time.Date(2026, 3, 1, 23, 59, 0, 0, time.Local) // the last minute of a day
	clock := testutil.NewClock(today)
	s := snapshot()
	s.MailDay = today.Format(time.DateOnly)
	s.AddSent(4, today)
	s.AddFailed(2, today)
	s.Unread = 11
	s.Queue = status.Queue{Length: 2, Oldest: today.Add(-10 * time.Minute)}
	s.Disk = status.Disk{FreeBytes: 3_000_000_000, TotalBytes: 16_000_000_000}
	s.Memory = status.Memory{RSS: 42_000_000, RSSAnon: 30_000_000, Total: 512_000_000, Available: 380_000_000}
	s.Services[1].Title = "Status page (web)"
	s.Queue.Oldest = today.Add(-90 * time.Minute) // stuck: a second thing that needs a person
	srv := httptest.NewServer(New(Options{Bus: status.NewBus(s), Logger: slog.New(slog.DiscardHandler), Now: clock.Now}))
	t.Cleanup(srv.Close)
	_, body := get(t, "GET", srv.URL+"/")
	for _, want := range []string{
		`id="sent-today">4<`, `id="failed-today">2<`, `id="unread">11<`, `id="mail-today">7<`,
		`<td id="queue" class="bad">2 messages waiting to be sent, the oldest for 90 minutes`,
		`<td id="disk">3.0 GB free of 16 GB (81% used).</td>`,
		`<td id="cert">Not checked yet.</td>`,
		`<th>Memory</th><td id="memory">Postroom uses 42 MB; 380 MB of 512 MB free.</td>`,
		`href="/factory-reset"`,
		`<ul id="attention">`, `<li>Outgoing mail is stuck for 90 min.</li>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	// A minute later it is another day: the counts start from zero.
	clock.Advance(time.Minute)
	_, body = get(t, "GET", srv.URL+"/")
	for _, want := range []string{`id="sent-today">0<`, `id="failed-today">0<`, `id="mail-today">0<`} {
		if !strings.Contains(body, want) {
			t.Errorf("next day: status page lacks %s", want)
		}
	}
}

func TestBytesWords(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 bytes", 1: "1 byte", 999: "999 bytes", 1000: "1.0 kB", 65_432_100: "65 MB", 1_500_000_000_000: "1.5 TB"} {
		if got := bytesWords(n); got != want {
			t.Errorf("bytesWords(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestPhaseWords(t *testing.T) {
	for _, tc := range []struct {
		s    status.Snapshot
		want string
	}{
		{status.Snapshot{}, "Starting"},
		{status.Snapshot{Phase: status.PhaseNeedsSetup}, "Waiting to be set up"},
		{status.Snapshot{Phase: status.PhaseMaintenance, Maintenance: "restoring backup"}, "Maintenance: restoring backup"},
		{status.Snapshot{Phase: status.PhaseShuttingDown}, "Stopping"},
	} {
		if got := phaseWords(tc.s); got != tc.want {
			t.Errorf("phaseWords(%q, %q) = %q; want %q", tc.s.Phase, tc.s.Maintenance, got, tc.want)
		}
	}
}

// TestReadingsOnlyWhenKnown: outside development mode there is no dev
// outbox row, and before any change no "last change" row.
func TestReadingsOnlyWhenKnown(t *testing.T) {
	v := newStatusView(status.Snapshot{Phase: status.PhaseRunning}, time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), false, false)
	for _, r := range v.Readings {
		if r.ID == "dev-outbox" || r.ID == "last-change" || r.ID == "temp" || r.ID == "backup" || r.ID == "memory" {
			t.Errorf("row %s shown without a value: %q", r.ID, r.Value)
		}
	}
}
