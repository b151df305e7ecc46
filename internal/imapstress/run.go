// Package imapstress is an IMAP stress tester: N clients on one shared
// mailbox, or each on its own, run a seeded random mix of every command a
// mail program uses (LOGIN, SELECT/EXAMINE, FETCH of flags, envelope, body
// and partial bodies, STORE of flags and keywords, SEARCH, COPY/MOVE,
// EXPUNGE/UID EXPUNGE, APPEND, NOOP/IDLE, STATUS, LIST, CREATE/RENAME/
// DELETE, CLOSE/UNSELECT, LOGOUT and reconnect), each tracking what the
// server told it and counting every inconsistency and every NO or BAD.
//
// It speaks IMAP itself over a raw connection rather than through
// go-imap's imapclient: the checks are about the exact order of untagged
// responses (an EXPUNGE in the middle of a FETCH, an EXISTS that shrinks, a
// keyword in FETCH FLAGS that no FLAGS response announced, a sequence
// number past the end of the view), which a client library absorbs into
// its own state or its own errors before a caller can see them; and a
// failure is reported with the last lines of the conversation as sent.
//
// What each client checks (RFC 9051 unless said otherwise):
//   - EXISTS never falls without EXPUNGE; EXPUNGE and FETCH name a message
//     of the view; no EXPUNGE while answering FETCH, STORE or SEARCH (7.5.1)
//   - a message's UID never changes and UIDs ascend with sequence numbers;
//     UIDVALIDITY stays; UIDNEXT (SELECT, STATUS) never falls and stays
//     above every UID seen; APPENDUID and COPYUID (RFC 4315) give new UIDs
//     at or above it
//   - every keyword in FETCH FLAGS was announced by a FLAGS response
//   - a keyword only this client stores ($StressN) is as it left it, in
//     every FETCH and in UID SEARCH KEYWORD; copies keep it
//   - a FETCH answers for every message asked that is still in the view,
//     also when another session expunged it; BODY[] matches RFC822.SIZE and
//     the hash the message carries; BODY[]<o.n> echoes o and has the right
//     length; ENVELOPE's subject is the Subject field
//   - after EXPUNGE, UID EXPUNGE or MOVE, the messages it removed are gone
//     from the view; EXAMINE is [READ-ONLY]; LIST names the mailboxes
//   - some clients turn NOTIFY on (RFC 5465: the selected mailbox's new
//     messages with UID and FLAGS, expunges and flag changes; elsewhere
//     new mail, expunges and mailbox names), name messages by UID only,
//     and also read between commands: every pushed EXISTS, EXPUNGE and
//     FETCH must fit the view as above, a SELECT's [CLOSED] divides the
//     old mailbox's responses from the new one's, and every STATUS
//     (pushed or asked) is plausible: UIDVALIDITY stays, UIDNEXT never
//     falls, fewer messages than UIDs given out, no more unseen than
//     messages; no LIST calls the run's own mailboxes \NonExistent
//
// The run is always bounded: by Options.Duration and Options.Commands.
package imapstress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options of a run. Zero values mean the defaults given.
type Options struct {
	Addr           string // host:port of the server, plain TCP; required
	User, Password string // the account every client logs in to; required
	Clients        int    // concurrent clients; 0 means 10
	// Shared puts every client on one mailbox (and one second mailbox for
	// COPY and MOVE); otherwise each client has its own pair.
	Shared   bool
	Duration time.Duration // 0 means 10 seconds
	Commands int64         // the most commands in all; 0 means 10 million
	Seed     uint64        // the random choices of client i come from (Seed, i)
	Prefix   string        // mailbox names start with it; "" means "stress"
	Messages int           // each main mailbox starts with at least so many; 0 means 20
	// MaxMessages: a client stops adding to a mailbox it believes holds
	// so many, and expunges more. 0 means 100.
	MaxMessages int
	Timeout     time.Duration  // for each response; 0 means 30 seconds
	Weights     map[string]int // overrides DefaultWeights by name
	// Notify is how many of the clients turn NOTIFY (RFC 5465) on when
	// the server offers it: 0 means a third of them (at least one),
	// negative none.
	Notify int
}

