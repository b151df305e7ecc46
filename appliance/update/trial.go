package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"time"
)

// BootFS is the boot partition (p1, FAT): the folder it is mounted on, on
// the board (DirBoot); its file system inside an image file, in tests
// (image/'s BootFS). Names are slash-separated and relative.
type BootFS interface {
	ReadFile(name string) ([]byte, error) // fs.ErrNotExist when missing
	// WriteFile replaces name with data, as durably as the medium allows
	// (the board: a temporary file, fsync, rename).
	WriteFile(name string, data []byte) error
	// Create opens name for writing from the start, making it or its
	// folder; for boot files too big to hold in memory.
	Create(name string) (io.WriteCloser, error)
	Open(name string) (io.ReadCloser, error)
}

// StateFile is the update state on the boot partition. It lives beside
// cmdline.txt, on the card the box boots from, because what it decides
// (which root to boot) belongs with the card, whatever data disk is used.
const StateFile = "postroom-update.json"

// StagedDir holds an update's boot files on the boot partition until the
// trial boot is kept.
const StagedDir = "postroom-next"

// Partitions of the two roots.
const (
	RootA = 2
	RootB = 3
)

// Other returns the root partition that is not part.
func Other(part int) int {
	if part == RootA {
		return RootB
	}
	return RootA
}

// MaxTrialBoots is how many times a new root may start on trial: a second
// start means the first ended without a verdict (a crash, a hang the
// watchdog reset, a power cut), and the old root comes back.
const MaxTrialBoots = 1

// Results of an update, in State.Last.Result.
const (
	ResultInstalling   = "installing"    // being written to the spare root
	ResultNotInstalled = "not installed" // the write failed or was cut short: the old version runs on
	ResultTrying       = "on trial"      // installed, booting once to test itself
	ResultKept         = "kept"          // its self-test passed: it is the version now
	ResultRolledBack   = "rolled back"   // its self-test failed: the old version runs
)

// State is the update state (StateFile).
type State struct {
	// Committed is the root the box boots when no trial is under way.
	Committed int `json:"committed"`
	// Trial is the root being tried (0: none); Tries counts its starts.
	Trial int `json:"trial,omitempty"`
	Tries int `json:"tries,omitempty"`
	// Roots says what each root partition holds, by partition number.
	Roots map[int]Release `json:"roots,omitempty"`
	// Last is the last update's outcome (zero: none yet).
	Last Outcome `json:"last,omitzero"`
	// Snapshot is the store snapshot taken before the trial (a file on
	// the data disk); RestorePending says a rollback happened and the old
	// programs must look whether they can read the store (else restore
	// it from Snapshot).
	Snapshot       string `json:"snapshot,omitempty"`
	RestorePending bool   `json:"restore_pending,omitempty"`
}

// Outcome is what became of an update.
type Outcome struct {
	From   string    `json:"from"`             // the version before
	To     string    `json:"to"`               // the version installed
	Result string    `json:"result"`           // ResultTrying, ResultKept, ResultRolledBack
	Reason string    `json:"reason,omitempty"` // why it was rolled back, in words
	Time   time.Time `json:"time"`
}

// Summary is the outcome in words for the status page and the display.
func (o Outcome) Summary() string {
	switch o.Result {
	case "":
		return "no update yet"
	case ResultInstalling:
		return fmt.Sprintf("installing version %s", o.To)
	case ResultNotInstalled:
		s := fmt.Sprintf("version %s was not installed", o.To)
		if o.Reason != "" {
			s += " (" + o.Reason + ")"
		}
		return s + fmt.Sprintf("; version %s runs on", o.From)
	case ResultTrying:
		return fmt.Sprintf("updating to %s: testing the new version", o.To)
	case ResultKept:
		return fmt.Sprintf("updated from %s to %s", o.From, o.To)
	case ResultRolledBack:
		s := fmt.Sprintf("update failed, rolled back to %s (version %s", o.From, o.To)
		if o.Reason != "" {
			s += ": " + o.Reason
		}
		return s + ")"
	}
	return o.Result
}

// ReadState reads the state; a missing file is the state of a box that
// has never been updated and runs from running.
func ReadState(b BootFS, running int) (State, error) {
	data, err := b.ReadFile(StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Committed: running}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("update state %s: damaged: %w", StateFile, err)
	}
	if s.Committed != RootA && s.Committed != RootB {
		return State{}, fmt.Errorf("update state %s: damaged: committed root %d", StateFile, s.Committed)
	}
	return s, nil
}

