// Package netcheck finds out, in the background, what the internet sees of
// the box, and says it in plain words with the fix:
//
//   - the DNS records of every mail domain (appliance/dnsrecords: MX, SPF,
//     DKIM, DMARC, the autoconfig/autodiscover names, the SRV records),
//     each correct, missing, or wrong with what DNS answered;
//   - the box's own name: its address (A/AAAA) and the reverse DNS (PTR)
//     of that address, which only the internet provider can set;
//   - whether the line lets mail out on port 25 (a greeting from
//     Options.Probe; nothing is sent);
//   - whether the MX's address reaches this box: a connection to the host
//     name's address on port 25 must be answered by a server that greets,
//     and answers EHLO, with the box's own host name.
//
// A Checker runs one check at start, then every Options.Every (sooner,
// after Options.Retry, when some item got no answer) and when asked
// (Recheck). A check is bounded by Options.Timeout: a resolver that
// never answers, a huge TXT record or a CNAME loop give "unknown" or
// "wrong" in time, and what DNS answered is cut short before it reaches a
// page. Readers never wait for DNS: Report returns the last result at
// once, with Running set while the next one is made.
//
// Files: netcheck.go (Checker, Report), items.go (the checks and their
// words), connect.go (the port 25 connections).
package netcheck

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"postroom/appliance/dnsrecords"
)

// Resolver is what the checks ask DNS: the records' lookups and the
// reverse lookup of the box's address. *net.Resolver is one; the appliance
// passes the configured resolver, tests one that asks internal/dnstest.
type Resolver interface {
	dnsrecords.Resolver
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Defaults for Options' zero values.
const (
	DefaultTimeout = 45 * time.Second
	DefaultEvery   = 6 * time.Hour
	// DefaultRetry is the time to the next check after one that got no
	// answer for some item: a box often starts before its line is up.
	DefaultRetry = 15 * time.Minute
	// connectTimeout bounds one port 25 conversation, inside Timeout.
	connectTimeout = 10 * time.Second
	// parallel is how many domains are checked at once.
	parallel = 4
)

// Options configures New. Resolver and Zones are required.
type Options struct {
	Resolver Resolver
	// Zones returns the records of every domain of the box, read again
	// at each check (domains are added while the box runs). The Host of
	// the first zone is the box's host name.
	Zones func(ctx context.Context) ([]dnsrecords.Zone, error)
	// Dial makes the port 25 connections. nil: a net.Dialer that asks
	// Resolver (when it is a *net.Resolver) for the probe's name. The
	// appliance's development mode passes one that reaches only this
	// machine.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Probe is a mail server on the internet, "host:port", whose
	// greeting shows that port 25 is open outwards. "": not checked, for
	// the reason in ProbeOff.
	Probe    string
	ProbeOff string // e.g. "development mode never reaches the internet"
	// SMTPPort is the port the MX's address is tried on. 0: 25.
	SMTPPort int
	// Timeout bounds one whole check. 0: DefaultTimeout.
	Timeout time.Duration
	// Every is the time between checks. 0: DefaultEvery. Tick, when set,
	// replaces the timer (tests).
	Every time.Duration
	Tick  <-chan time.Time
	// Retry is the time to the next check after one with an item
	// unknown. 0: DefaultRetry. After, when set, makes its timer (tests).
	Retry time.Duration
	After func(time.Duration) <-chan time.Time
	// Now is the clock of the reports. nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil: slog.Default()
	// OnReport receives every finished Report (the appliance puts its
	// Status on the status Bus). It must not call the Checker's Run.
	OnReport func(Report)
}

// Checker runs the checks and keeps the last Report.
type Checker struct {
	o    Options
	kick chan struct{}

	mu   sync.Mutex
	last Report
}

// New returns a Checker; nothing is checked before Run.
func New(o Options) *Checker {
	if o.Dial == nil {
		// The probe host's name is looked up like everything else:
		// through the configured resolver.
		d := &net.Dialer{}
		d.Resolver, _ = o.Resolver.(*net.Resolver)
		o.Dial = d.DialContext
	}
	if o.SMTPPort == 0 {
		o.SMTPPort = 25
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Checker{o: o, kick: make(chan struct{}, 1)}
}

// Report returns the last finished check, with Running set while another
// is made. It never waits.
func (c *Checker) Report() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last.clone()
}

// Recheck asks for a check now. It returns false when one is already
// running (its result comes soon) and never waits.
func (c *Checker) Recheck() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.Running {
		return false
	}
	c.last.Running = true // the page that asked shows "checking" at once
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return true
}

