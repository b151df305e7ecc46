package main

// queue list|show|retry|delete: the outgoing mail queue (appliance/queue
// keeps it in the store, storage/queue.go), through the admin layer.

import (
	"fmt"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/queue"
	"postroom/storage"
)

func init() {
	commands = append(commands,
		command{"queue list", 0, 0, nil, (*ctl).queueList},
		command{"queue show", 1, 1, nil, (*ctl).queueShow},
		command{"queue retry", 1, 1, nil, (*ctl).queueRetry},
		command{"queue delete", 1, 1, nil, (*ctl).queueDelete},
		command{"dns", 0, 1, nil, (*ctl).dns},
	)
}

// queueSynopsis is the help of the queue and dns commands.
const queueSynopsis = `
Outgoing mail:
  queue list                           messages waiting to be sent: ID, age, sender,
                                       recipients still to do, next attempt, last error
  queue show ID                        one message: header, every recipient's state
  queue retry ID|all                   try again now (a stopped box: when it starts)
  queue delete ID                      remove a message from the queue (not sent, no bounce)
  dns [DOMAIN]                         the DNS records to publish for each mail domain:
                                       MX, SPF, DKIM, DMARC, autoconfig, SRV
`

func (c *ctl) queueList(args []string) error {
	l, err := call[admin.QueueList](c, admin.ListQueue{})
	if err != nil {
		return err
	}
	if len(l.Messages) == 0 {
		fmt.Fprintln(c.stdout, "the queue is empty")
		return nil
	}
	now := time.Now()
	t := newTable(c.stdout, "ID", "AGE", "SIZE", "FROM", "TO DO", "NEXT", "LAST ERROR")
	for _, m := range l.Messages {
		todo, next, lastErr := 0, time.Time{}, ""
		for _, r := range m.Recipients {
			if r.Done() {
				continue
			}
			todo++
			if r.State == storage.QueuePending && (next.IsZero() || r.NextAttempt.Before(next)) {
				next = r.NextAttempt
			}
			if r.LastError != "" {
				lastErr = r.LastError
			}
		}
		t.row(m.ID, age(now.Sub(m.Created)), formatSize(m.Size), sender(m.From),
			fmt.Sprintf("%d of %d", todo, len(m.Recipients)), when(next, now), safeText(lastErr, 60))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s\n", plural(int64(len(l.Messages)), "message", "messages"))
	return nil
}

// queueID checks a message ID on the command line.
func queueID(arg string) (string, error) {
	id, err := queue.ParseID(arg)
	if err != nil {
		return "", usagef("%v", err)
	}
	return queue.FormatID(id), nil
}

func (c *ctl) queueShow(args []string) error {
	id, err := queueID(args[0])
	if err != nil {
		return err
	}
	m, err := call[admin.QueueItem](c, admin.ShowQueue{ID: id})
	if err != nil {
		return err
	}
	now := time.Now()
	w := c.stdout
	fmt.Fprintf(w, "message %s, %s, queued %s (%s ago)\n", m.ID, formatSize(m.Size),
		m.Created.Local().Format(time.DateTime), age(now.Sub(m.Created)))
	fmt.Fprintf(w, "envelope sender: %s\n", sender(m.From))
	fmt.Fprintf(w, "DKIM signed: %v; 8-bit: %v; SMTPUTF8: %v; delay notice sent: %v\n", m.DKIMSigned, m.EightBit, m.UTF8, m.DelayWarned)
	for _, h := range m.Header {
		fmt.Fprintf(w, "%s: %s\n", h.Name, safeText(h.Value, 200))
	}
	fmt.Fprintln(w)
	t := newTable(w, "RECIPIENT", "STATE", "ATTEMPTS", "NEXT", "STATUS", "LAST ERROR")
	for _, r := range m.Recipients {
		state := r.State.String()
		if r.InFlight {
			state += " (attempt interrupted)"
		}
		next := ""
		if r.State == storage.QueuePending {
			next = when(r.NextAttempt, now)
		}
		t.row(r.Addr, state, fmt.Sprint(r.Attempts), next, dash(r.Status), dash(safeText(r.LastError, 200)))
	}
	return t.flush()
}

func (c *ctl) queueRetry(args []string) error {
	req := admin.QueueRetry{All: args[0] == "all"}
	if !req.All {
		id, err := queueID(args[0])
		if err != nil {
			return err
		}
		req.ID = id
	}
	r, err := call[admin.QueueResult](c, req)
	if err != nil {
		return err
	}
	when := "when the appliance starts"
	if r.Running {
		when = "now"
	}
	fmt.Fprintf(c.stdout, "%s will be tried again %s\n", plural(int64(r.Messages), "message", "messages"), when)
	return nil
}

func (c *ctl) queueDelete(args []string) error {
	id, err := queueID(args[0])
	if err != nil {
		return err
	}
	r, err := call[admin.QueueResult](c, admin.QueueDelete{ID: id})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "message %s removed from the queue (%s; not sent, no bounce)\n", id, plural(int64(r.Recipients), "recipient", "recipients"))
	return nil
}

func sender(from string) string {
	if from == "" {
		return "<> (a bounce)"
	}
	return from
}

// age prints a duration the way people say it: 3m, 2h5m, 4d3h.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// when prints a future time relative to now.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !t.After(now) {
		return "now"
	}
	return "in " + age(t.Sub(now))
}