func writeState(b BootFS, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := b.WriteFile(StateFile, append(data, '\n')); err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	return nil
}

var cmdlineRoot = regexp.MustCompile(`(root=PARTUUID=[0-9a-fA-F]{8}-)([0-9a-fA-F]{2})`)

// CmdlineRoot returns the root partition cmdline.txt names.
func CmdlineRoot(b BootFS) (int, error) {
	data, err := b.ReadFile("cmdline.txt")
	if err != nil {
		return 0, fmt.Errorf("cmdline.txt: %w", err)
	}
	m := cmdlineRoot.FindSubmatch(data)
	if m == nil {
		return 0, errors.New("cmdline.txt names no root=PARTUUID=")
	}
	n, _ := strconv.ParseUint(string(m[2]), 16, 8)
	return int(n), nil
}

// setCmdlineRoot points cmdline.txt's root= at partition part, changing
// nothing else of the line: the Pi's firmware reads it at the next boot.
func setCmdlineRoot(b BootFS, part int) error {
	data, err := b.ReadFile("cmdline.txt")
	if err != nil {
		return fmt.Errorf("cmdline.txt: %w", err)
	}
	if !cmdlineRoot.Match(data) {
		return errors.New("cmdline.txt names no root=PARTUUID=")
	}
	out := cmdlineRoot.ReplaceAll(data, []byte(fmt.Sprintf("${1}%02x", part)))
	if err := b.WriteFile("cmdline.txt", out); err != nil {
		return fmt.Errorf("cmdline.txt: %w", err)
	}
	return nil
}

// BeginTrial records that root part holds rel, on trial, and points
// cmdline.txt at it: the next boot starts it. The state is written first:
// a power cut between the two writes leaves a trial the old root finds at
// its next start and reports as rolled back, never a new root booted
// without its trial.
func BeginTrial(b BootFS, running int, from Release, rel Release, snapshot string, now time.Time) error {
	s, err := ReadState(b, running)
	if err != nil {
		return err
	}
	if s.Trial != 0 {
		return ErrUpdateActive
	}
	part := Other(running)
	if s.Roots == nil {
		s.Roots = map[int]Release{}
	}
	s.Committed = running
	s.Roots[running] = from
	s.Roots[part] = rel
	s.Trial, s.Tries = part, 0
	s.Snapshot, s.RestorePending = snapshot, false
	s.Last = Outcome{From: from.Version, To: rel.Version, Result: ResultTrying, Time: now}
	if err := writeState(b, s); err != nil {
		return err
	}
	return setCmdlineRoot(b, part)
}

// BeginInstall records, before the first byte of rel is written to the
// spare root, that the spare root holds nothing usable from now on and
// that rel is being installed: a power cut during the write is then
// found by the next start (AtBoot) and reported, and the status never
// names a half-written root's old version.
func BeginInstall(b BootFS, running int, from, rel Release, now time.Time) error {
	s, err := ReadState(b, running)
	if err != nil {
		return err
	}
	if s.Trial != 0 {
		return ErrUpdateActive
	}
	if s.Roots == nil {
		s.Roots = map[int]Release{}
	}
	s.Committed = running
	s.Roots[running] = from
	delete(s.Roots, Other(running))
	s.Last = Outcome{From: from.Version, To: rel.Version, Result: ResultInstalling, Time: now}
	return writeState(b, s)
}

// InstallFailed records that the install begun by BeginInstall did not
// finish (reason, in words): the spare root holds nothing usable, and the
// running version stays.
func InstallFailed(b BootFS, running int, reason string, now time.Time) error {
	s, err := ReadState(b, running)
	if err != nil {
		return err
	}
	if s.Trial != 0 {
		return ErrUpdateActive
	}
	delete(s.Roots, Other(running))
	if s.Last.Result == ResultInstalling {
		s.Last.Result, s.Last.Reason, s.Last.Time = ResultNotInstalled, reason, now
	}
	return writeState(b, s)
}

// Boot is what the init must do at start, from AtBoot.
type Boot int

