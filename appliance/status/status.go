// Package status holds the appliance's picture of itself: a Snapshot (boot
// phase, the state of each service, addresses, clock, disk, mail received
// and sent today, unread mail, the outgoing queue, certificate, CPU
// temperature, setup code, the panel's LEDs and the most important problem
// in plain words) and a Bus that hands the latest Snapshot to every reader.
// Snapshot.Attention lists everything that needs a person; the red LED and
// the display's attention page show it.
//
// It is a leaf: it imports no protocol, storage or UI package, so the panel
// (hw), the web page (webui) and every service can depend on it without
// depending on each other. The appliance package is the writer; readers
// Subscribe, wake on a notification and call Latest.
package status

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Phase is where the appliance is in its life.
type Phase string

const (
	PhaseBooting      Phase = "booting"       // starting up; services not ready yet
	PhaseNeedsSetup   Phase = "needs-setup"   // running, but no mail domain or account yet
	PhaseRunning      Phase = "running"       // every started service is listening
	PhaseUpdating     Phase = "updating"      // a new image is being written or tried
	PhaseMaintenance  Phase = "maintenance"   // services stopped for an offline step (see Snapshot.Maintenance)
	PhaseShuttingDown Phase = "shutting-down" // draining sessions before exit
)

// ServiceState is the state of one network service.
type ServiceState string

const (
	ServiceStarting  ServiceState = "starting"  // being set up; not accepting yet
	ServiceListening ServiceState = "listening" // accepting connections on Addr
	ServiceFailed    ServiceState = "failed"    // could not start or stopped on an error (see Error)
	ServiceStopped   ServiceState = "stopped"   // shut down on purpose
)

// Service is the state of one network service, e.g. "smtp" on ":25".
type Service struct {
	Name  string       `json:"name"`            // short name: "smtp", "web"
	Title string       `json:"title,omitempty"` // for people: "Incoming mail (SMTP)"
	Addr  string       `json:"addr"`            // the bound address once listening, else the configured one
	State ServiceState `json:"state"`
	Error string       `json:"error,omitempty"` // why it failed, in words; empty unless State is failed
}

