package backup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"postroom/appliance/config"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestMeasure measures backup and restore of a large store for
// docs/BENCHMARKS.md. It runs only when asked:
//
//	POSTROOM_MEASURE_BACKUP=100000 POSTROOM_MEASURE_DIR=/var/tmp/m go test -run TestMeasure -v -timeout 2h ./appliance/backup
//
// Each phase (fill, full backup, 1,000 new messages and an incremental
// backup proven on the kept restore, 1,000 more and an incremental proven
// by restoring the whole chain as before (incrwhole), restore) runs in its
// own process, so that its peak RSS is its own (getrusage's maxrss).
// POSTROOM_MEASURE_PHASES (comma-separated) runs some of them only. The
// disk's own speed is dd's, in the same folder.
func TestMeasure(t *testing.T) {
	if ph := os.Getenv("POSTROOM_MEASURE_PHASE"); ph != "" {
		measurePhase(t, ph)
		return
	}
	n, _ := strconv.Atoi(os.Getenv("POSTROOM_MEASURE_BACKUP"))
	if n == 0 {
		t.Skip("set POSTROOM_MEASURE_BACKUP=messages (and POSTROOM_MEASURE_DIR) to measure")
	}
	dir := os.Getenv("POSTROOM_MEASURE_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	phases := []string{"fill", "full", "incr", "incrwhole", "restore"}
	if p := os.Getenv("POSTROOM_MEASURE_PHASES"); p != "" {
		phases = strings.Split(p, ",")
	}
	if phases[0] == "fill" {
		os.RemoveAll(dir)
		os.MkdirAll(filepath.Join(dir, "target"), 0o700)
	}
	for _, ph := range phases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMeasure$", "-test.v", "-test.timeout=3h")
		cmd.Env = append(os.Environ(), "POSTROOM_MEASURE_PHASE="+ph, "POSTROOM_MEASURE_DIR="+dir, fmt.Sprintf("POSTROOM_MEASURE_N=%d", n))
		out, err := cmd.CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "MEASURE") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Log(strings.TrimSpace(l))
			}
		}
		if err != nil {
			t.Fatalf("phase %s: %v\n%s", ph, err, out)
		}
	}
	for _, c := range [][]string{
		{"sh", "-c", "dd if=/dev/zero of=" + filepath.Join(dir, "dd") + " bs=1M count=1024 conv=fdatasync 2>&1 | tail -1"},
		{"sh", "-c", "echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; dd if=" + filepath.Join(dir, "dd") + " of=/dev/null bs=1M 2>&1 | tail -1"},
	} {
		out, _ := exec.Command(c[0], c[1:]...).CombinedOutput()
		t.Logf("MEASURE dd: %s", strings.TrimSpace(string(out)))
	}
	os.Remove(filepath.Join(dir, "dd"))
}

// maxRSS is the peak resident set (getrusage) and the peak anonymous
// memory (RssAnon, sampled every 50 ms): Badger's memory-mapped files
// count in the first, and the kernel takes those pages back when it needs
// them, so the second is what a 512 MB board must hold.
func maxRSS() string {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return fmt.Sprintf("%.0f MiB (anonymous: %.0f MiB)", float64(ru.Maxrss)/1024, float64(peakAnon.Load())/1024)
}

var peakAnon atomic.Int64 // KiB

