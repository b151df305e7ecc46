// Package appliance is Postroom's top: Run builds every service in order
// from a config.Config, reports their state to the status Bus and takes
// them down again.
//
// The map:
//
//	run.go          Run: lock, storage, TLS, services, shutdown
//	run_*.go        one file per service or worker that Run builds
//	tls.go          the TLS settings every server shares (serverTLSConfig)
//	run_certs.go    the certificate manager (appliance/certs) of this start
//	demo.go         the dev-mode demo user and its one-time banner
//	run_setup.go    the first set-up: "needs setup", the set-up code
//	lock_*.go       the data-folder lock that keeps a second process out
//
// The configuration itself is the leaf package appliance/config. Only this
// package imports everything: storage, the protocol servers, hw and webui.
// They know nothing of each other.
package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/authguard"
	"postroom/appliance/backup"
	"postroom/appliance/certs"
	"postroom/appliance/dkim"
	"postroom/appliance/firstboot"
	"postroom/appliance/netcheck"
	"postroom/appliance/queue"
	"postroom/appliance/status"
	"postroom/appliance/transition"
	"postroom/appliance/usbdisk"
	"postroom/hw"
	"postroom/internal/logring"
	"postroom/storage"
	"postroom/webui"
	"postroom/webui/autoconfig"
)

// Options adds what a Config does not hold. Every field may be zero.
type Options struct {
	// Logger receives every log line. nil: slog.Default().
	Logger *slog.Logger
	// Bus receives the appliance's status. nil: a new Bus. Pass one to watch
	// the appliance, e.g. to learn the bound addresses of port-0 listeners.
	Bus *status.Bus
	// Panel shows the status on LEDs and display. nil: hw.NewSimulated.
	Panel hw.Panel
	// Stdout receives the one-time dev-mode banner. nil: os.Stdout.
	Stdout io.Writer
	// ShutdownTimeout bounds draining sessions at shutdown; connections
	// still open then are closed. 0: 10 seconds.
	ShutdownTimeout time.Duration
	// Maintenance carries requests for offline steps (run_offline.go).
	// nil: a new one, used by the web page's factory reset. Pass one to
	// ask for steps from outside.
	Maintenance *Maintenance
	// ConfigPath is the config file the admin layer rewrites (settings
	// changed with postroomctl or on the web page). "": DATA/config.json.
	ConfigPath string
	// Update is the box the appliance runs on, for updates and the
	// status page's versions (run_update.go). nil: not a board.
	Update *UpdateOptions
	// SetupWizard: in development mode, make no demo user on a new store,
	// so that the box waits to be set up on its web page (make run-setup).
	SetupWizard bool
	// FirstBoot holds the set-up code while the box waits to be set up
	// (run_setup.go). nil: a new one, printing each code on Stdout.
	FirstBoot *firstboot.Setup
	// USB is the board's USB disks: backups to one, formatting a blank
	// one on the web page (appliance/usbdisk). nil: the box does not look
	// at USB disks (a developer's machine, whose disks must never be
	// offered for formatting).
	USB *usbdisk.Host
}

// Service names in the status Snapshot.
const (
	ServiceSMTP = "smtp"
	ServiceWeb  = "web"
)

// Run runs the appliance until ctx ends (SIGTERM, SIGINT), then drains and
// returns nil. It returns an error when it cannot start (invalid config,
// data folder in use, store unreadable, a port in use) or when a service
// stops on its own; the error is one line meant for the operator.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	return RunOptions(ctx, cfg, Options{Logger: logger})
}

// service is one network server that Run starts and stops.
type service struct {
	name, title string
	addr        string // configured address
	ln          net.Listener
	serve       func(net.Listener) error // nil after a requested shutdown
	shutdown    func(context.Context) error
}

