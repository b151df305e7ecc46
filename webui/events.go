package webui

import (
	"bytes"
	_ "embed"
	"net/http"
	"sync"
	"time"
)

// The status page's live updates: GET /events is a stream of Server-Sent
// Events (HTML Living Standard, "Server-sent events"), one "status" event
// with the page's content, rendered by the same template, each time the
// Snapshot changes, and at least every streamRefresh so that "5 minutes
// ago" stays true. /status.js puts it in place. The status page is open
// to the office network like the page itself: no login.

// Stream limits.
const (
	// MaxStreams bounds the live status streams open at once: each holds
	// a connection and a Bus subscription.
	MaxStreams = 32
	// streamRefresh: an unchanged status is sent again this often.
	streamRefresh = 30 * time.Second
	// streamGap: at most one event a second, however often mail
	// arrives (the Bus coalesces what comes in between).
	streamGap = time.Second
)

//go:embed static/status.js
var statusJS []byte

func (h *handler) statusScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(statusJS)
}

// streams counts and ends the open live streams.
type streams struct {
	slots     chan struct{}
	closing   chan struct{}
	closeOnce sync.Once
}

func newStreams() *streams {
	return &streams{slots: make(chan struct{}, MaxStreams), closing: make(chan struct{})}
}

// close ends every stream, now and later: the web server's Shutdown waits
// for requests to finish, and a stream would not.
func (s *streams) close() { s.closeOnce.Do(func() { close(s.closing) }) }

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "live updates are not available", http.StatusNotImplemented)
		return
	}
	select {
	case h.streams.slots <- struct{}{}:
		defer func() { <-h.streams.slots }()
	default:
		// The browser's EventSource tries again after "retry"; the
		// page still works, with the status as it was loaded.
		http.Error(w, "too many open status pages", http.StatusServiceUnavailable)
		return
	}
	notify, unsubscribe := h.bus.Subscribe() // notifies once at once
	defer unsubscribe()
	refresh := time.NewTicker(streamRefresh)
	defer refresh.Stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("retry: 5000\n\n"))
	flusher.Flush()
	var buf bytes.Buffer
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.streams.closing:
			return
		case <-notify:
		case <-refresh.C:
		}
		now := h.now()
		_, pending := h.pendingReset(now)
		buf.Reset()
		if err := pages.ExecuteTemplate(&buf, "statusbody", newStatusView(h.bus.Latest(), now, h.display != nil, pending)); err != nil {
			h.logger.Error("render the live status", "err", err)
			return
		}
		if _, err := w.Write(sseEvent("status", buf.Bytes())); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-time.After(streamGap):
		case <-r.Context().Done():
			return
		case <-h.streams.closing:
			return
		}
	}
}

// sseEvent frames data as one event: every line a "data:" field, so a
// line break in the HTML cannot end the event or start a field.
func sseEvent(name string, data []byte) []byte {
	out := make([]byte, 0, len(data)+len(name)+64)
	out = append(out, "event: "+name+"\n"...)
	for line := range bytes.Lines(data) {
		out = append(out, "data: "...)
		out = append(out, bytes.TrimRight(line, "\r\n")...)
		out = append(out, '\n')
	}
	return append(out, '\n')
}
