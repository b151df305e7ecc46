package status

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCloneIsDeep(t *testing.T) {
	var s Snapshot
	s.SetCPUTemp(48.5)
	s.Addresses = []string{"192.0.2.1"}
	s.DNS.Problems = []string{"MX wrong."}
	c := s.Clone()
	*c.CPUTempC = 99
	c.Addresses[0] = "changed"
	c.DNS.Problems[0] = "changed"
	if s.DNS.Problems[0] != "MX wrong." {
		t.Fatal("clone shares the DNS problems")
	}
	if got, _ := s.CPUTemp(); got != 48.5 {
		t.Fatalf("clone shares the temperature: %v", got)
	}
	if s.Addresses[0] != "192.0.2.1" {
		t.Fatal("clone shares the addresses")
	}
}

func TestCPUTempJSON(t *testing.T) {
	var s Snapshot
	s.SetCPUTemp(math.NaN())
	if _, ok := s.CPUTemp(); ok {
		t.Fatal("NaN reads as a known temperature")
	}
	b, err := json.Marshal(s) // NaN would fail here if it were stored as a float
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "cpu_temp_c") {
		t.Fatalf("unknown temperature is in the JSON: %s", b)
	}
	s.SetCPUTemp(51.25)
	b, _ = json.Marshal(s)
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got, ok := back.CPUTemp(); !ok || got != 51.25 {
		t.Fatalf("round trip = %v, %v; JSON %s", got, ok, b)
	}
}

func TestJSONNamesAndZeroTimes(t *testing.T) {
	s := Snapshot{Queue: Queue{Length: 2}, LEDs: LEDs{Ready: LEDOn}}
	b, _ := json.Marshal(s)
	for _, want := range []string{`"queue":{"length":2}`, `"leds":{"ready":"on"}`, `"mail_today":0`, `"sent_today":0`, `"disk":{`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	for _, absent := range []string{"reset_requested", "cert_expires", "oldest", "dev_outbox", "dns"} {
		if strings.Contains(string(b), absent) {
			t.Errorf("zero %s is in the JSON: %s", absent, b)
		}
	}
}

func TestAddSentIsSeparateFromMail(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.Local)
	var s Snapshot
	s.AddMail(2, now)
	s.AddSent(1, now)
	s.AddSent(1, now.Add(24*time.Hour))
	if s.MailOn(now) != 2 || s.SentOn(now) != 0 || s.SentOn(now.Add(24*time.Hour)) != 1 {
		t.Fatalf("mail %d on day 1, sent %d on day 1 and %d on day 2; want 2, 0, 1",
			s.MailOn(now), s.SentOn(now), s.SentOn(now.Add(24*time.Hour)))
	}
}

func TestDiskUsedPercent(t *testing.T) {
	tests := []struct {
		d    Disk
		want float64
	}{
		{Disk{}, 0},
		{Disk{FreeBytes: 10, TotalBytes: 100}, 90},
		{Disk{FreeBytes: 200, TotalBytes: 100}, 0}, // nonsense reads as unknown
	}
	for _, tt := range tests {
		if got := tt.d.UsedPercent(); got != tt.want {
			t.Errorf("%+v.UsedPercent() = %v; want %v", tt.d, got, tt.want)
		}
	}
}

