package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run this binary as the real postroom process.
func TestMain(m *testing.M) {
	if os.Getenv("POSTROOM_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func writeConfig(t *testing.T, dir string, change func(*config.Config)) string {
	t.Helper()
	cfg := config.DevDefault(dir)
	cfg.Listen = config.Listeners{SMTP: "127.0.0.1:0", Web: "127.0.0.1:0"}
	if change != nil {
		change(&cfg)
	}
	path := filepath.Join(dir, config.ConfigFile)
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFatalErrorIsOneLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	writeConfig(t, dir, func(c *config.Config) { c.Listen.SMTP = busy.Addr().String() })

	var stdout, stderr bytes.Buffer
	code := run([]string{"-data", dir, "-log-level", "error"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d; want 1; stderr:\n%s", code, stderr.String())
	}
	out := strings.TrimRight(stderr.String(), "\n")
	if strings.Count(out, "\n") != 0 || !strings.HasPrefix(out, "postroom: ") || !strings.Contains(out, "listen.smtp") {
		t.Errorf("stderr %q; want one line naming the field", out)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     func(dir string) []string
		prepare  func(t *testing.T, dir string)
		code     int
		stdout   string
		stderr   string
		noConfig bool // the run must not write config.json
	}{
		{
			name:     "check without config",
			args:     func(dir string) []string { return []string{"-data", dir, "-check"} },
			code:     1,
			stderr:   "no such file",
			noConfig: true,
		},
		{
			name:    "check a valid config",
			args:    func(dir string) []string { return []string{"-data", dir, "-check"} },
			prepare: func(t *testing.T, dir string) { writeConfig(t, dir, nil) },
			stdout:  "is valid",
		},
		{
			name: "check an invalid config",
			args: func(dir string) []string { return []string{"-config", filepath.Join(dir, "c.json"), "-check"} },
			prepare: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "c.json"), []byte(`{"max_recipients": 0, "hostname": ""}`), 0o600)
			},
			code:   1,
			stderr: "max_recipients",
		},
		{
			name:   "bad log level",
			args:   func(dir string) []string { return []string{"-data", dir, "-log-level", "loud"} },
			code:   1,
			stderr: "-log-level",
		},
		{name: "unknown flag", args: func(string) []string { return []string{"-nope"} }, code: 2, noConfig: true},
		{name: "stray argument", args: func(string) []string { return []string{"start"} }, code: 2, noConfig: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.prepare != nil {
				tt.prepare(t, dir)
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args(dir), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, config.ConfigFile)); tt.noConfig && err == nil {
				t.Error("config.json was written")
			}
		})
	}
}

func TestFirstStartWritesDevConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// Occupy nothing: the dev config's fixed ports may be in use on this
	// machine, so only check the file that is written before listening.
	cfg, created, err := loadOrCreate(filepath.Join(dir, config.ConfigFile), dir, true)
	if err != nil || !created {
		t.Fatalf("loadOrCreate = %v, %v", created, err)
	}
	if !cfg.Dev || cfg.Listen.SMTP != config.DevSMTP || cfg.DataDir != dir {
		t.Errorf("config = %+v", cfg)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, config.ConfigFile))
	if !strings.Contains(string(raw), "// ") || !strings.Contains(string(raw), `"data_dir": "."`) {
		t.Errorf("written config:\n%s", raw)
	}
	_, created, err = loadOrCreate(filepath.Join(dir, config.ConfigFile), dir, false)
	if err != nil || created {
		t.Fatalf("second loadOrCreate = %v, %v; want the existing file", created, err)
	}
}

// TestSIGTERMExitsZero runs postroom as a real process: it starts, prints
// the dev banner once, and on SIGTERM drains and exits 0.
func TestSIGTERMExitsZero(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := startPostroom(ctx, t, dir)
	t.Log(p.running)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		t.Fatal("postroom did not exit after SIGTERM")
	}
	if p.waitErr != nil {
		t.Fatalf("postroom after SIGTERM: %v\n%s", p.waitErr, p.log())
	}
	if !strings.Contains(p.stdout.String(), config.DemoUser) {
		t.Errorf("no dev banner on stdout:\n%s", p.stdout.String())
	}
}
