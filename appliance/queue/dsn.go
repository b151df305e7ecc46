package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"postroom/storage"
)

// notifyFailed tells the sender about recipients that failed for good and
// marks them notified; the null sender is never told (RFC 5321 6.1, RFC
// 3464 2: no DSN about a DSN). If sending the notice fails, the recipients
// stay un-notified and the next scan tries again.
func (q *Queue) notifyFailed(ctx context.Context, id storage.QueueID) {
	m, err := q.st.QueueMessage(id)
	if err != nil {
		return
	}
	var failed []storage.QueueRecipient
	for _, r := range m.Recipients {
		if r.State == storage.QueueFailed && !r.Notified {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return
	}
	if m.From != "" {
		msg := q.buildDSN(&m, failed, "failed")
		if err := q.sendDSN(ctx, m.From, msg, storage.OriginBounce); err != nil {
			q.log.Error("bounce not sent; will retry", "id", FormatID(id), "to", m.From, "err", err)
			return
		}
		q.log.Info("bounce sent", "id", FormatID(id), "to", m.From, "rcpts", len(failed))
	} else {
		q.log.Warn("delivery of a bounce failed; not bounced again (null sender)", "id", FormatID(id))
	}
	notified := map[uint32]bool{}
	for _, r := range failed {
		notified[r.Index] = true
	}
	m, err = q.update(id, func(m *storage.QueueMessage) error {
		for i := range m.Recipients {
			if notified[m.Recipients[i].Index] {
				m.Recipients[i].Notified = true
			}
		}
		return nil
	})
	if err != nil {
		q.log.Error("mark bounced", "id", FormatID(id), "err", err)
		return
	}
	if m.Done() {
		q.forget(id) // QueueUpdate removed it
	}
}

// warnDelay sends the one delay notice (RFC 3464 Action: delayed) for the
// recipients still pending.
func (q *Queue) warnDelay(ctx context.Context, id storage.QueueID) {
	m, err := q.st.QueueMessage(id)
	if err != nil || m.DelayWarned || m.From == "" {
		return
	}
	var pending []storage.QueueRecipient
	for _, r := range m.Recipients {
		if r.State == storage.QueuePending {
			pending = append(pending, r)
		}
	}
	if len(pending) > 0 {
		if err := q.sendDSN(ctx, m.From, q.buildDSN(&m, pending, "delayed"), storage.OriginDelayNotice); err != nil {
			q.log.Error("delay notice not sent; will retry", "id", FormatID(id), "err", err)
			return
		}
		q.log.Info("delay notice sent", "id", FormatID(id), "to", m.From, "rcpts", len(pending))
	}
	if _, err := q.update(id, func(m *storage.QueueMessage) error { m.DelayWarned = true; return nil }); err != nil {
		q.log.Error("mark delay notice", "id", FormatID(id), "err", err)
	}
}

// sendDSN delivers a notice to the sender: into the INBOX when the address
// is local, else through the queue from the null sender. origin (bounce or
// delay notice) marks the local delivery's event, which the status counts.
func (q *Queue) sendDSN(ctx context.Context, to string, msg []byte, origin storage.Origin) error {
	acct, err := q.st.Resolve(to)
	if err == nil {
		_, err = q.st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: acct}}, Origin: origin}, bytes.NewReader(msg))
		return err
	}
	if !errors.Is(err, storage.ErrUnknownAddress) {
		return err
	}
	if d := to[strings.LastIndexByte(to, '@')+1:]; q.st.IsLocalDomain(d) {
		// Our domain but nobody has the address (removed since): sending it
		// out would come straight back.
		q.log.Warn("bounce for an unknown local sender dropped", "to", to)
		return nil
	}
	_, err = q.Enqueue(ctx, "", []string{to}, bytes.NewReader(msg))
	return err
}

// buildDSN writes a multipart/report (RFC 6522) with a message/delivery-
// status part (RFC 3464) and the original header (text/rfc822-headers).
// action is "failed" or "delayed".
func (q *Queue) buildDSN(m *storage.QueueMessage, rcpts []storage.QueueRecipient, action string) []byte {
	var hdr []byte
	if body, err := q.st.OpenQueueBody(m); err == nil {
		hdr = headerBlock(body.Reader())
		body.Close()
	}
	return q.formatDSN(m, rcpts, action, hdr)
}

// formatDSN is buildDSN with the original header block given.
func (q *Queue) formatDSN(m *storage.QueueMessage, rcpts []storage.QueueRecipient, action string, hdr []byte) []byte {
	now := q.o.Now()
	var rnd [8]byte
	rand.Read(rnd[:])
	boundary := "dsn-" + hex.EncodeToString(rnd[:])
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }

	subject := "Undelivered Mail Returned to Sender"
	if action == "delayed" {
		subject = "Delayed Mail (still being retried)"
	}
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", q.o.Hostname)
	w("To: <%s>", m.From)
	w("Subject: %s", subject)
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Message-ID: <dsn.%s.%s@%s>", FormatID(m.ID), hex.EncodeToString(rnd[:4]), q.o.Hostname)
	w("Auto-Submitted: auto-replied") // RFC 3834: no vacation replies to this
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("This is the mail system at %s.", q.o.Hostname)
	w("")
	if action == "delayed" {
		w("Your message could not be delivered yet to the recipients below.")
		w("It is still in the queue and will be tried again until %s.", m.Created.Add(q.o.MaxAge).Format(time.RFC1123Z))
		w("You do not need to send it again.")
	} else {
		w("Your message could not be delivered to the recipients below.")
		w("It has been given up on; the reasons follow.")
	}
	w("")
	for _, r := range rcpts {
		w("<%s>: %s", r.Addr, oneLine(r.LastError, 900))
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	// Per-message fields (RFC 3464 2.2).
	w("Reporting-MTA: dns; %s", q.o.Hostname)
	w("X-Postroom-Queue-ID: %s", FormatID(m.ID))
	w("Arrival-Date: %s", m.Created.Format(time.RFC1123Z))
	for _, r := range rcpts {
		// Per-recipient fields (RFC 3464 2.3).
		w("")
		w("Final-Recipient: rfc822; %s", r.Addr)
		w("Action: %s", action)
		status := r.Status
		if status == "" {
			status = map[string]string{"failed": "5.0.0", "delayed": "4.0.0"}[action]
		}
		w("Status: %s", status)
		if r.RemoteMTA != "" {
			w("Remote-MTA: dns; %s", r.RemoteMTA)
		}
		if r.LastError != "" {
			kind := "X-Postroom"
			if strings.Contains(r.LastError, " said: ") {
				kind = "smtp"
			}
			w("Diagnostic-Code: %s; %s", kind, mime.QEncoding.Encode("utf-8", oneLine(r.LastError, 900)))
		}
		if !r.LastAttempt.IsZero() {
			w("Last-Attempt-Date: %s", r.LastAttempt.Format(time.RFC1123Z))
		}
		if action == "delayed" {
			w("Will-Retry-Until: %s", m.Created.Add(q.o.MaxAge).Format(time.RFC1123Z))
		}
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	b.Write(hdr)
	w("")
	w("--%s--", boundary)
	return b.Bytes()
}
