package status

import (
	"fmt"
	"time"
)

// System is the box's software and its start, for the status page and the
// display (written by appliance/run_update.go from what the init and the
// update state say): the version running, the other root's, the last
// update's outcome, boots, the data disk, and the crashes before this
// start.
type System struct {
	Version      string `json:"version,omitempty"`       // the version running
	OtherVersion string `json:"other_version,omitempty"` // the spare root's ("" empty or unknown)
	// Updatable tells whether this machine installs updates (a box booted
	// from its SD card); off the board the page says so instead.
	Updatable bool `json:"updatable,omitempty"`
	// Updating says what an update is doing right now, in words ("" none).
	Updating string `json:"updating,omitempty"`
	// LastUpdate is the last update's outcome in words, LastUpdateAt when
	// it was decided; LastUpdateFailed when it was rolled back.
	LastUpdate       string    `json:"last_update,omitempty"`
	LastUpdateAt     time.Time `json:"last_update_at,omitzero"`
	LastUpdateFailed bool      `json:"last_update_failed,omitempty"`
	// Started is when the machine started (uptime is Time - Started).
	Started time.Time `json:"started,omitzero"`
	Boots   int       `json:"boots,omitempty"` // starts of the box, counted on the data disk
	// DataDisk is where the mail lives, e.g. "/dev/mmcblk0p4 (SD card)".
	DataDisk string `json:"data_disk,omitempty"`
	// Crashes is how many times in a row the mail service crashed and
	// was restarted before this start (0: it started cleanly, or has
	// run long enough since).
	Crashes int `json:"crashes,omitempty"`
}

// CrashesShown is from how many crashes in a row the status page, the
// display and the red LED call them a problem.
const CrashesShown = 3

// UpdateFailedShown is how long a rolled-back update stays a problem.
const UpdateFailedShown = 24 * time.Hour

// Problems are the System's entries of Snapshot.Attention.
func (s System) Problems(now time.Time) []string {
	var out []string
	if s.Crashes >= CrashesShown {
		out = append(out, fmt.Sprintf("The mail service crashed %d times in a row and was restarted: see the log page.", s.Crashes))
	}
	if s.LastUpdateFailed && now.Sub(s.LastUpdateAt) < UpdateFailedShown {
		out = append(out, upperFirst(s.LastUpdate)+".")
	}
	return out
}

// Uptime is how long the machine has run at now (0: unknown).
func (s System) Uptime(now time.Time) time.Duration {
	if s.Started.IsZero() || now.Before(s.Started) {
		return 0
	}
	return now.Sub(s.Started)
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
