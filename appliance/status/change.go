package status

import "time"

// Change is one change an administrator made (appliance/admin), for pages
// that show what they list (accounts, addresses, the queue): a new Seq
// means "read again". It never holds a secret, only what the audit log
// says too.
type Change struct {
	// Seq counts the changes since the appliance started; 0: none yet.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// By is who made it, e.g. "root via postroomctl" or an address.
	By string `json:"by"`
	// Op names the operation ("account.add"), What says it in words
	// ("added account alice@example.org").
	Op   string `json:"op"`
	What string `json:"what"`
}
