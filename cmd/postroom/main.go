// Command postroom is the Postroom mail appliance: it loads the config from
// the data folder (writing a default one on the first start) and runs every
// service until SIGTERM or SIGINT.
//
//	postroom [-data DIR] [-config PATH] [-dev [-setup]] [-log-level LEVEL] [-check]
//
// It exits 0 after a clean shutdown and 1 with one line on standard error
// when it cannot run, so that a supervisor restarts it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"postroom/appliance"
	"postroom/appliance/config"
	"postroom/appliance/usbdisk"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("postroom", flag.ContinueOnError)
	flags.SetOutput(stderr)
	data := flags.String("data", "./data", "data `folder`: config.json, tls/ and store/ live here")
	configPath := flags.String("config", "", "config `file` (default DATA/config.json)")
	dev := flags.Bool("dev", false, "on the first start, write the development config (127.0.0.1, ports 2525, 1143, 8080, ...) and create a demo user")
	setup := flags.Bool("setup", false, "with -dev: no demo user; the box waits to be set up on its web page, with the set-up code it prints (make run-setup)")
	logLevel := flags.String("log-level", "", "debug, info, warn or error (default: log_level in the config)")
	check := flags.Bool("check", false, "check the config file and exit")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: postroom [flags]\n\nRuns the Postroom mail appliance.\n\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "postroom: unexpected argument %q (see -h)\n", flags.Arg(0))
		return 2
	}
	if *configPath == "" {
		*configPath = filepath.Join(*data, config.ConfigFile)
	}

	// A soft memory limit makes the garbage collector work harder before
	// the process outgrows a 512 MB board; GOMEMLIMIT overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
	if err := startProfiling(slog.Default()); err != nil {
		fmt.Fprintln(stderr, "postroom: "+oneLine(err))
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()

	if err := start(ctx, *configPath, *data, *dev, *setup, *logLevel, *check, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "postroom: "+oneLine(err))
		return 1
	}
	return 0
}

func start(ctx context.Context, configPath, data string, dev, setup bool, logLevel string, check bool, stdout, stderr io.Writer) error {
	var cfg config.Config
	var created bool
	var err error
	if check {
		cfg, err = config.Load(configPath)
	} else {
		cfg, created, err = loadOrCreate(configPath, data, dev)
	}
	if err != nil {
		return err
	}
	if logLevel == "" {
		logLevel = cfg.LogLevel
	}
	level, err := config.ParseLogLevel(logLevel)
	if err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	if check {
		fmt.Fprintf(stdout, "%s is valid\n", configPath)
		return nil
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if created {
		logger.Info("wrote a new config; edit it and restart to change ports or names", "config", configPath, "dev", cfg.Dev)
	} else if dev && !cfg.Dev {
		logger.Warn("-dev applies only when there is no config yet; using the existing one", "config", configPath)
	}
	// The admin layer rewrites the file it was started from (settings
	// changed with postroomctl or on the web page).
	// On the board, the init says which root runs and where the boot
	// partition is, for updates and the status page (nil elsewhere).
	upd := appliance.UpdateOptionsFromEnv("/")
	return appliance.RunOptions(ctx, cfg, appliance.Options{Logger: logger, ConfigPath: configPath,
		Update: upd, SetupWizard: setup, USB: usbHost(upd != nil)})
}

// usbHost is the USB disks the appliance looks at: the board's, when the
// init started it; on another machine none (a developer's own disks must
// never be offered for formatting), or a fake tree to try the pages with:
// POSTROOM_FAKE_USB=DIR, holding sys/block and dev as
// appliance/usbdisk/usbdisktest builds them.
func usbHost(board bool) *usbdisk.Host {
	if board {
		return usbdisk.Board()
	}
	if dir := os.Getenv("POSTROOM_FAKE_USB"); dir != "" {
		return &usbdisk.Host{SysBlock: filepath.Join(dir, "sys", "block"), Dev: filepath.Join(dir, "dev"), RunDir: filepath.Join(dir, "run")}
	}
	return nil
}

// loadOrCreate loads the config, or on the first start writes the default
// one (the development one with -dev) and loads that.
func loadOrCreate(configPath, data string, dev bool) (config.Config, bool, error) {
	cfg, err := config.Load(configPath)
	if err == nil {
		return cfg, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return cfg, false, err
	}
	dataDir, err := filepath.Abs(data)
	if err != nil {
		return cfg, false, err
	}
	cfg = config.Default()
	cfg.DataDir = dataDir
	if dev {
		cfg = config.DevDefault(dataDir)
	}
	for _, dir := range []string{dataDir, filepath.Dir(configPath)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return cfg, false, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := cfg.Save(configPath); err != nil {
		return cfg, false, err
	}
	cfg, err = config.Load(configPath)
	return cfg, true, err
}

// oneLine keeps the fatal message on one line for the supervisor's log.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