// Snapshot is the whole picture at one moment. A Snapshot returned by the Bus
// is a copy: readers may keep or modify it freely.
//
// Who writes what: run.go the phase, services, hostname, addresses and the
// problem; run_queue.go Queue and SentToday for other servers;
// run_panel.go, from the store's change events, MailToday, SentToday for
// local recipients, FailedToday and Unread, and Disk, Memory, CPU temperature,
// clock and certificate days; run_daily.go the day's counts at start
// (from the store); run_dev.go DevOutbox;
// the panel (hw.Follow) LEDs and ResetRequested. Zero values mean "not known
// yet" unless a field says otherwise.
type Snapshot struct {
	Phase    Phase     `json:"phase"`
	Services []Service `json:"services"`
	Hostname string    `json:"hostname"`
	// Addresses are the box's own IP addresses (no loopback), for the
	// display and the setup page.
	Addresses []string `json:"addresses"`
	// ClockSynced tells whether the system clock has been set from the
	// network (NTP); until then certificate checks and dates may be wrong.
	ClockSynced bool `json:"clock_synced"`
	// ClockNote says how ClockSynced was found out, e.g. "systemd-timesyncd"
	// or "not a board: assumed synced".
	ClockNote string `json:"clock_note,omitempty"`
	// Disk is the space on the data folder's file system.
	Disk Disk `json:"disk"`
	// Memory is what the appliance, the init and the machine use (memory.go).
	Memory Memory `json:"memory,omitzero"`
	// MailToday counts messages received on MailDay (local date,
	// "2006-01-02"); see AddMail.
	MailToday int    `json:"mail_today"`
	MailDay   string `json:"mail_day,omitempty"`
	// SentToday counts messages delivered to other servers on SentDay;
	// see AddSent.
	SentToday int    `json:"sent_today"`
	SentDay   string `json:"sent_day,omitempty"`
	// FailedToday counts messages that could not be delivered and went
	// back to their sender as a bounce on FailedDay; see AddFailed.
	FailedToday int    `json:"failed_today"`
	FailedDay   string `json:"failed_day,omitempty"`
	// Unread is the number of unseen messages over every account.
	Unread int `json:"unread"`
	// Queue is the outgoing mail waiting for delivery.
	Queue Queue `json:"queue"`
	// DevOutbox is where development mode keeps the mail for other
	// domains instead of sending it; zero (Dir "") outside development
	// mode.
	DevOutbox DevOutbox `json:"dev_outbox,omitzero"`
	// CertExpires is when the TLS certificate ends (zero: unknown) and
	// CertDaysLeft the whole days from Time until then (negative: expired).
	CertExpires  time.Time `json:"cert_expires,omitzero"`
	CertDaysLeft int       `json:"cert_days_left"`
	// CertSource is where the certificate comes from: "self-signed",
	// "acme", "uploaded" or "configured" (appliance/certs.Source).
	CertSource string `json:"cert_source,omitempty"`
	// CertProblem says in plain words why the box could not get or renew
	// a trusted certificate (the one in use stays); "" when all is well.
	// It lights the red LED only when the certificate ends soon.
	CertProblem string `json:"cert_problem,omitempty"`
	// CPUTempC is the SoC temperature in degrees Celsius, nil where the
	// machine has no sensor (JSON: absent). Use SetCPUTemp and CPUTemp.
	CPUTempC *float64 `json:"cpu_temp_c,omitempty"`
	// SetupCode is the one-time code the setup page asks for, shown on the
	// display while Phase is needs-setup; empty otherwise.
	SetupCode string `json:"setup_code,omitempty"`
	// BackupError is why the last backup failed; empty when it worked or
	// none has run.
	BackupError string `json:"backup_error,omitempty"`
	// Backup is what the backups do (appliance/backup): a backup running
	// now, the last one, and the last that proved it restores.
	Backup Backup `json:"backup,omitzero"`
	// Problem is the most important thing that is wrong, in plain words
	// for the office manager; empty when all is well.
	Problem string `json:"problem,omitempty"`
	// LEDs is what the panel's LEDs show, so the web page can show it too.
	LEDs LEDs `json:"leds"`
	// Maintenance says what the box does while Phase is maintenance, in
	// words, e.g. "factory reset" or "restoring backup"; empty otherwise.
	Maintenance string `json:"maintenance,omitempty"`
	// ResetRequested is when a 10-second button press asked for a factory
	// reset; zero when none is pending. It is only a request: nothing is
	// erased until a person confirms it on the web page, which clears it.
	ResetRequested time.Time `json:"reset_requested,omitzero"`
	// LastChange is the last change an administrator made (change.go).
	LastChange Change `json:"last_change,omitzero"`
	// DNS is the last check of the box's DNS records and of its way to
	// the internet (appliance/netcheck); zero: not checked yet.
	DNS DNSCheck `json:"dns,omitzero"`
	// System is the software running and the box's start (system.go).
	System System `json:"system,omitzero"`
	// Moving is the mail being moved in from the old provider's accounts
	// (moving.go); empty when no move is running.
	Moving []Moving `json:"moving,omitempty"`
	// Time is when this Snapshot was published.
	Time time.Time `json:"time"`
}

// Backup is the state of the backups; zero: none set up or run yet.
type Backup struct {
	// Running says what a backup does now, in words ("saving",
	// "testing the restore"); empty when none runs. Percent is how far
	// it is (0-100), when known.
	Running string `json:"running,omitempty"`
	Percent int    `json:"percent,omitempty"`
	// Last is when the last backup ran, LastName its file.
	Last     time.Time `json:"last,omitzero"`
	LastName string    `json:"last_name,omitempty"`
	// Verified is when a backup last passed its restore test: "last
	// verified restore" on the page.
	Verified time.Time `json:"verified,omitzero"`
}

// DevOutbox is the dev outbox: in development mode the outgoing queue
// writes each message for another domain as a file in Dir (NAME.eml, the
// bytes that would have been sent, and NAME.envelope, the sender and
// recipients) and counts it as delivered; nothing goes to the internet.
type DevOutbox struct {
	Dir      string `json:"dir"`
	Messages int    `json:"messages"` // .eml files in Dir
	// Last is when the last message was put there; zero: none since start.
	Last time.Time `json:"last,omitzero"`
}

// Summary says what the dev outbox holds, for the status page and the
// banner, e.g. "3 messages held in the dev outbox instead of being sent
// (/data/dev-outbox)".
func (d DevOutbox) Summary() string {
	what := fmt.Sprintf("%d messages", d.Messages)
	if d.Messages == 1 {
		what = "1 message"
	}
	return fmt.Sprintf("%s held in the dev outbox instead of being sent (%s)", what, d.Dir)
}