// RunOptions is Run with Options.
//
// The order: validate the config, lock the data folder, open the store,
// make sure of the TLS certificate, (dev) create the demo user, bind every
// listener (so a port in use stops the start before anything serves), then
// serve. Shutdown runs the other way round and the store closes last, after
// every session that could write to it has ended.
//
// The services, each on its Config.Listen address ("" leaves it off):
// inbound SMTP (25, appliance/smtpd with appliance/mailauth), submission
// (587 STARTTLS, 465 TLS), POP3 (110, 995, appliance/pop3), IMAP (143, 993,
// appliance/imapd), the web page (webui) and the public client set-up
// handler (webui/public, run_public.go). Background workers: the outbound
// queue (appliance/queue), POP3 retention, and the panel's readings
// (run_panel.go).
func RunOptions(ctx context.Context, cfg config.Config, opts Options) (err error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// The recent lines, for the web page's log and diagnostics
	// (webui/diagnostics.go), kept across restarts of the services.
	logRing := logring.New(500)
	opts.Logger = slog.New(slog.NewMultiHandler(opts.Logger.Handler(), logRing.Handler(slog.LevelInfo)))
	if opts.Bus == nil {
		opts.Bus = status.NewBus(status.Snapshot{})
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Panel == nil {
		// The board's LEDs and display when there are any; otherwise
		// the simulated panel. Never an error: mail matters more.
		opts.Panel = openPanel(cfg, opts.Logger, opts.Stdout) // run_panel.go
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	defer func() {
		if herr := opts.Panel.Halt(); herr != nil {
			opts.Logger.Warn("blank the panel", "err", herr)
		}
	}()
	if opts.Maintenance == nil {
		opts.Maintenance = NewMaintenance()
	}
	if opts.FirstBoot == nil {
		opts.FirstBoot = newFirstBoot(opts.Stdout) // run_setup.go
	}
	reset := &resetter{maint: opts.Maintenance, log: opts.Logger}
	// Each turn is one start of the services; a run that stopped for an
	// offline step (run_offline.go) has run it and starts again.
	var stepFailed error
	for {
		if next := opts.Maintenance.next.Swap(nil); next != nil {
			cfg = *next // saved by the admin layer (run_control.go)
		}
		r := &runner{cfg: cfg, opts: opts, log: opts.Logger, bus: opts.Bus,
			guard:      authguard.New(authguard.Options{Logger: opts.Logger.With("part", "login")}),
			resolver:   newResolver(cfg.Resolver),
			reset:      reset,
			stepFailed: stepFailed,
			logRing:    logRing,
		}
		err := r.run(ctx)
		var off *offlineStop
		if !errors.As(err, &off) {
			return err
		}
		if ctx.Err() != nil {
			// Stopped during the step: no new start. A step that gave
			// up because of the stop did what it should.
			if errors.Is(off.err, ctx.Err()) {
				return nil
			}
			return off.err
		}
		stepFailed = off.err
	}
}

type runner struct {
	cfg  config.Config
	opts Options
	log  *slog.Logger
	bus  *status.Bus
	// certs holds the TLS certificate every port uses (run_certs.go).
	certs *certs.Manager
	// guard is the one login policy of every service that takes a
	// password, so that failures on one protocol count on all.
	guard *authguard.Guard
	// sessions records logins and ends an account's sessions on every
	// protocol (run_sessions.go).
	sessions sessionHub
	// resolver answers the DNS questions of outgoing mail and of the
	// checks on incoming mail (Config.Resolver).
	resolver *net.Resolver
	// workers are background jobs (the outbound queue, retention, the
	// panel's readings) registered while the services are built.
	workers []worker
	// queue is the outbound queue, built on first use by outboundQueue.
	queue *queue.Queue
	// devOutbox keeps the outgoing mail of development mode (run_dev.go);
	// nil otherwise.
	devOutbox *devOutbox
	// jobFailed is the last worker that stopped with an error.
	jobFailed atomic.Pointer[jobFailure]
	// reset is the web page's factory reset (run_reset.go), the same
	// for every start of the services.
	reset *resetter
	// admin is the admin layer over this start's store, nil until
	// controlWorker made it (run_control.go).
	admin *admin.Admin
	// stepFailed is why the last offline step failed, if it did: the
	// problem until the next step or restart (run_offline.go).
	stepFailed error
	// logRing keeps the recent log lines for the web page.
	logRing *logring.Ring
	// profileLinks are the one-time links to Apple profiles that the
	// public handler serves (run_public.go); the set-up page makes them.
	profileLinks *autoconfig.Links
	// netcheck is the DNS and connectivity check, dkim the DKIM keys it
	// and the queue share (run_netcheck.go).
	netcheck *netcheck.Checker
	dkim     *dkim.Keys
	// mover moves mail in from the old provider's accounts, nil until
	// the admin layer made it (run_transition.go).
	mover *transition.Manager
	// backups makes the scheduled backups, nil until backupManager made
	// it (run_backup.go).
	backups *backup.Manager
}

type jobFailure struct {
	name string
	err  error
}

// worker is a background job that runs from just before the services serve
// until after they have drained, while the store is open.
type worker struct {
	name string
	run  func(ctx context.Context) error
}

// addWorker registers a background job. run must return soon after ctx
// ends; an error other than ctx's is logged and shown as the problem.
func (r *runner) addWorker(name string, run func(ctx context.Context) error) {
	r.workers = append(r.workers, worker{name: name, run: run})
}

func (r *runner) run(ctx context.Context) (err error) {
	cfg := r.cfg
	if err := cfg.Validate(); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}

	r.bus.Publish(status.Snapshot{
		Phase:     status.PhaseBooting,
		Hostname:  cfg.Hostname,
		Addresses: hostAddresses(),
	})
	panelCtx, stopPanel := context.WithCancel(context.Background())
	panelDone := make(chan struct{})
	go func() { hw.Follow(panelCtx, r.bus, r.opts.Panel); close(panelDone) }()
	defer func() {
		stopPanel()
		<-panelDone
	}()
	defer func() {
		var off *offlineStop
		if err != nil && !errors.As(err, &off) {
			// Leave the reason on the Bus for whoever still watches.
			msg := err.Error()
			r.update(func(s *status.Snapshot) { s.Problem = msg })
		}
	}()

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	// An offline step (run_offline.go) runs once the store has closed
	// (the defers below run first) and before the folder is unlocked.
	defer func() {
		var off *offlineStop
		if errors.As(err, &off) {
			r.runOffline(ctx, dataDir, off)
		}
	}()
	if err := finishErase(dataDir); err != nil {
		return err
	}

	storeDir := filepath.Join(dataDir, "store")
	if err := r.restoreAfterRollback(ctx, storeDir); err != nil { // run_update.go
		return err
	}
	r.clearUpdateSpool() // run_update.go
	r.log.Info("opening the mail store", "dir", storeDir)
	st, err := storage.Open(storage.Options{
		Dir:            storeDir,
		Logger:         r.log,
		MaxMessageSize: cfg.MaxMessageSize,
		// The store is most of this process: give memory back when idle.
		TrimWhenIdle: true,
	})
	if err != nil {
		return fmt.Errorf("open the mail store in %s: %w", storeDir, err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			r.log.Error("close the mail store", "err", cerr)
			if err == nil {
				err = fmt.Errorf("close the mail store: %w", cerr)
			}
		} else {
			r.log.Info("mail store closed")
		}
	}()

	cm, err := r.certManager(dataDir) // run_certs.go: self-signed, configured, uploaded or ACME
	if err != nil {
		return err
	}
	tlsConfig := serverTLSConfig(cm.GetCertificate) // tls.go: TLS 1.2 and 1.3, AEAD suites only

	if cfg.Dev {
		// Before the services are built: they take r.resolver.
		if err := r.startDev(dataDir); err != nil { // run_dev.go: nothing leaves the machine
			return err
		}
	}

	r.restoreDaily(st, dataDir) // run_daily.go: today's counts, from the store
	services, err := r.services(st, tlsConfig)
	if err != nil {
		return err
	}
	if err := r.listen(services); err != nil {
		return err
	}
	// The demo user only once every port is bound: a start that fails on
	// a taken port must not make a user whose password it never shows.
	var demoPassword string
	if demo, err := r.wantsDemoUser(st); err != nil { // run_setup.go
		closeListeners(services)
		return err
	} else if demo {
		if demoPassword, err = ensureDemoUser(st, r.log); err != nil {
			closeListeners(services)
			return err
		}
	}
	accounts, err := st.Accounts()
	if err != nil {
		closeListeners(services)
		return fmt.Errorf("read accounts: %w", err)
	}
	needs, err := needsSetup(st, len(accounts)) // run_setup.go
	if err != nil {
		closeListeners(services)
		return err
	}
	r.setupWorker()

	r.controlWorker(st, dataDir) // run_control.go: postroomctl on the running box
	r.backupWorker(st)           // run_backup.go: the daily backup and its restore test
	r.updateWorker(st, services) // run_update.go: versions, and a trial start's self-test
	stopWorkers := r.startWorkers()
	defer stopWorkers()

	results := make(chan serviceResult, len(services))
	for _, sv := range services {
		go func() { results <- serviceResult{sv, sv.serve(sv.ln)} }()
	}
	if demoPassword != "" {
		// Before the phase changes, so that whoever waits for "running"
		// finds the banner printed.
		printDemoBanner(r.opts.Stdout, demoPassword, services, r.devOutbox)
	}
	phase := status.PhaseRunning
	r.opts.FirstBoot.SetActive(needs)
	setupCode, _ := r.opts.FirstBoot.Code() // "" unless needs
	if needs {
		phase = status.PhaseNeedsSetup
		if cfg.Dev {
			printSetupBanner(r.opts.Stdout, setupCode, services)
		}
	}
	r.update(func(s *status.Snapshot) {
		s.Phase = phase
		s.SetupCode = setupCode
		for _, sv := range services {
			s.SetService(status.Service{Name: sv.name, Title: sv.title, Addr: sv.ln.Addr().String(), State: status.ServiceListening})
		}
	})
	attrs := []any{"phase", phase, "accounts", len(accounts)}
	for _, sv := range services {
		attrs = append(attrs, sv.name, sv.ln.Addr().String())
	}
	r.log.Info("postroom is running", attrs...)

	// Wait for the signal to stop, or for a service that stops by itself.
	var runErr error
	pending := len(services)
	select {
	case <-ctx.Done():
		r.log.Info("shutting down", "reason", context.Cause(ctx))
	case step := <-r.opts.Maintenance.ch:
		r.log.Warn("maintenance: stopping the services", "step", step.what, "by", step.by)
		runErr = &offlineStop{step: step}
	case res := <-results:
		pending--
		if res.err == nil {
			res.err = errors.New("stopped without an error")
		}
		runErr = fmt.Errorf("%s stopped: %w", res.sv.title, res.err)
		r.log.Error("service failed; shutting down", "service", res.sv.name, "err", res.err)
		r.update(func(s *status.Snapshot) {
			sv, _ := s.Service(res.sv.name)
			sv.State, sv.Error = status.ServiceFailed, res.err.Error()
			s.SetService(sv)
		})
	}

	r.update(func(s *status.Snapshot) { s.Phase = status.PhaseShuttingDown })
	sctx, cancel := context.WithTimeout(context.Background(), r.opts.ShutdownTimeout)
	defer cancel()
	for _, sv := range slices.Backward(services) {
		if serr := sv.shutdown(sctx); serr != nil {
			r.log.Warn("service did not drain in time; connections closed", "service", sv.name, "err", serr)
		}
	}
	for ; pending > 0; pending-- {
		res := <-results
		if res.err != nil && runErr == nil {
			runErr = fmt.Errorf("%s stopped: %w", res.sv.title, res.err)
		}
	}
	r.update(func(s *status.Snapshot) {
		for i := range s.Services {
			if s.Services[i].State != status.ServiceFailed {
				s.Services[i].State = status.ServiceStopped
			}
		}
	})
	r.log.Info("services stopped")
	stopWorkers()
	return runErr
}

// startWorkers starts every registered worker and returns the function that
// stops them and waits; calling it again does nothing.
func (r *runner) startWorkers() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Go(func() {
			err := w.run(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Error("background job failed", "job", w.name, "err", err)
				r.jobFailed.Store(&jobFailure{w.name, err})
				r.update(func(*status.Snapshot) {})
			}
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}

// newResolver returns the system resolver for "", else one that asks only
// the DNS server at addr ("host:port"), over UDP or TCP as Go chooses.
func newResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

type serviceResult struct {
	sv  *service
	err error
}

// services builds the servers that exist today, each on its configured
// address; an empty address leaves a service off.
func (r *runner) services(st *storage.Store, tlsConfig *tls.Config) ([]*service, error) {
	cfg := r.cfg
	var out []*service

	if cfg.Listen.SMTP != "" {
		srv, err := r.mxServer(st, tlsConfig) // run_submission.go
		if err != nil {
			return nil, fmt.Errorf("set up incoming mail (SMTP): %w", err)
		}
		out = append(out, smtpService(ServiceSMTP, "Incoming mail (SMTP)", cfg.Listen.SMTP, srv))
	}
	subSvcs, err := r.submissionServices(st, tlsConfig) // run_submission.go
	if err != nil {
		return nil, err
	}
	out = append(out, subSvcs...)

	if _, err := r.outboundQueue(st); err != nil { // run_queue.go
		return nil, err
	}
	r.panelWorker(st) // mail today, unread, disk, temperature, clock, certificate: run_panel.go
	pop3Svcs, err := r.pop3Services(st, tlsConfig)
	if err != nil {
		return nil, err
	}
	out = append(out, pop3Svcs...)
	imapSvcs, err := r.imapServices(st, tlsConfig) // run_imap.go
	if err != nil {
		return nil, err
	}
	out = append(out, imapSvcs...)

	if cfg.Listen.Web != "" {
		display, _ := r.opts.Panel.(webui.DisplaySource) // nil: a panel without a display
		web := webui.New(webui.Options{
			Bus: r.bus, Logger: r.log.With("service", "web"),
			UpdateDir: r.updateSpool(), // run_update.go: uploaded updates wait on the data disk

			Admins:  admins{r, st}, // run_reset.go
			Reset:   r.reset,
			Display: display, // what the display shows, for the status page
			// The pages behind the login (run_web.go).
			Admin: webAdmin{r}, Logins: webLogins{r, st}, Sessions: st, Log: r.logRing,
			Setup:     clientSetup{r, st}, // how to set up a mail program (run_public.go)
			DNS:       r.dnsChecker(),     // the DNS page's check (run_netcheck.go)
			FirstBoot: r.opts.FirstBoot,   // the set-up code (run_setup.go)
		})
		hs := &http.Server{
			Handler:           web,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(r.log.With("service", "web").Handler(), slog.LevelInfo),
		}
		hs.RegisterOnShutdown(web.CloseStreams) // open status pages' live streams end, or Shutdown waits for them
		out = append(out, newService(ServiceWeb, "Status page (web)", cfg.Listen.Web, hs.Serve, http.ErrServerClosed,
			func(ctx context.Context) error {
				err := hs.Shutdown(ctx)
				if err != nil {
					hs.Close()
				}
				return err
			}))
	}
	out = append(out, r.publicServices()...) // run_public.go: client set-up for the internet, ports 80 and 443
	return out, nil
}

// portPair is a mail server behind a plain port (STARTTLS or STLS) and
// an implicit-TLS port: imapd and pop3.
type portPair interface {
	Serve(net.Listener) error
	ServeTLS(net.Listener) error
	Shutdown(context.Context) error
}

// endpoint names one of a portPair's services; an empty addr leaves it off.
type endpoint struct{ name, title, addr string }

// pairServices makes the services of a portPair. Both share the server:
// the first Shutdown drains it, the second finds nothing left to wait for.
func pairServices(srv portPair, closed error, plain, implicitTLS endpoint) []*service {
	var out []*service
	for _, e := range []struct {
		endpoint
		serve func(net.Listener) error
	}{{plain, srv.Serve}, {implicitTLS, srv.ServeTLS}} {
		if e.addr != "" {
			out = append(out, newService(e.name, e.title, e.addr, e.serve, closed, srv.Shutdown))
		}
	}
	return out
}

// newService makes a service of one Serve method of a server. closed is the
// error the server's Serve returns after a requested shutdown (its
// ErrServerClosed): the normal end, reported as nil.
func newService(name, title, addr string, serve func(net.Listener) error, closed error, shutdown func(context.Context) error) *service {
	return &service{
		name: name, title: title, addr: addr,
		serve: func(l net.Listener) error {
			if err := serve(l); !errors.Is(err, closed) {
				return err
			}
			return nil
		},
		shutdown: shutdown,
	}
}

// listen binds every service's address before any serves, so that a port in
// use stops the start cleanly.
func (r *runner) listen(services []*service) error {
	r.update(func(s *status.Snapshot) {
		for _, sv := range services {
			s.SetService(status.Service{Name: sv.name, Title: sv.title, Addr: sv.addr, State: status.ServiceStarting})
		}
	})
	for i, sv := range services {
		ln, err := net.Listen("tcp", sv.addr)
		if err != nil {
			for _, prev := range services[:i] {
				prev.ln.Close()
			}
			// "bind: address already in use" says it better than the
			// whole *net.OpError, which repeats the address.
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Err != nil {
				err = oe.Err
			}
			r.update(func(s *status.Snapshot) {
				s.SetService(status.Service{Name: sv.name, Title: sv.title, Addr: sv.addr, State: status.ServiceFailed, Error: err.Error()})
			})
			return fmt.Errorf("%s cannot listen on %s (listen.%s in the config): %w", sv.title, sv.addr, sv.name, err)
		}
		sv.ln = ln
	}
	return nil
}

// closeListeners undoes listen when the start fails after it.
func closeListeners(services []*service) {
	for _, sv := range services {
		sv.ln.Close()
	}
}

// update changes the Snapshot and then recomputes its Problem.
func (r *runner) update(f func(*status.Snapshot)) {
	r.bus.Update(func(s *status.Snapshot) {
		s.Problem = ""
		f(s)
		if s.Problem == "" {
			s.Problem = r.problem(*s)
		}
	})
}

// problem picks the most important thing that is wrong, in words for the
// office manager: mail refused for a full disk, a service down, then setup
// not done, then the certificate.
func (r *runner) problem(s status.Snapshot) string {
	if p := s.Disk.Problem(); p != "" {
		return p // every sender is turned away: nothing is more urgent
	}
	if failed := s.Failed(); len(failed) > 0 {
		sv := failed[0]
		name := sv.Title
		if name == "" {
			name = sv.Name
		}
		return fmt.Sprintf("%s is not working: %s.", name, sv.Error)
	}
	if r.stepFailed != nil {
		return fmt.Sprintf("Maintenance: %v. The box started again; look at the log.", r.stepFailed)
	}
	if f := r.jobFailed.Load(); f != nil {
		return fmt.Sprintf("The background job %q stopped: %v. Restart the box.", f.name, f.err)
	}
	if s.Phase == status.PhaseNeedsSetup {
		return "The box is not set up yet: open its web page and type the set-up code shown on its display."
	}
	// What lights the red LED (queue stuck, disk full, certificate) is
	// the problem too, so that the page never says "all is well" then.
	if a := s.Attention(time.Now()); len(a) > 0 {
		return a[0]
	}
	return ""
}

// hostAddresses lists the box's own unicast IP addresses, without loopback
// and link-local ones, for the status page and the display.
func hostAddresses() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsMulticast() {
			continue
		}
		out = append(out, ipn.IP.String())
	}
	return out
}