// Result of a run.
type Result struct {
	Clients   int
	Shared    bool
	Elapsed   time.Duration
	Commands  int64            // completed commands (OK, NO or BAD)
	ByCommand map[string]int64 // completed commands by name
	Errors    map[string]int64 // by kind: "FETCH: NO [EXPUNGEISSUED]", "inconsistent: uid-order", ...
	First     *FirstError      // the first error of the run, nil if none
	// ByKind holds the first error of each kind.
	ByKind map[string]*FirstError
	// Allowed counts refusals RFC 9051 permits and the clients expect
	// (COPY or MOVE of a message another session expunged: NO
	// [EXPUNGEISSUED], 7.1; NOTIFY turned off by the server with
	// NOTIFICATIONOVERFLOW, RFC 5465 5.8), which are not errors.
	Allowed map[string]int64
	// NotifyClients is how many clients had NOTIFY on; NotifyWaits how
	// often they waited with no command running, and Pushed how many
	// responses the server sent them meanwhile.
	NotifyClients       int
	NotifyWaits, Pushed int64
}

// FirstError is the run's first error with the conversation that led to it.
type FirstError struct {
	Client     int
	Kind       string
	Detail     string
	Transcript []string // "C: " and "S: " lines, long ones cut
}

// PerSecond is the rate of completed commands.
func (r *Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Commands) / r.Elapsed.Seconds()
}

// ErrorCount is the number of errors of every kind.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// Report writes the result for a person: the rate, the errors by kind, and
// the first error's transcript.
func (r *Result) Report(w io.Writer) {
	how := fmt.Sprintf("%d clients on %d mailboxes", r.Clients, r.Clients)
	if r.Shared {
		how = fmt.Sprintf("%d clients on one mailbox", r.Clients)
	}
	fmt.Fprintf(w, "imap stress: %s, %.1fs, %d commands, %.0f commands/s, %d errors\n",
		how, r.Elapsed.Seconds(), r.Commands, r.PerSecond(), r.ErrorCount())
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.ByCommand)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.ByCommand[k]))
	}
	fmt.Fprintf(w, "commands: %s\n", strings.Join(parts, ", "))
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "errors by kind:")
		kinds := slices.Collect(maps.Keys(r.Errors))
		sort.Slice(kinds, func(i, j int) bool {
			if r.Errors[kinds[i]] != r.Errors[kinds[j]] {
				return r.Errors[kinds[i]] > r.Errors[kinds[j]]
			}
			return kinds[i] < kinds[j]
		})
		for _, k := range kinds {
			fmt.Fprintf(w, "  %6d  %s\n", r.Errors[k], k)
		}
	}
	if r.NotifyClients > 0 {
		fmt.Fprintf(w, "NOTIFY: %d clients, %d responses pushed in %d waits between commands\n", r.NotifyClients, r.Pushed, r.NotifyWaits)
	}
	if len(r.Allowed) > 0 {
		parts = parts[:0]
		for _, k := range slices.Sorted(maps.Keys(r.Allowed)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Allowed[k]))
		}
		fmt.Fprintf(w, "allowed refusals (not errors): %s\n", strings.Join(parts, ", "))
	}
	if f := r.First; f != nil {
		f.write(w, "first error")
	}
}

// ReportKinds writes the first error of every kind with its transcript.
func (r *Result) ReportKinds(w io.Writer) {
	for _, k := range slices.Sorted(maps.Keys(r.ByKind)) {
		r.ByKind[k].write(w, "first of its kind")
	}
}