// sampleAnon records the peak RssAnon of this process until it ends.
func sampleAnon() {
	go func() {
		for {
			b, err := os.ReadFile("/proc/self/status")
			if err != nil {
				return
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					if kb > peakAnon.Load() {
						peakAnon.Store(kb)
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

// peakHeap writes a heap profile (go tool pprof) to path each time the
// heap in use grows by a twentieth, so the last one written is the peak's.
func peakHeap(path string) {
	go func() {
		var max uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max+max/20 {
				max = ms.HeapInuse
				if f, err := os.Create(path); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
}

func measurePhase(t *testing.T, ph string) {
	sampleAnon()
	if hp := os.Getenv("POSTROOM_MEASURE_HEAP"); hp != "" {
		// POSTROOM_MEASURE_HEAP=prefix: the peak's heap profile of each
		// phase goes to prefix-PHASE.pprof.
		peakHeap(hp + "-" + ph + ".pprof")
	}
	if lim, _ := strconv.Atoi(os.Getenv("POSTROOM_MEASURE_MEMLIMIT")); lim > 0 {
		// POSTROOM_MEASURE_MEMLIMIT=128: the soft memory limit (MiB) that
		// cmd/postroom sets on the box.
		debug.SetMemoryLimit(int64(lim) << 20)
	}
	dir := os.Getenv("POSTROOM_MEASURE_DIR")
	n, _ := strconv.Atoi(os.Getenv("POSTROOM_MEASURE_N"))
	ctx := context.Background()
	storeDir := filepath.Join(dir, "data", "store")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if ph == "restore" {
		key, err := ParseRecoveryKey(string(must(os.ReadFile(filepath.Join(dir, "recovery.key")))))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := RestoreBox(ctx, RestoreOptions{DataDir: filepath.Join(dir, "restored"), Target: Folder{Dir: filepath.Join(dir, "target")}, Key: key, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		var size int64
		for _, name := range res.Backup.Chain {
			fi, _ := os.Stat(filepath.Join(dir, "target", name))
			size += fi.Size()
		}
		t.Logf("MEASURE restore (full + incremental, with its proof: Verify and Check): %d messages, %.0f MB of backup files in %s: %.1f MB/s, peak RSS %s", res.Messages, float64(size)/1e6, d.Round(time.Millisecond), float64(size)/1e6/d.Seconds(), maxRSS())
		return
	}
	st, err := storage.Open(storage.Options{Dir: storeDir, Logger: log, NoGC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	incr := ph == "incr" || ph == "incrwhole"
	if ph == "fill" || incr {
		count := n
		if incr {
			count = 1000
		}
		var acct storage.Account
		if ph == "fill" {
			acct = storagetest.Account(t, st, "office@example.com")
		} else {
			acct, _ = st.Account("office@example.com")
		}
		start := time.Now()
		var wg sync.WaitGroup
		jobs := make(chan int)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					// Sizes from 2 KB to about 60 KB, 16 KB on average.
					size := 2000 + (i*7919)%30000
					if i%10 == 0 {
						size *= 3
					}
					body := fmt.Sprintf("From: s%d@example.net\r\nSubject: message %d\r\n\r\n", i, i) + strings.Repeat(fmt.Sprintf("line %d of a message body text.\r\n", i), size/30)
					if _, err := st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: acct.ID}}}, strings.NewReader(body)); err != nil {
						panic(err)
					}
				}
			}()
		}
		for i := 0; i < count; i++ {
			jobs <- i + n*boolInt(incr) + 1000*boolInt(ph == "incrwhole")
		}
		close(jobs)
		wg.Wait()
		s, _ := st.Stats()
		t.Logf("MEASURE %s: %d messages delivered in %s; store: %d messages, %.0f MB of mail, LSM %.0f MB, value log %.0f MB", ph, count, time.Since(start).Round(time.Millisecond), s.Messages, float64(s.Bytes)/1e6, float64(s.LSMBytes)/1e6, float64(s.VLogBytes)/1e6)
		if ph == "fill" {
			secret, public, _ := NewRecoveryKey()
			os.WriteFile(filepath.Join(dir, "recovery.key"), []byte(secret), 0o600)
			os.WriteFile(filepath.Join(dir, "recipient"), []byte(public), 0o600)
			return
		}
	}
	cfg := config.DevDefault(filepath.Join(dir, "data"))
	cfg.Hostname = "measure.example.com"
	cfg.Backup.Target, cfg.Backup.Folder, cfg.Backup.Recipient = "folder", filepath.Join(dir, "target"), string(must(os.ReadFile(filepath.Join(dir, "recipient"))))
	clock := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	switch ph {
	case "full":
		// A full backup whatever ran before: the chain starts again on an
		// empty target (the backups of an earlier run, made at the same
		// clock, would confuse the rotation).
		os.Remove(filepath.Join(dir, "data", stateFile))
		os.RemoveAll(filepath.Join(dir, "target"))
		os.MkdirAll(filepath.Join(dir, "target"), 0o700)
	case "incr":
		clock = clock.Add(24 * time.Hour)
	case "incrwhole":
		clock = clock.Add(48 * time.Hour)
	}
	keep := int64(0)
	if ph == "incrwhole" {
		keep = -1 // as before the kept restore: the whole chain is restored
	}
	m, err := New(Options{Store: st, DataDir: filepath.Join(dir, "data"), Config: func() config.Config { return cfg }, Logger: log, Now: func() time.Time { return clock }, KeepScratchFree: keep})
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	var mu sync.Mutex
	m.o.Progress = func(p Progress) {
		mu.Lock()
		phases = append(phases, fmt.Sprintf("%s@%s", p.Step, time.Now().Format("15:04:05.000")))
		mu.Unlock()
	}
	start := time.Now()
	var verifyAt time.Time
	m.o.Progress = func(p Progress) {
		if p.Step == "testing the restore" && verifyAt.IsZero() {
			verifyAt = time.Now()
		}
	}
	res, err := m.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	write := verifyAt.Sub(start)
	t.Logf("MEASURE %s %s backup: %d records (%d written), file %.0f MB; writing %s (%.1f MB/s), proving it (%s: read back, restore, Verify, Check) %s, total %s; peak RSS %s",
		ph, res.Kind, res.Records, res.Changed, float64(res.Size)/1e6, write.Round(time.Millisecond), float64(res.Size)/1e6/write.Seconds(), res.Proof, (total - write).Round(time.Millisecond), total.Round(time.Millisecond), maxRSS())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
