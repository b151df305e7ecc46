package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postroom/appliance/status"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// The process-level kill test of the foundation issue: "Killing the process
// at any moment loses nothing that was acknowledged". storage's
// TestKillDuringDelivery kills a process that calls Deliver directly; this
// one kills the real appliance while SMTP clients are sending to it, so the
// promise is checked where it is made: at the 250 reply to DATA.
const (
	killUser    = "alice@example.test"
	killRounds  = 3
	killClients = 8
	killAfter   = 300              // acknowledged messages per round before SIGKILL
	killBigEach = 40               // every 40th message is big ...
	killBigSize = 3 << 20          // ... enough to take the staged-body path
	killRoundIn = 60 * time.Second // bound of one start/load/kill/check round
)

func TestKillLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	dir := t.TempDir()
	// SMTP and web on 127.0.0.1:0, every other service off.
	writeConfig(t, dir, nil)
	// An account before the first start, so dev mode makes no demo user.
	st, err := storage.Open(storage.Options{Dir: filepath.Join(dir, "store"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(killUser, "password-alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	acked := map[int]bool{} // every message acknowledged in any round
	for round := range killRounds {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), killRoundIn)
		ids := killDuringLoad(ctx, t, dir, round)
		for _, id := range ids {
			acked[id] = true
		}
		stored := checkAcknowledged(ctx, t, dir, acked)
		cancel()
		t.Logf("round %d: %d acknowledged before and around the kill, %d in total, %d stored (%v)",
			round, len(ids), len(acked), stored, time.Since(start).Round(time.Millisecond))
		if t.Failed() {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), killRoundIn)
	defer cancel()
	checkMailToday(ctx, t, dir)
}

// checkMailToday starts postroom once more after the kills: "mail today"
// in status.json must count every message the INBOX holds from that day,
// since the store counts each one in the transaction that stores it. (When
// a file saved each minute held the count, it read 11 after 31,000
// deliveries.) Comparing with the Snapshot's own day keeps the test right
// across midnight and in any time zone.
func checkMailToday(ctx context.Context, t *testing.T, dir string) {
	t.Helper()
	p := startPostroom(ctx, t, dir)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr("web")+"/status.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("status.json: %v", err)
	}
	var s status.Snapshot
	err = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("status.json: %v", err)
	}
	p.stop()

	st, err := storage.Open(storage.Options{Dir: filepath.Join(dir, "store"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs := killInbox(t, st)
	onDay := 0
	for _, m := range msgs {
		if m.InternalDate.Local().Format(time.DateOnly) == s.MailDay {
			onDay++
		}
	}
	if s.MailToday != onDay {
		t.Errorf("after %d kills: mail today = %d on %q; the INBOX holds %d messages of that day (%d in all)",
			killRounds, s.MailToday, s.MailDay, onDay, len(msgs))
	}
	t.Logf("mail today after the kills: %d (INBOX %d)", s.MailToday, len(msgs))
}

// killDuringLoad starts postroom on dir, sends mail from killClients
// connections until killAfter messages are acknowledged, SIGKILLs the
// process and returns the ids of every message whose DATA got a 250. Ids
// are new in every round.
func killDuringLoad(ctx context.Context, t *testing.T, dir string, round int) []int {
	t.Helper()
	p := startPostroom(ctx, t, dir)
	defer p.stop()
	addr := p.addr("smtp")
	if addr == "" {
		t.Fatalf("round %d: no smtp address in %q", round, p.running)
	}

	var (
		mu      sync.Mutex
		acked   []int
		next    atomic.Int64
		killed  atomic.Bool // set before the kill: later client errors are expected
		reached = make(chan struct{})
	)
	next.Store(int64(round+1) * 1_000_000)
	ack := func(id int) {
		mu.Lock()
		defer mu.Unlock()
		acked = append(acked, id)
		if len(acked) == killAfter {
			close(reached)
		}
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		// Whatever way the round ends: the process dies first, so that
		// no client stays blocked on it.
		killed.Store(true)
		p.stop()
		stopLoad()
		wg.Wait()
	}()
	for range killClients {
		wg.Go(func() {
			err := sendLoad(loadCtx, addr, func() int { return int(next.Add(1)) }, ack)
			if err != nil && !killed.Load() {
				t.Errorf("round %d: a client failed before the kill: %v", round, err)
				stopLoad()
			}
		})
	}

	select {
	case <-reached:
	case <-p.exited:
		t.Fatalf("round %d: postroom ended during the load:\n%s", round, p.logTail())
	case <-loadCtx.Done():
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		t.Fatalf("round %d: %d messages acknowledged when the load stopped (%v):\n%s",
			round, n, context.Cause(loadCtx), p.logTail())
	}
	killed.Store(true)
	p.stop() // SIGKILL, mid-load
	stopLoad()
	wg.Wait() // the clients see their connections die and return
	if strings.Contains(p.log(), "WARNING: DATA RACE") {
		t.Errorf("round %d: the race detector reported in postroom:\n%s", round, p.log())
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(acked)
}

// sendLoad sends messages over one SMTP connection, one after another,
// until ctx ends or the connection fails. It calls ack(id) for each message
// whose DATA got a 250.
func sendLoad(ctx context.Context, addr string, nextID func() int, ack func(int)) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// Bounds in case the server hangs; the round's kill ends every
	// connection long before.
	c.CommandTimeout = killRoundIn
	c.SubmissionTimeout = killRoundIn
	if err := c.Hello("load.example.org"); err != nil {
		return err
	}
	for ctx.Err() == nil {
		id := nextID()
		size := 2 << 10
		if id%killBigEach == 0 {
			size = killBigSize
		}
		body := strings.Replace(storagetest.Message(size, id), "Subject: message", "Subject: kill", 1)
		if err := c.Mail("load@example.org", nil); err != nil {
			return fmt.Errorf("message %d: MAIL: %w", id, err)
		}
		if err := c.Rcpt(killUser, nil); err != nil {
			return fmt.Errorf("message %d: RCPT: %w", id, err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("message %d: DATA: %w", id, err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			w.Close()
			return fmt.Errorf("message %d: sending: %w", id, err)
		}
		if err := w.Close(); err != nil { // reads the reply to the final dot
			return fmt.Errorf("message %d: end of DATA: %w", id, err)
		}
		ack(id)
	}
	return nil
}

// killInbox lists the messages in killUser's INBOX.
func killInbox(t *testing.T, st *storage.Store) []storage.Message {
	t.Helper()
	acct, err := st.Account(killUser)
	if err != nil {
		t.Fatal(err)
	}
	in, err := st.Mailbox(acct.ID, storage.InboxName)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(acct.ID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// checkAcknowledged opens the store in dir the way the appliance would
// after a crash, runs Check, and requires every id in acked to be in the
// INBOX of killUser exactly once. Messages that were in flight at the kill
// may be there or not. It returns how many messages the INBOX holds.
func checkAcknowledged(ctx context.Context, t *testing.T, dir string, acked map[int]bool) int {
	t.Helper()
	st, err := storage.Open(storage.Options{Dir: filepath.Join(dir, "store"), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("reopen after the kill: %v", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
	}()
	if err := st.Check(ctx); err != nil {
		t.Fatalf("check after the kill: %v", err)
	}
	msgs := killInbox(t, st)
	seen := map[int]int{}
	for _, m := range msgs {
		obj, err := st.Object(m.Object)
		if err != nil {
			t.Fatalf("message uid %d: %v", m.UID, err)
		}
		var id int
		if _, err := fmt.Sscanf(obj.Envelope.Subject, "kill %d", &id); err != nil {
			t.Errorf("message uid %d: unexpected subject %q", m.UID, obj.Envelope.Subject)
			continue
		}
		seen[id]++
	}
	var lost, twice []int
	for id := range acked {
		if seen[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range seen {
		if n > 1 { // each id is sent once: two copies are a bug even if unacknowledged
			twice = append(twice, id)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("%d acknowledged messages lost, first %v", len(lost), lost[:min(len(lost), 10)])
	}
	if len(twice) > 0 {
		slices.Sort(twice)
		t.Errorf("%d messages stored twice, first %v", len(twice), twice[:min(len(twice), 10)])
	}
	return len(msgs)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// postroomProcess is the real postroom: this test binary run again with
// POSTROOM_RUN_MAIN=1, which TestMain turns into main().
type postroomProcess struct {
	cmd     *exec.Cmd
	running string        // the "postroom is running" log line
	exited  chan struct{} // closed when the process has ended and its log is read

	stdout  testutil.SyncBuffer
	waitErr error // how the process ended; read after exited is closed

	mu     sync.Mutex
	logged strings.Builder
	once   sync.Once
}

// startPostroom starts postroom on dir and waits, at most until ctx ends,
// for its "postroom is running" line: by then every listener is bound. The
// process is killed at the latest when the test ends.
func startPostroom(ctx context.Context, t *testing.T, dir string, args ...string) *postroomProcess {
	t.Helper()
	p := &postroomProcess{exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"-data", dir}, args...)...)
	p.cmd.Env = append(os.Environ(), "POSTROOM_RUN_MAIN=1")
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logged.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.Contains(line, "postroom is running") {
				select {
				case ready <- line:
				default:
				}
			}
		}
		// All reads are done: now Wait may close the pipe.
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.running = <-ready:
		return p
	case <-p.exited:
		t.Fatalf("postroom ended before it was running (%v):\n%s", p.cmd.ProcessState, p.log())
	case <-ctx.Done():
		p.stop()
		t.Fatalf("postroom did not start: %v\n%s", context.Cause(ctx), p.log())
	}
	return nil
}

// addr returns the address a service is bound to, from the running line
// ("... smtp=127.0.0.1:40123 web=127.0.0.1:40124"); "" if it is off.
func (p *postroomProcess) addr(service string) string {
	for _, f := range strings.Fields(p.running) {
		if v, ok := strings.CutPrefix(f, service+"="); ok {
			return v
		}
	}
	return ""
}

// stop SIGKILLs the process, if it still runs, and waits until it has ended.
func (p *postroomProcess) stop() {
	p.once.Do(func() { p.cmd.Process.Kill() })
	<-p.exited
}

func (p *postroomProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logged.String()
}

// logTail is the end of the log, for failure messages.
func (p *postroomProcess) logTail() string {
	lines := strings.Split(strings.TrimRight(p.log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}
