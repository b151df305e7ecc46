package main

// queue list|show|retry|delete: the outgoing mail queue of a stopped
// appliance (appliance/queue keeps it in the store, storage/queue.go).

import (
	"bufio"
	"fmt"
	"io"
	"net/textproto"
	"time"

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
  queue retry ID|all                   try again at the next start, without waiting
  queue delete ID                      remove a message from the queue (not sent, no bounce)
  dns [DOMAIN]                         the DNS records to publish for each mail domain:
                                       MX, SPF, DKIM, DMARC, autoconfig, SRV
`

func (c *ctl) queueList(args []string) error {
	st, err := c.store()
	if err != nil {
		return err
	}
	msgs, err := st.QueueMessages()
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		fmt.Fprintln(c.stdout, "the queue is empty")
		return nil
	}
	now := time.Now()
	t := newTable(c.stdout, "ID", "AGE", "SIZE", "FROM", "TO DO", "NEXT", "LAST ERROR")
	for _, m := range msgs {
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
		t.row(queue.FormatID(m.ID), age(now.Sub(m.Created)), formatSize(m.Size), sender(m.From),
			fmt.Sprintf("%d of %d", todo, len(m.Recipients)), when(next, now), safeText(lastErr, 60))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s\n", plural(int64(len(msgs)), "message", "messages"))
	return nil
}

func (c *ctl) queueMessage(arg string) (*storage.Store, storage.QueueMessage, error) {
	id, err := queue.ParseID(arg)
	if err != nil {
		return nil, storage.QueueMessage{}, usagef("%v", err)
	}
	st, err := c.store()
	if err != nil {
		return nil, storage.QueueMessage{}, err
	}
	m, err := st.QueueMessage(id)
	if err != nil {
		return nil, m, fmt.Errorf("no message %s in the queue", arg)
	}
	return st, m, nil
}

func (c *ctl) queueShow(args []string) error {
	st, m, err := c.queueMessage(args[0])
	if err != nil {
		return err
	}
	now := time.Now()
	w := c.stdout
	fmt.Fprintf(w, "message %s, %s, queued %s (%s ago)\n", queue.FormatID(m.ID), formatSize(m.Size),
		m.Created.Local().Format(time.DateTime), age(now.Sub(m.Created)))
	fmt.Fprintf(w, "envelope sender: %s\n", sender(m.From))
	fmt.Fprintf(w, "DKIM signed: %v; 8-bit: %v; SMTPUTF8: %v; delay notice sent: %v\n", len(m.Prefix) > 0, m.EightBit, m.UTF8, m.DelayWarned)
	if b, err := st.OpenBody(m.Object); err == nil {
		h, _ := textproto.NewReader(bufio.NewReader(io.LimitReader(b.Reader(), 64<<10))).ReadMIMEHeader()
		b.Close()
		for _, k := range []string{"From", "To", "Cc", "Subject", "Date", "Message-Id"} {
			if v := h.Get(k); v != "" {
				fmt.Fprintf(w, "%s: %s\n", k, safeText(v, 200))
			}
		}
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
	var ids []storage.QueueID
	var st *storage.Store
	if args[0] == "all" {
		var err error
		if st, err = c.store(); err != nil {
			return err
		}
		msgs, err := st.QueueMessages()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
	} else {
		var m storage.QueueMessage
		var err error
		if st, m, err = c.queueMessage(args[0]); err != nil {
			return err
		}
		ids = append(ids, m.ID)
	}
	now := time.Now().UTC()
	n := 0
	for _, id := range ids {
		_, err := st.QueueUpdate(id, func(m *storage.QueueMessage) error {
			for i := range m.Recipients {
				if m.Recipients[i].State == storage.QueuePending {
					m.Recipients[i].NextAttempt = now
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		n++
	}
	fmt.Fprintf(c.stdout, "%s will be tried again when the appliance starts\n", plural(int64(n), "message", "messages"))
	return nil
}

func (c *ctl) queueDelete(args []string) error {
	st, m, err := c.queueMessage(args[0])
	if err != nil {
		return err
	}
	if err := st.QueueRemove(m.ID); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "message %s removed from the queue (%s; not sent, no bounce)\n", args[0], plural(int64(len(m.Recipients)), "recipient", "recipients"))
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