func (f *FirstError) write(w io.Writer, what string) {
	fmt.Fprintf(w, "%s, client %d: %s: %s\n", what, f.Client, f.Kind, f.Detail)
	for _, l := range f.Transcript {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

type runner struct {
	o       Options
	ctx     context.Context
	weights map[string]int
	// notifyClients: the last so many clients turn NOTIFY on.
	notifyClients int
	runID         string // in names of mailboxes created during the run
	budget        atomic.Int64
	commands      atomic.Int64

	mu       sync.Mutex
	firstErr *FirstError
	byKind   map[string]*FirstError
}

// Run prepares the mailboxes and runs the clients. Its error is for a run
// that could not start (no server, no login); errors during the run are
// in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Addr == "" || o.User == "" {
		return nil, errors.New("imapstress: Addr and User are required")
	}
	if o.Clients <= 0 {
		o.Clients = 10
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Commands <= 0 {
		o.Commands = 10_000_000
	}
	if o.Prefix == "" {
		o.Prefix = "stress"
	}
	if o.Messages <= 0 {
		o.Messages = 20
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	r := &runner{o: o, weights: maps.Clone(DefaultWeights), runID: strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	switch {
	case o.Notify < 0:
	case o.Notify == 0:
		r.notifyClients = max(1, o.Clients/3)
	default:
		r.notifyClients = min(o.Notify, o.Clients)
	}
	for k, v := range o.Weights {
		if _, ok := r.weights[k]; !ok {
			return nil, fmt.Errorf("imapstress: no operation %q in the mix", k)
		}
		r.weights[k] = v
	}
	r.ctx = ctx
	if err := r.setup(); err != nil {
		return nil, fmt.Errorf("imapstress: preparing the mailboxes: %w", err)
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	r.ctx = runCtx
	r.budget.Store(o.Commands)

	clients := make([]*client, o.Clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		clients[i] = newClient(r, i)
		wg.Go(clients[i].loop)
	}
	wg.Wait()
	res := &Result{
		Clients: o.Clients, Shared: o.Shared, Elapsed: time.Since(start),
		Commands: r.commands.Load(), ByCommand: map[string]int64{}, Errors: map[string]int64{},
		First: r.firstErr, ByKind: r.byKind, Allowed: map[string]int64{},
	}
	for _, c := range clients {
		for k, v := range c.ops {
			res.ByCommand[k] += v
		}
		for k, v := range c.errs {
			res.Errors[k] += v
		}
		for k, v := range c.allowed {
			res.Allowed[k] += v
		}
		if c.notify && c.ops["NOTIFY"] > 0 {
			res.NotifyClients++
		}
		res.NotifyWaits += c.waits
		res.Pushed += c.pushed
	}
	return res, nil
}

// take spends one command of the budget, if the run is still on.
func (r *runner) take() bool {
	return r.ctx.Err() == nil && r.budget.Add(-1) >= 0
}

func (r *runner) done() bool {
	return r.ctx.Err() != nil || r.budget.Load() <= 0
}

func (r *runner) first(c *client, f *failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byKind[f.kind] != nil {
		return
	}
	e := &FirstError{Client: c.id, Kind: f.kind, Detail: f.detail, Transcript: c.tr.snapshot()}
	if r.byKind == nil {
		r.byKind = map[string]*FirstError{}
	}
	r.byKind[f.kind] = e
	if r.firstErr == nil {
		r.firstErr = e
	}
}

// mailboxes names client id's main mailbox and the second one COPY and
// MOVE go to.
func (r *runner) mailboxes(id int) (main, other string) {
	if r.o.Shared {
		return r.o.Prefix + "-shared", r.o.Prefix + "-shared-b"
	}
	main = fmt.Sprintf("%s-%d", r.o.Prefix, id)
	return main, main + "-b"
}

// setup creates the mailboxes the clients need and fills each main one to
// Options.Messages. Its commands are not counted.
func (r *runner) setup() error {
	c := newClient(r, r.o.Clients)
	c.draining = true
	if err := c.connect(); err != nil {
		return err
	}
	defer c.close()
	must := c.exec
	st, err := must("LIST", `LIST "" `+quote(r.o.Prefix+"*"), nil)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range st.listed {
		seen[n] = true
	}
	mains := map[string]bool{}
	for i := range r.o.Clients {
		main, other := r.mailboxes(i)
		mains[main] = true
		for _, m := range []string{main, other} {
			if seen[m] {
				continue
			}
			seen[m] = true
			if _, err := must("CREATE", "CREATE "+quote(m), nil); err != nil {
				return err
			}
		}
	}
	for _, main := range slices.Sorted(maps.Keys(mains)) {
		st, err := must("STATUS", "STATUS "+quote(main)+" (MESSAGES)", nil)
		if err != nil {
			return err
		}
		for n := int(st.status[main]["MESSAGES"]); n < r.o.Messages; n++ {
			_, data := c.message()
			lit := fmt.Sprintf("{%d}", len(data))
			if _, err := must("APPEND", "APPEND "+quote(main)+" () "+lit, func() error {
				return c.c.write(string(data) + "\r\n")
			}); err != nil {
				return err
			}
		}
	}
	return nil
}