// Run checks at once, then every Every, Retry after a check that got no
// answer for some item, and on Recheck, until ctx ends.
func (c *Checker) Run(ctx context.Context) error {
	tick := c.o.Tick
	if tick == nil {
		t := time.NewTicker(c.o.Every)
		defer t.Stop()
		tick = t.C
	}
	for {
		var retry <-chan time.Time
		if c.Check(ctx).unknown() {
			retry = c.o.After(c.o.Retry)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-retry:
		case <-c.kick:
		}
	}
}

// Check makes one check now, bounded by Timeout, keeps its Report and
// hands it to OnReport.
func (c *Checker) Check(ctx context.Context) Report {
	c.mu.Lock()
	c.last.Running = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	rep := c.check(ctx)
	rep.Checked = c.o.Now()
	c.mu.Lock()
	c.last = rep
	c.mu.Unlock()
	st := rep.Status()
	c.o.Logger.Info("DNS and connectivity checked", "domains", len(rep.Domains), "problems", len(st.Problems), "notes", len(st.Notes),
		"took", rep.Checked.Sub(rep.Started).Round(time.Millisecond))
	if c.o.OnReport != nil {
		c.o.OnReport(rep.clone())
	}
	return rep
}

func (c *Checker) check(ctx context.Context) Report {
	rep := Report{Started: c.o.Now()}
	zones, err := c.o.Zones(ctx)
	if err != nil {
		c.o.Logger.Error("DNS check: the records to publish", "err", err)
		rep.Err = "The box could not work out its DNS records: " + err.Error()
		return rep
	}
	if len(zones) == 0 {
		return rep
	}
	rep.Domains = make([]Domain, len(zones))
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i, z := range zones {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rep.Domains[i] = Domain{Name: z.Domain, Items: c.records(ctx, z)}
		})
	}
	// The box's own name and connections, beside the domains.
	wg.Go(func() { rep.Box = c.box(ctx, zones[0]) })
	wg.Wait()
	return rep
}

// Report is one check's findings.
type Report struct {
	// Started and Checked are when the check began and ended; Checked
	// is zero before the first check has ended.
	Started, Checked time.Time
	// Running is set while a check is being made.
	Running bool
	Domains []Domain
	// Box is the host name's address and reverse DNS, port 25 outwards
	// and the MX reaching the box.
	Box []Item
	// Err says why nothing could be checked; "" otherwise.
	Err string
}

// Domain is the findings of one mail domain.
type Domain struct {
	Name  string
	Items []Item
}

// unknown reports whether some item got no answer.
func (r Report) unknown() bool {
	for _, d := range r.Domains {
		for _, it := range d.Items {
			if it.State == Unknown {
				return true
			}
		}
	}
	for _, it := range r.Box {
		if it.State == Unknown {
			return true
		}
	}
	return false
}

func (r Report) clone() Report {
	r.Domains = slices.Clone(r.Domains)
	for i := range r.Domains {
		r.Domains[i].Items = slices.Clone(r.Domains[i].Items)
	}
	r.Box = slices.Clone(r.Box)
	return r
}

// State is what a check found of one item.
type State string

const (
	OK      State = "ok"      // as it should be
	Missing State = "missing" // DNS has no such record
	Wrong   State = "wrong"   // DNS answers something else, or the test failed
	Unknown State = "unknown" // DNS or the network did not answer: tried again later
	Off     State = "off"     // not checked, on purpose (Words says why)
)

// Item is one record or test and what was found.
type Item struct {
	// ID is unique in a Report: the page's anchor and copy target.
	ID string
	// Title names it for people: "MX record", "Sending on port 25".
	Title string
	// Record is what to publish; nil for a connection test.
	Record *dnsrecords.Record
	State  State
	// Found is what DNS answered when it is not what it should be, each
	// value cut short (maxFound).
	Found []string
	// Words say what is the case, Fix what to do ("" when nothing),
	// FixLink a page of the box that helps ("" none); plain words for an
	// office manager.
	Words, Fix, FixLink string
}