func TestAttention(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    Snapshot
		want []string
	}{
		{"all well", Snapshot{Queue: Queue{Length: 1, Oldest: now.Add(-59 * time.Minute)},
			Disk: Disk{FreeBytes: 11, TotalBytes: 100}, CertExpires: now.Add(30 * 24 * time.Hour), CertDaysLeft: 30}, nil},
		{"problem first, failed service not repeated", Snapshot{Problem: "Incoming mail (SMTP) is not working: port in use.",
			Services: []Service{{Name: "smtp", Title: "Incoming mail (SMTP)", State: ServiceFailed, Error: "port in use"}}},
			[]string{"Incoming mail (SMTP) is not working: port in use."}},
		{"failed service", Snapshot{Services: []Service{{Name: "imap", State: ServiceFailed, Error: "boom"}}},
			[]string{"imap is down: boom"}},
		{"queue stuck", Snapshot{Queue: Queue{Length: 3, Oldest: now.Add(-3 * time.Hour), LastError: "mx.example: timeout"}},
			[]string{"Outgoing mail is stuck for 3 h. mx.example: timeout"}},
		{"disk full", Snapshot{Disk: Disk{FreeBytes: 5, TotalBytes: 100}}, []string{"The disk is 95% full."}},
		{"cert expiring", Snapshot{CertExpires: now.Add(72 * time.Hour), CertDaysLeft: 3}, []string{"The TLS certificate expires in 3 days."}},
		{"cert expired", Snapshot{CertExpires: now.Add(-72 * time.Hour), CertDaysLeft: -3}, []string{"The TLS certificate has expired."}},
		{"unknown cert is no alarm", Snapshot{CertDaysLeft: 0}, nil},
		{"renewal failing, cert ends soon", Snapshot{CertExpires: now.Add(72 * time.Hour), CertDaysLeft: 3, CertProblem: "The certificate authority could not be reached."},
			[]string{"The TLS certificate expires in 3 days. The certificate authority could not be reached."}},
		{"renewal failing, cert young: no alarm", Snapshot{CertExpires: now.Add(60 * 24 * time.Hour), CertDaysLeft: 60, CertProblem: "The certificate authority could not be reached."}, nil},
		{"backup", Snapshot{BackupError: "USB disk missing"}, []string{"The last backup failed: USB disk missing"}},
		// Refusing mail for space comes before everything, even with 40%
		// free (the reserve and the store's own files), and once only.
		{"refusing mail", Snapshot{Disk: Disk{FreeBytes: 40, TotalBytes: 100, RefusingMail: true},
			Services: []Service{{Name: "imap", State: ServiceFailed, Error: "boom"}}},
			[]string{"Mail is being refused: the disk is full. Delete old mail, or use a larger disk.", "imap is down: boom"}},
		{"refusing mail is the problem too", Snapshot{Problem: Disk{RefusingMail: true}.Problem(), Disk: Disk{FreeBytes: 5, TotalBytes: 100, RefusingMail: true}},
			[]string{"Mail is being refused: the disk is full. Delete old mail, or use a larger disk."}},
		// DNS problems light the LED; notes only show on the pages.
		{"dns", Snapshot{DNS: DNSCheck{Problems: []string{"MX wrong."}, Notes: []string{"PTR missing."}}}, []string{"MX wrong."}},
		{"dns problem is the problem", Snapshot{Problem: "MX wrong.", DNS: DNSCheck{Problems: []string{"MX wrong.", "SPF missing."}}},
			[]string{"MX wrong.", "SPF missing."}},
		{"read-only store", Snapshot{Disk: Disk{RefusingMail: true, ReadOnly: true}},
			[]string{"Mail is being refused: the disk is full. Free space (delete files on the data disk), then restart the box."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.Attention(now)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Attention = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestDevOutboxSummary(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "0 messages held in the dev outbox instead of being sent (/d/dev-outbox)"},
		{1, "1 message held in the dev outbox instead of being sent (/d/dev-outbox)"},
		{3, "3 messages held in the dev outbox instead of being sent (/d/dev-outbox)"},
	} {
		if got := (DevOutbox{Dir: "/d/dev-outbox", Messages: c.n}).Summary(); got != c.want {
			t.Errorf("Summary(%d) = %q; want %q", c.n, got, c.want)
		}
	}
	b, _ := json.Marshal(Snapshot{DevOutbox: DevOutbox{Dir: "/d/dev-outbox", Messages: 2}})
	if want := `"dev_outbox":{"dir":"/d/dev-outbox","messages":2}`; !strings.Contains(string(b), want) {
		t.Errorf("JSON lacks %s: %s", want, b)
	}
}
