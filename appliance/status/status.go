// Package status holds the appliance's picture of itself: a Snapshot (boot
// phase, the state of each service, addresses, mail counted today, the most
// important problem in plain words) and a Bus that hands the latest Snapshot
// to every reader.
//
// It is a leaf: it imports no protocol, storage or UI package, so the panel
// (hw), the web page (webui) and every service can depend on it without
// depending on each other. The appliance package is the writer; readers
// Subscribe, wake on a notification and call Latest.
package status

import (
	"slices"
	"time"
)

// Phase is where the appliance is in its life.
type Phase string

const (
	PhaseBooting      Phase = "booting"       // starting up; services not ready yet
	PhaseNeedsSetup   Phase = "needs-setup"   // running, but no mail domain or account yet
	PhaseRunning      Phase = "running"       // every started service is listening
	PhaseUpdating     Phase = "updating"      // a new image is being written or tried
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
type Snapshot struct {
	Phase    Phase     `json:"phase"`
	Services []Service `json:"services"`
	Hostname string    `json:"hostname"`
	// Addresses are the box's own IP addresses (no loopback), for the
	// display and the setup page.
	Addresses []string `json:"addresses"`
	// MailToday counts messages received on MailDay (local date,
	// "2006-01-02"); see AddMail.
	MailToday int    `json:"mail_today"`
	MailDay   string `json:"mail_day,omitempty"`
	// Problem is the most important thing that is wrong, in plain words
	// for the office manager; empty when all is well.
	Problem string `json:"problem,omitempty"`
	// Time is when this Snapshot was published.
	Time time.Time `json:"time"`
}

// Clone returns a deep copy.
func (s Snapshot) Clone() Snapshot {
	s.Services = slices.Clone(s.Services)
	s.Addresses = slices.Clone(s.Addresses)
	return s
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
	day := now.Format(time.DateOnly)
	if s.MailDay != day {
		s.MailDay = day
		s.MailToday = 0
	}
	s.MailToday += n
}

// MailOn returns the count of messages received on the local date of now:
// MailToday, or 0 when the count belongs to another day.
func (s Snapshot) MailOn(now time.Time) int {
	if s.MailDay != now.Format(time.DateOnly) {
		return 0
	}
	return s.MailToday
}
