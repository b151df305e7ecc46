// Command postroom-membench measures the appliance's memory under an SMTP
// load, optionally inside a memory limit, so that PRODUCT.md's memory target
// ("under 160 MiB of anonymous memory, no loss of speed inside a 200 MiB
// limit") is checked by a command and not by a reading of top.
//
// It starts the real appliance binary on a fresh data folder with the
// development config (every listener on 127.0.0.1, on free ports), puts it
// in a memory cgroup of its own when -limit is given, runs postroom-load
// against its port 25 service, and samples /proc/PID/status (VmRSS, and its
// anonymous and file-backed parts) and /proc/PID/io (bytes written) while
// the load runs. It reports:
//
//	rate       messages per second accepted (from postroom-load)
//	rss peak   VmRSS at its highest, and RssAnon / RssFile at theirs
//	written    write_bytes of the appliance per accepted message byte
//	cgroup     the limit, the group's peak usage, failcnt and OOM kills
//
// Example (both binaries built first; -limit needs root and cgroup v1's
// memory controller, or cgroup v2):
//
//	go build -o bin/ ./cmd/postroom ./cmd/postroom-load ./cmd/postroom-membench
//	bin/postroom-membench -postroom bin/postroom -load bin/postroom-load \
//	    -prefill 100000 -n 3000 -c 8 -size 102400 -limit 200M
//
// Everything stays on this machine: the appliance listens on 127.0.0.1 only,
// is in development mode (it never sends mail out), and the load is bounded
// by -n and -timeout.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"postroom/appliance/config"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "postroom-membench:", err)
		os.Exit(1)
	}
}

type options struct {
	postroom, load string
	prefill        int
	n, c, size     int
	limit          int64
	timeout        time.Duration
	keep           bool
}

func run(args []string) error {
	fs := flag.NewFlagSet("postroom-membench", flag.ContinueOnError)
	var o options
	var limit string
	fs.StringVar(&o.postroom, "postroom", "bin/postroom", "the appliance `binary`")
	fs.StringVar(&o.load, "load", "bin/postroom-load", "the postroom-load `binary`")
	fs.IntVar(&o.prefill, "prefill", 0, "2 KB messages stored before the measured load (e.g. 100000)")
	fs.IntVar(&o.n, "n", 2000, "messages in the measured load")
	fs.IntVar(&o.c, "c", 8, "concurrent senders")
	fs.IntVar(&o.size, "size", 100*1024, "message size in bytes")
	fs.StringVar(&limit, "limit", "", "memory limit for the appliance, e.g. 200M (needs root); empty: none")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop the whole run after this long")
	fs.BoolVar(&o.keep, "keep", false, "keep the data folder afterwards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if limit != "" {
		v, err := parseSize(limit)
		if err != nil {
			return fmt.Errorf("-limit: %w", err)
		}
		o.limit = v
	}
	res, err := measure(o)
	if res != nil {
		fmt.Print(res.String())
	}
	return err
}

// result is what one run measured.
type result struct {
	loadLine                    string // postroom-load's own summary line
	rssPeak, anonPeak, filePeak int64  // bytes
	written                     int64  // appliance write_bytes during the measured load
	accepted                    int64  // message bytes the load sent
	limit                       int64
	cg                          cgroupStats
}

func (r *result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load:     %s\n", r.loadLine)
	fmt.Fprintf(&b, "rss peak: VmRSS %.1f MiB, RssAnon %.1f MiB, RssFile %.1f MiB\n", mib(r.rssPeak), mib(r.anonPeak), mib(r.filePeak))
	if r.accepted > 0 {
		fmt.Fprintf(&b, "written:  %.1f MiB for %.1f MiB of messages: %.2f bytes written per accepted byte\n",
			mib(r.written), mib(r.accepted), float64(r.written)/float64(r.accepted))
	}
	if r.limit > 0 {
		fmt.Fprintf(&b, "cgroup:   limit %.0f MiB, peak usage %.1f MiB, failcnt %d, oom kills %d\n",
			mib(r.limit), mib(r.cg.peak), r.cg.failcnt, r.cg.oomKills)
	} else {
		b.WriteString("cgroup:   no limit\n")
	}
	return b.String()
}