// DNSCheck is what the last DNS and connectivity check found.
type DNSCheck struct {
	// Checked is when the last check ended.
	Checked time.Time `json:"checked,omitzero"`
	// Problems stop the domains' mail from arriving or being trusted (a
	// wrong or missing MX or SPF record), each in plain words with its
	// fix; each lights the red LED.
	Problems []string `json:"problems,omitempty"`
	// Notes are the other findings that are not right (other records,
	// port 25, reverse DNS), in words, for the status and DNS pages.
	Notes []string `json:"notes,omitempty"`
}

// Disk is the space on one file system.
type Disk struct {
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
	// TrendBytesPerDay is how fast the free space changes, averaged over
	// the last hours: negative while the disk fills. 0: not known yet.
	TrendBytesPerDay int64 `json:"trend_bytes_per_day"`
	// RefusingMail is set from the moment the mail store refuses new mail
	// for lack of space (its reserve is reached) until it has room again:
	// the most urgent problem the box can have (see Problem).
	RefusingMail bool `json:"refusing_mail,omitempty"`
	// ReadOnly is set when the store found the disk too full to open for
	// writing: it serves the mail it has and takes nothing until the box
	// restarts with space free.
	ReadOnly bool `json:"read_only,omitempty"`
	// ReclaimedBytes is how much space the store last gave back from
	// deleted mail, at ReclaimedAt (zero: not since the start).
	ReclaimedBytes int64     `json:"reclaimed_bytes,omitempty"`
	ReclaimedAt    time.Time `json:"reclaimed_at,omitzero"`
}

// DiskFullProblem is what the box says while it refuses mail for space.
const DiskFullProblem = "Mail is being refused: the disk is full."

// Problem is the disk's problem in words, empty when mail is accepted.
func (d Disk) Problem() string {
	switch {
	case d.ReadOnly:
		return DiskFullProblem + " Free space (delete files on the data disk), then restart the box."
	case d.RefusingMail:
		return DiskFullProblem + " Delete old mail, or use a larger disk."
	}
	return ""
}

// UsedPercent returns the used share of the disk, 0 to 100 (0 when unknown).
func (d Disk) UsedPercent() float64 {
	if d.TotalBytes == 0 || d.FreeBytes > d.TotalBytes {
		return 0
	}
	return 100 * float64(d.TotalBytes-d.FreeBytes) / float64(d.TotalBytes)
}

// Queue is the state of the outgoing mail queue.
type Queue struct {
	Length int `json:"length"`
	// Oldest is when the oldest queued message was accepted; zero when the
	// queue is empty.
	Oldest time.Time `json:"oldest,omitzero"`
	// LastError is the last delivery failure, in words; empty if none.
	LastError string `json:"last_error,omitempty"`
}

// LEDState is what one LED does.
type LEDState string

const (
	LEDOff   LEDState = "off"
	LEDOn    LEDState = "on"
	LEDBlink LEDState = "blink" // slow steady blinking (ready LED while booting)
	LEDFlash LEDState = "flash" // one short flash (mail LED per delivery)
)

// LEDs is the state of the panel's three LEDs. Zero values read as off.
type LEDs struct {
	Ready     LEDState `json:"ready,omitempty"`     // green
	Mail      LEDState `json:"mail,omitempty"`      // second colour: mail activity
	Attention LEDState `json:"attention,omitempty"` // red: a person is needed
}

// Clone returns a deep copy.
func (s Snapshot) Clone() Snapshot {
	s.Services = slices.Clone(s.Services)
	s.Addresses = slices.Clone(s.Addresses)
	s.DNS.Problems = slices.Clone(s.DNS.Problems)
	s.DNS.Notes = slices.Clone(s.DNS.Notes)
	if s.CPUTempC != nil {
		t := *s.CPUTempC
		s.CPUTempC = &t
	}
	return s
}

// SetCPUTemp records the CPU temperature; NaN records "unknown".
func (s *Snapshot) SetCPUTemp(celsius float64) {
	if math.IsNaN(celsius) {
		s.CPUTempC = nil
		return
	}
	s.CPUTempC = &celsius
}

// CPUTemp returns the CPU temperature and whether it is known.
func (s Snapshot) CPUTemp() (float64, bool) {
	if s.CPUTempC == nil {
		return 0, false
	}
	return *s.CPUTempC, true
}

// Service returns the service called name.
func (s Snapshot) Service(name string) (Service, bool) {
	for _, sv := range s.Services {
		if sv.Name == name {
			return sv, true
		}
	}
	return Service{}, false
}

// SetService replaces the service with the same Name, or appends it.
func (s *Snapshot) SetService(sv Service) {
	for i := range s.Services {
		if s.Services[i].Name == sv.Name {
			s.Services[i] = sv
			return
		}
	}
	s.Services = append(s.Services, sv)
}

