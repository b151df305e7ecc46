package status

import "fmt"

// Moving is one old account whose mail the box is moving in from the
// office's old provider (appliance/transition), for the status page and
// the display.
type Moving struct {
	Account string `json:"account"` // the account on this box
	From    string `json:"from"`    // the old login and server, "anna@old.example on imap.old.example"
	Fetched int    `json:"fetched"` // messages taken so far
	Seen    int    `json:"seen"`    // messages the old account held at the last run
	Running bool   `json:"running,omitempty"`
	// Error is why the last run stopped early, in plain words.
	Error string `json:"error,omitempty"`
}

// MovingTotals adds up the moves: messages taken and seen, and how many
// stopped on an error.
func (s Snapshot) MovingTotals() (fetched, seen, failed int) {
	for _, m := range s.Moving {
		fetched += m.Fetched
		seen += m.Seen
		if m.Error != "" {
			failed++
		}
	}
	return fetched, seen, failed
}

// movingProblems are the moves that stopped, for Attention: a person must
// act (an old password changed, the old server gone).
func (s Snapshot) movingProblems() []string {
	var out []string
	for _, m := range s.Moving {
		if m.Error != "" {
			out = append(out, fmt.Sprintf("Moving mail into %s stopped: %s", m.Account, m.Error))
		}
	}
	return out
}