const (
	BootNormal   Boot = iota // no trial concerns this root
	BootTrial                // this root is on trial: run the self-test
	BootRollBack             // the trial failed: cmdline.txt points back; reboot now
	// BootInterrupted: the box stopped while an update was being written
	// (power cut, crash); the running root is untouched and runs on.
	BootInterrupted
)

// AtBoot is the init's first look at the state, before it starts the
// appliance. On the trial root it counts the start and, past
// MaxTrialBoots, rolls back; on the other root it closes a trial that
// never started (the firmware booted the old root after all).
func AtBoot(b BootFS, running int, now time.Time) (Boot, State, error) {
	s, err := ReadState(b, running)
	if err != nil {
		return BootNormal, s, err
	}
	switch {
	case s.Trial == 0 && s.Last.Result == ResultInstalling:
		// The install never reached BeginTrial: no root was started
		// with it, and the running one is the committed one.
		s.Last.Result, s.Last.Reason, s.Last.Time = ResultNotInstalled, "the box stopped while writing it (power cut or crash)", now
		return BootInterrupted, s, writeState(b, s)
	case s.Trial == 0:
		return BootNormal, s, nil
	case s.Trial == running:
		s.Tries++
		if s.Tries > MaxTrialBoots {
			s, err = rollBack(b, s, "it stopped before finishing its self-test (crash, hang or power cut)", now)
			return BootRollBack, s, err
		}
		return BootTrial, s, writeState(b, s)
	default:
		s, err = rollBack(b, s, "the new version did not start", now)
		return BootNormal, s, err
	}
}

// Keep makes the trial root permanent after its self-test passed: the
// staged boot files are moved into place first, then the state says so.
// cmdline.txt already names this root.
func Keep(b BootFS, running int, now time.Time) (State, error) {
	s, err := ReadState(b, running)
	if err != nil {
		return s, err
	}
	if s.Trial != running {
		return s, fmt.Errorf("update: root %d is not on trial", running)
	}
	if err := installStaged(b); err != nil {
		return s, err
	}
	s.Committed, s.Trial, s.Tries = running, 0, 0
	s.Last.Result, s.Last.Reason, s.Last.Time = ResultKept, "", now
	return s, writeState(b, s)
}

// RollBack points the box back at the committed root after the trial
// root's self-test failed (or it crashed in a loop); the caller reboots.
func RollBack(b BootFS, running int, reason string, now time.Time) (State, error) {
	s, err := ReadState(b, running)
	if err != nil {
		return s, err
	}
	if s.Trial != running {
		return s, fmt.Errorf("update: root %d is not on trial", running)
	}
	return rollBack(b, s, reason, now)
}

func rollBack(b BootFS, s State, reason string, now time.Time) (State, error) {
	// cmdline.txt first: from here on the old root boots, whatever else
	// fails.
	if err := setCmdlineRoot(b, s.Committed); err != nil {
		return s, err
	}
	s.Trial, s.Tries = 0, 0
	s.Last.Result, s.Last.Reason, s.Last.Time = ResultRolledBack, reason, now
	s.RestorePending = s.Snapshot != ""
	return s, writeState(b, s)
}

// Restored clears RestorePending once the old programs have checked the
// store (and restored it from the snapshot if they had to).
func Restored(b BootFS, running int) error {
	s, err := ReadState(b, running)
	if err != nil || !s.RestorePending {
		return err
	}
	s.RestorePending = false
	return writeState(b, s)
}

// installStaged copies the staged boot files (StagedDir/index.json names
// them) into place, each through a temporary name on the board.
func installStaged(b BootFS) error {
	idx, err := b.ReadFile(StagedDir + "/index.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update: staged boot files: %w", err)
	}
	var names []string
	if err := json.Unmarshal(idx, &names); err != nil {
		return fmt.Errorf("update: staged boot files: %w", err)
	}
	buf := make([]byte, copyBuf)
	for _, name := range names {
		if !validBootName(name) {
			return fmt.Errorf("update: staged boot file %q", name)
		}
		if err := copyBoot(b, StagedDir+"/"+name, name, buf); err != nil {
			return fmt.Errorf("update: install %s: %w", name, err)
		}
	}
	return b.WriteFile(StagedDir+"/index.json", []byte("[]\n"))
}

func copyBoot(b BootFS, from, to string, buf []byte) error {
	in, err := b.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := b.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, in, buf); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