// Failed returns the services in the failed state.
func (s Snapshot) Failed() []Service {
	var out []Service
	for _, sv := range s.Services {
		if sv.State == ServiceFailed {
			out = append(out, sv)
		}
	}
	return out
}

// AddMail counts n received messages at time now, starting from zero again
// when the local date has changed since the last count.
func (s *Snapshot) AddMail(n int, now time.Time) {
	addDaily(&s.MailToday, &s.MailDay, n, now)
}

// MailOn returns the count of messages received on the local date of now:
// MailToday, or 0 when the count belongs to another day.
func (s Snapshot) MailOn(now time.Time) int {
	return daily(s.MailToday, s.MailDay, now)
}

// AddSent counts n messages delivered to other servers at time now, like
// AddMail.
func (s *Snapshot) AddSent(n int, now time.Time) {
	addDaily(&s.SentToday, &s.SentDay, n, now)
}

// SentOn returns SentToday for the local date of now, like MailOn.
func (s Snapshot) SentOn(now time.Time) int {
	return daily(s.SentToday, s.SentDay, now)
}

// AddFailed counts n messages that could not be delivered (bounced) at
// time now, like AddMail.
func (s *Snapshot) AddFailed(n int, now time.Time) {
	addDaily(&s.FailedToday, &s.FailedDay, n, now)
}

// FailedOn returns FailedToday for the local date of now, like MailOn.
func (s Snapshot) FailedOn(now time.Time) int {
	return daily(s.FailedToday, s.FailedDay, now)
}

func addDaily(count *int, day *string, n int, now time.Time) {
	d := now.Format(time.DateOnly)
	if *day != d {
		*day = d
		*count = 0
	}
	*count += n
}

func daily(count int, day string, now time.Time) int {
	if day != now.Format(time.DateOnly) {
		return 0
	}
	return count
}

// Thresholds for Attention.
const (
	QueueStuckAfter = time.Hour // oldest queued message older than this
	DiskFullPercent = 90        // used share of the data disk above this
	CertWarnDays    = 14        // certificate ends in fewer days than this
)

// Attention lists what needs a person, most important first, in plain
// words short enough for the panel's display: mail refused for a full
// disk, Problem (as set by the appliance), failed services, a stuck queue, a full disk, an expiring
// certificate, a failed backup, DNS problems (DNSCheck.Problems). Empty when all is well; the red LED is on
// whenever it is not.
func (s Snapshot) Attention(now time.Time) []string {
	var out []string
	disk := s.Disk.Problem() // before all else: every sender is turned away
	if disk != "" {
		out = append(out, disk)
	}
	if s.Problem != "" && s.Problem != disk {
		out = append(out, s.Problem)
	}
	for _, sv := range s.Failed() {
		name := sv.Title
		if name == "" {
			name = sv.Name
		}
		if !strings.Contains(s.Problem, name) { // the appliance's Problem often says it already
			out = append(out, name+" is down: "+sv.Error)
		}
	}
	if s.Queue.Length > 0 && !s.Queue.Oldest.IsZero() && now.Sub(s.Queue.Oldest) > QueueStuckAfter {
		msg := "Outgoing mail is stuck for " + roundAge(now.Sub(s.Queue.Oldest)) + "."
		if s.Queue.LastError != "" {
			msg += " " + s.Queue.LastError
		}
		out = append(out, msg)
	}
	if disk == "" && s.Disk.UsedPercent() > DiskFullPercent {
		out = append(out, fmt.Sprintf("The disk is %.0f%% full.", s.Disk.UsedPercent()))
	}
	if !s.CertExpires.IsZero() && s.CertDaysLeft < CertWarnDays {
		msg := fmt.Sprintf("The TLS certificate expires in %d days.", s.CertDaysLeft)
		if s.CertDaysLeft < 0 {
			msg = "The TLS certificate has expired."
		}
		if s.CertProblem != "" {
			msg += " " + s.CertProblem
		}
		out = append(out, msg)
	}
	if s.BackupError != "" {
		out = append(out, "The last backup failed: "+s.BackupError)
	}
	for _, p := range s.System.Problems(now) {
		if p != s.Problem { // the appliance's Problem is often the first of these
			out = append(out, p)
		}
	}
	out = append(out, s.movingProblems()...)
	for _, p := range s.DNS.Problems {
		if p != s.Problem {
			out = append(out, p)
		}
	}
	return out
}

// roundAge writes d as "3 h" or "45 min".
func roundAge(d time.Duration) string {
	if d >= 2*time.Hour {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}
