package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"time"

	"postroom/appliance/queue"
	"postroom/storage"
)

// QueueItem is a message of the outgoing queue.
type QueueItem struct {
	ID          string                   `json:"id"`
	From        string                   `json:"from"` // "" is the null sender (a bounce)
	Size        int64                    `json:"size"`
	Created     time.Time                `json:"created"`
	DKIMSigned  bool                     `json:"dkim_signed"`
	EightBit    bool                     `json:"eight_bit"`
	UTF8        bool                     `json:"utf8"`
	DelayWarned bool                     `json:"delay_warned"`
	Recipients  []storage.QueueRecipient `json:"recipients"`
	// Header is a few fields of the message (From, To, Subject, ...),
	// only from ShowQueue.
	Header []HeaderField `json:"header,omitempty"`
}

// HeaderField is one header field, as the message has it (not decoded).
type HeaderField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func queueItem(m storage.QueueMessage) QueueItem {
	return QueueItem{
		ID: queue.FormatID(m.ID), From: m.From, Size: m.Size, Created: m.Created,
		DKIMSigned: len(m.Prefix) > 0, EightBit: m.EightBit, UTF8: m.UTF8, DelayWarned: m.DelayWarned,
		Recipients: m.Recipients,
	}
}

// queueID parses a message ID as people see it.
func queueID(field, s string) (storage.QueueID, error) {
	id, err := queue.ParseID(s)
	if err != nil {
		return 0, errorf(CodeInvalid, field, "%q is not a message ID (a number, as the queue list shows)", safe(s))
	}
	return id, nil
}

func (a *Admin) queueMessage(field, s string) (storage.QueueMessage, error) {
	id, err := queueID(field, s)
	if err != nil {
		return storage.QueueMessage{}, err
	}
	m, err := a.st.QueueMessage(id)
	if errors.Is(err, storage.ErrNotFound) {
		return m, errorf(CodeNotFound, field, "no message %s in the queue", queue.FormatID(id))
	}
	if err != nil {
		return m, internal("reading the queue", err)
	}
	return m, nil
}

// QueueList is the outgoing queue.
type QueueList struct {
	Messages []QueueItem `json:"messages"`
}

// ListQueue lists the messages waiting to be sent.
type ListQueue struct{}

func (ListQueue) OpName() string { return "queue.list" }
func (ListQueue) readOnly()      {}

func (a *Admin) ListQueue(ctx context.Context, by Actor, req ListQueue) (QueueList, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListQueue) (QueueList, string, error) {
		msgs, err := a.st.QueueMessages()
		if err != nil {
			return QueueList{}, "", internal("reading the queue", err)
		}
		out := QueueList{Messages: []QueueItem{}}
		for _, m := range msgs {
			out.Messages = append(out.Messages, queueItem(m))
		}
		return out, "", nil
	})
}

// ShowQueue shows one queued message with a few of its header fields.
type ShowQueue struct {
	ID string `json:"id"`
}

func (ShowQueue) OpName() string { return "queue.show" }
func (ShowQueue) readOnly()      {}

// shownHeader are the fields ShowQueue reads from the message.
var shownHeader = []string{"From", "To", "Cc", "Subject", "Date", "Message-Id"}

func (a *Admin) ShowQueue(ctx context.Context, by Actor, req ShowQueue) (QueueItem, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ShowQueue) (QueueItem, string, error) {
		m, err := a.queueMessage("id", req.ID)
		if err != nil {
			return QueueItem{}, "", err
		}
		item := queueItem(m)
		if b, err := a.st.OpenQueueBody(&m); err == nil { // what the queue sends: its fields, then the body
			h, _ := textproto.NewReader(bufio.NewReader(io.LimitReader(b.Reader(), 64<<10))).ReadMIMEHeader()
			b.Close()
			for _, k := range shownHeader {
				if v := h.Get(k); v != "" {
					item.Header = append(item.Header, HeaderField{k, v})
				}
			}
		}
		return item, "", nil
	})
}

// QueueResult is the answer of the queue's changes.
type QueueResult struct {
	Messages   int `json:"messages"`   // messages retried or removed
	Recipients int `json:"recipients"` // of the removed message
	// Running: the appliance's queue tries them at once; false: at its
	// next start (the box is stopped).
	Running bool `json:"running"`
}

// QueueRetry tries the message ID (or with All every message) again now
// instead of waiting for its next attempt.
type QueueRetry struct {
	ID  string `json:"id,omitempty"`
	All bool   `json:"all,omitempty"`
}

func (QueueRetry) OpName() string { return "queue.retry" }

func (a *Admin) QueueRetry(ctx context.Context, by Actor, req QueueRetry) (QueueResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req QueueRetry) (QueueResult, string, error) {
		var ids []storage.QueueID
		switch {
		case req.All && req.ID != "":
			return QueueResult{}, "", errorf(CodeInvalid, "id", "give a message ID or all, not both")
		case req.All:
			msgs, err := a.st.QueueMessages()
			if err != nil {
				return QueueResult{}, "", internal("reading the queue", err)
			}
			for _, m := range msgs {
				ids = append(ids, m.ID)
			}
		default:
			m, err := a.queueMessage("id", req.ID)
			if err != nil {
				return QueueResult{}, "", err
			}
			ids = append(ids, m.ID)
		}
		n, err := a.q.Retry(ids...)
		if err != nil && !errors.Is(err, storage.ErrNotFound) { // sent meanwhile: nothing to retry
			return QueueResult{}, "", internal("retrying", err)
		}
		what := fmt.Sprintf("asked to try %d queued messages again now", n)
		if !req.All {
			what = "asked to try queued message " + req.ID + " again now"
		}
		return QueueResult{Messages: n, Running: a.o.Queue != nil}, what, nil
	})
}

// QueueDelete removes a message from the queue: it is not sent and the
// sender is not told.
type QueueDelete struct {
	ID string `json:"id"`
}

func (QueueDelete) OpName() string { return "queue.delete" }

func (a *Admin) QueueDelete(ctx context.Context, by Actor, req QueueDelete) (QueueResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req QueueDelete) (QueueResult, string, error) {
		m, err := a.queueMessage("id", req.ID)
		if err != nil {
			return QueueResult{}, "", err
		}
		_, err = a.q.Delete(m.ID)
		switch {
		case errors.Is(err, queue.ErrSending):
			return QueueResult{}, "", errorf(CodeConflict, "id", "message %s is being sent right now; try again in a minute", req.ID)
		case errors.Is(err, storage.ErrNotFound):
			return QueueResult{}, "", errorf(CodeNotFound, "id", "no message %s in the queue (sent meanwhile?)", req.ID)
		case err != nil:
			return QueueResult{}, "", internal("removing the message", err)
		}
		return QueueResult{Messages: 1, Recipients: len(m.Recipients), Running: a.o.Queue != nil},
			fmt.Sprintf("removed message %s from the queue (%d recipients, from %q): not sent, no bounce", queue.FormatID(m.ID), len(m.Recipients), m.From), nil
	})
}