func mib(v int64) float64 { return float64(v) / (1 << 20) }

func measure(o options) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "postroom-membench-")
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	smtpAddr, err := writeConfig(dir)
	if err != nil {
		return nil, err
	}

	var cg *cgroup
	if o.limit > 0 {
		if cg, err = newCgroup(o.limit); err != nil {
			return nil, err
		}
		defer cg.remove()
	}
	// The appliance enters the group before it starts (the shell moves
	// itself, then execs), so every page it ever touches is counted.
	cmd := exec.CommandContext(ctx, o.postroom, "-data", dir, "-log-level", "warn")
	if cg != nil {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", `echo $$ > "$1" && shift && exec "$@"`,
			"sh", cg.procsFile(), o.postroom, "-data", dir, "-log-level", "warn")
	}
	cmd.Stdout = nil
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.postroom, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	pid := cmd.Process.Pid
	if err := waitListening(ctx, smtpAddr, exited); err != nil {
		return nil, err
	}

	if o.prefill > 0 {
		if _, err := runLoad(ctx, o.load, smtpAddr, o.prefill, o.c, 2048); err != nil {
			return nil, fmt.Errorf("prefill: %w", err)
		}
	}

	res := &result{limit: o.limit}
	io0, err := readWriteBytes(pid)
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { res.sample(pid, stop) })
	line, lerr := runLoad(ctx, o.load, smtpAddr, o.n, o.c, o.size)
	close(stop)
	wg.Wait()
	res.loadLine = line
	if io1, err := readWriteBytes(pid); err == nil {
		res.written = io1 - io0
	}
	res.accepted = acceptedBytes(line)
	if cg != nil {
		res.cg = cg.stats()
	}
	if lerr != nil {
		return res, fmt.Errorf("load: %w", lerr)
	}
	return res, nil
}

// writeConfig writes the development config with every listener on a free
// loopback port and returns the SMTP address.
func writeConfig(dir string) (string, error) {
	c := config.DevDefault(dir)
	ports := make([]string, 8)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return "", err
		}
		ports[i] = p
	}
	c.Listen = config.Listeners{SMTP: ports[0], Submission: ports[1], Submissions: ports[2],
		IMAP: ports[3], IMAPS: ports[4], POP3: ports[5], POP3S: ports[6], Web: ports[7]}
	// The load comes from one address at full speed: lift the per-client
	// limits, as a load test of the store, not of the limits, needs.
	c.MaxConnections = 1000
	return c.Listen.SMTP, c.Save(filepath.Join(dir, config.ConfigFile))
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	for i := 0; i < 600; i++ { // 60 s at most
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("the appliance exited before it served (its errors are above)")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the appliance did not listen on %s within 60 s", addr)
}

// runLoad runs postroom-load and returns its summary line.
func runLoad(ctx context.Context, bin, addr string, n, c, size int) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "-smtp", addr, "-to", config.DemoUser,
		"-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-size", strconv.Itoa(size)).CombinedOutput()
	line := strings.TrimSpace(string(out))
	if err != nil {
		return line, fmt.Errorf("%s: %w: %s", bin, err, line)
	}
	return line, nil
}

// acceptedBytes reads "sent N messages of S bytes" from postroom-load's line.
func acceptedBytes(line string) int64 {
	var n, size int64
	if _, err := fmt.Sscanf(line, "sent %d messages of %d bytes", &n, &size); err != nil {
		return 0
	}
	return n * size
}

// sample reads the process's memory every 100 ms until stop closes.
func (r *result) sample(pid int, stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if m, err := readStatus(pid); err == nil {
			r.rssPeak = max(r.rssPeak, m["VmRSS"])
			r.anonPeak = max(r.anonPeak, m["RssAnon"])
			r.filePeak = max(r.filePeak, m["RssFile"]+m["RssShmem"])
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// readStatus returns the "kB" fields of /proc/PID/status in bytes.
func readStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err == nil {
			out[k] = n << 10
		}
	}
	return out, sc.Err()
}

func readWriteBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, fmt.Errorf("read /proc/%d/io: %w", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no write_bytes in /proc/PID/io")
}

// parseSize reads 200M, 1G, 512K or a plain number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 200M", s)
	}
	return v * mult, nil
}
