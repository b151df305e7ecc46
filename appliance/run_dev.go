package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"postroom/appliance/queue"
	"postroom/appliance/status"
)

// Development mode (Config.Dev, make run) never sends mail to the
// internet, by construction rather than by a setting a developer could
// forget:
//
//   - Without a configured resolver the queue takes no DNS and no
//     connection at all: every message for another domain goes to the dev
//     outbox, DATA/dev-outbox, as files (queue.Options.Sink), and counts as
//     delivered. The status Snapshot (DevOutbox) and the banner say so.
//   - The runner's resolver refuses every query, so a path that would ask
//     DNS anyway (the inbound SPF/DKIM/DMARC checks, if switched on) fails
//     closed instead of asking the system's resolver.
//   - The queue's dialer connects only to loopback addresses, whatever a
//     smarthost setting says.
//
// A resolver in the config must then be on this machine (the tests run a
// DNS server on 127.0.0.1 and a receiving server beside it): the queue
// uses it, and still reaches nothing but 127.0.0.1 and ::1.

// devOutboxDir is the dev outbox's folder in the data folder.
const devOutboxDir = "dev-outbox"

// errDevNoDNS is every DNS answer in development mode without a resolver.
var errDevNoDNS = errors.New("development mode: no DNS (mail for other domains goes to the dev outbox)")

// startDev sets up what development mode changes: the refusing or local
// resolver and, without a resolver, the dev outbox. It runs before the
// services are built, which take r.resolver.
func (r *runner) startDev(dataDir string) error {
	if addr := r.cfg.Resolver; addr != "" {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("development mode only asks a DNS server on this machine: resolver %q is not a loopback address (leave it empty)", addr)
		}
		r.log.Info("dev mode: outgoing mail goes only to servers on this machine", "resolver", addr)
		return nil
	}
	r.resolver = refusingResolver()
	o, err := openDevOutbox(filepath.Join(dataDir, devOutboxDir), func(d status.DevOutbox) {
		r.update(func(s *status.Snapshot) { s.DevOutbox = d })
	})
	if err != nil {
		return err
	}
	r.devOutbox = o
	r.log.Info("dev mode: mail for other domains is kept in the dev outbox, never sent", "dir", o.dir, "messages", o.n)
	return nil
}

// refusingResolver answers every query with an error without sending one:
// its Dial never connects.
func refusingResolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errDevNoDNS
		},
	}
}

// loopbackDial is the queue's dialer in development mode: it connects only
// to an IP address on this machine.
func loopbackDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("development mode sends only to this machine, not to %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// devOutbox keeps the mail development mode does not send: NAME.eml holds
// the bytes the queue would have sent (DKIM signature and message),
// NAME.envelope the sender and recipients. The .eml is renamed into place
// last, so each one found is complete.
type devOutbox struct {
	dir     string
	publish func(status.DevOutbox)

	mu   sync.Mutex
	n    int       // .eml files in dir
	last time.Time // last put
	seq  int       // keeps names unique within one clock tick
}

// openDevOutbox makes the folder if needed, counts what it holds and
// publishes that.
func openDevOutbox(dir string, publish func(status.DevOutbox)) (*devOutbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev outbox: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dev outbox: %w", err)
	}
	o := &devOutbox{dir: dir, publish: publish}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") {
			o.n++
		}
	}
	o.publish(o.state())
	return o, nil
}

func (o *devOutbox) state() status.DevOutbox {
	return status.DevOutbox{Dir: o.dir, Messages: o.n, Last: o.last}
}

// put is the queue's Sink: it writes one message durably (file and folder
// synced) before the queue marks it delivered.
func (o *devOutbox) put(ctx context.Context, env queue.Envelope, msg io.Reader) error {
	o.mu.Lock()
	o.seq++
	name := fmt.Sprintf("%s-%s-%d", time.Now().UTC().Format("20060102T150405.000000000Z"), queue.FormatID(env.ID), o.seq)
	o.mu.Unlock()

	var envText strings.Builder
	fmt.Fprintf(&envText, "MAIL FROM:<%s>\n", env.From)
	for _, to := range env.To {
		fmt.Fprintf(&envText, "RCPT TO:<%s>\n", to)
	}
	if err := o.write(name+".envelope", strings.NewReader(envText.String())); err != nil {
		return err
	}
	if err := o.write(name+".eml", msg); err != nil {
		os.Remove(filepath.Join(o.dir, name+".envelope"))
		return err
	}
	o.mu.Lock()
	o.n++
	o.last = time.Now()
	st := o.state()
	o.mu.Unlock()
	o.publish(st)
	return nil
}

// write streams r into dir/name through a temporary file: sync, rename,
// sync the folder.
func (o *devOutbox) write(name string, r io.Reader) (err error) {
	f, err := os.CreateTemp(o.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("dev outbox: write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	if err = os.Rename(f.Name(), filepath.Join(o.dir, name)); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	d, err := os.Open(o.dir)
	if err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("dev outbox: sync folder: %w", err)
	}
	return nil
}
