package storage_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// The kill test runs deliveries in a child process (this test binary, re-run
// with POSTROOM_KILL_CHILD set), which prints "ack N" after each Deliver
// returns. The parent SIGKILLs it mid-load, reopens the store, runs Check,
// and requires every acknowledged message to be there.
const killChildEnv = "POSTROOM_KILL_CHILD"

func TestKillChildProcess(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestKillDuringDelivery")
	}
	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	a, err := st.Account("a@example.test")
	if err != nil {
		a, err = st.CreateAccount("a@example.test", "password-a")
		if err != nil {
			fmt.Println("account:", err)
			os.Exit(3)
		}
	}
	base, _ := strconv.Atoi(os.Getenv("POSTROOM_KILL_BASE"))
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := base + int(next.Add(1))
				size := 2 << 10
				if i%50 == 0 {
					size = 3 << 20 // a staged body now and then
				}
				body := strings.Replace(message(size, i), "Subject: message", "Subject: kill", 1)
				if _, err := st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}}, strings.NewReader(body)); err != nil {
					fmt.Println("deliver:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d\n", i)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestKillDuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	dir := t.TempDir()
	acked := map[int]bool{}
	base := 0
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChildProcess$", "-test.v=false")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir, "POSTROOM_KILL_BASE="+strconv.Itoa(base))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		killAt := 150 + 100*round
		killed := false
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "ack "); ok {
				v, _ := strconv.Atoi(id)
				acked[v] = true
				if v > base {
					base = v
				}
				n++
				if n == killAt && !killed {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			} else if !strings.HasPrefix(line, "PASS") && !strings.HasPrefix(line, "ok") && line != "" {
				t.Logf("child: %s", line)
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child stopped after %d acks before the kill", round, n)
		}
		base += 1000 // ids in flight at the kill are never reused

		st2, err := storage.Open(storage.Options{Dir: dir})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := st2.Check(context.Background()); err != nil {
			t.Fatalf("round %d: check after kill: %v", round, err)
		}
		a, err := st2.Account("a@example.test")
		if err != nil {
			t.Fatal(err)
		}
		in, _ := st2.Mailbox(a.ID, "INBOX")
		msgs, err := st2.Messages(a.ID, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		present := map[int]bool{}
		for _, m := range msgs {
			obj, err := st2.Object(m.Object)
			if err != nil {
				t.Fatal(err)
			}
			var id int
			fmt.Sscanf(obj.Envelope.Subject, "kill %d", &id)
			present[id] = true
		}
		for id := range acked {
			if !present[id] {
				t.Errorf("round %d: acknowledged message %d lost", round, id)
			}
		}
		t.Logf("round %d: %d acknowledged in total, %d stored", round, len(acked), len(msgs))
		if err := st2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDiskFull fills a small tmpfs: deliveries must start failing with
// ErrDiskFull before Badger itself runs out of space, the store must stay
// consistent, and everything accepted must survive a reopen.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })

	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	var full error
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		size := 512 << 10
		if i%7 == 0 {
			size = 2 << 20 // staged path too
		}
		_, err := st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}},
			strings.NewReader(message(size, i)))
		if err != nil {
			full = err
			break
		}
		accepted++
	}
	if !errors.Is(full, storage.ErrDiskFull) {
		t.Fatalf("after %d messages: got %v, want ErrDiskFull", accepted, full)
	}
	// Still full: the same refusal again, and nothing half-written.
	if _, err := st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}},
		strings.NewReader(message(2<<20, -1))); !errors.Is(err, storage.ErrDiskFull) {
		t.Errorf("second delivery on a full disk: %v", err)
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatalf("check when full: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = storagetest.OpenOptions(t, storage.Options{Dir: dir})
	in := inbox(t, st, a.ID)
	if int(in.Messages) != accepted {
		t.Fatalf("reopened: %d messages, accepted %d", in.Messages, accepted)
	}
	t.Logf("accepted %d messages before the disk-full refusal", accepted)
}
