// Command postroomctl administers a Postroom appliance from a terminal on
// the box: accounts, passwords, aliases, quotas, POP3 retention, domains,
// host name, smarthost, the outgoing queue, and the consistency check of
// the mail store.
//
// Every change is an operation of the admin layer (appliance/admin), the
// same the web page uses. While the appliance runs it holds the store, and
// postroomctl sends the operations over its control socket
// (DATA/control.sock; only root and the appliance's own user may connect);
// while it is stopped, postroomctl opens the store itself and runs the same
// operations in-process, holding the data folder's lock meanwhile so the
// appliance does not start under it.
//
// Map of this folder:
//
//	main.go     run: flags, dispatch, usage text, exit codes
//	remote.go   reaching the admin layer: the control socket, or the store
//	store.go    finding the data folder, opening the store, its locks
//	users.go    users list/add/remove/rename/passwd/quota/retention/admin, password input
//	alias.go    alias add/remove/list
//	apppass.go  app passwords add/list/revoke/only, users devices
//	cert.go     the TLS certificate: show, upload, remove, renew
//	settings.go domains, host name, smarthost
//	mail.go     mailboxes, messages
//	check.go    fsck, stats
//	export.go   export, import (mbox, Maildir)
//	queue.go    the outgoing queue
//	format.go   sizes (500M, 2G), tables, making mail header text safe for a terminal
//	sys_unix.go the flock tests and lock; disk space of the store's files
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"postroom/appliance/admin"
	"postroom/storage"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the command ran and failed, or fsck found problems
	exitUsage   = 2 // bad arguments, or the appliance is running
	exitAborted = 130
)

// usageText is the help; a mistake on the command line shows only its
// synopsis, the part between "Usage:" and the notes.
const usageText = introText + synopsisText + apppassSynopsis + settingsSynopsis + certSynopsis + queueSynopsis + hwSynopsis + exportSynopsis + backupSynopsis + updateSynopsis + restartSynopsis + moveSynopsis + notesText // apppass.go, settings.go, queue.go, hw.go, export.go

const introText = `postroomctl administers a Postroom appliance: accounts, passwords, addresses,
quotas, domains, settings, the outgoing queue, and the consistency check of the store.

It works on a running appliance (through its control socket, DATA/control.sock)
and on a stopped one (opening its store directly); the commands are the same.

`
const synopsisText = `Usage:
  postroomctl [-data DIR] COMMAND [ARGUMENTS]

  -data DIR   the appliance's data folder (it holds config.json and store/);
              default: $POSTROOM_DATA, else ./data

Accounts (NAME is the login, usually the primary address, e.g. alice@example.org):
  users list                           every account: addresses, quota, usage, messages
  users add NAME [-password-stdin]     create an account with INBOX, Sent, Drafts, ...
  users passwd NAME [-password-stdin]  set a new password
  users remove NAME [-yes]             delete an account and ALL its mail (asks first)
  users rename NAME NEWNAME [-keep-old]  change the login; -keep-old: mail to the old
                                       name still arrives (an alias)
  users quota NAME SIZE                limit the account's mail: 500M, 2G, ... 0 = unlimited
  users retention NAME DAYS            POP3: delete INBOX messages DAYS days after their
                                       first download; 0 = keep them forever
  users admin NAME on|off              an administrator may confirm a factory reset
                                       on the web page

Addresses:
  alias add ADDRESS NAME [-move]       deliver mail for ADDRESS to account NAME;
                                       ADDRESS "@example.org" catches every address of the
                                       domain that no account or alias claims; -move takes
                                       it from the account that has it now
  alias remove ADDRESS                 stop delivering mail for ADDRESS
  alias list                           every address and the account it delivers to

Mail:
  mailboxes NAME                       the account's folders: counts, UIDVALIDITY, UIDNEXT
  messages NAME [MAILBOX] [-n N]       a folder's messages (default INBOX): UID, date,
                                       size, flags, sender, subject; -n N: only the last N

Store:
  stats                                counts and sizes, in total and per account
  fsck                                 recount and verify everything in the store;
                                       exit status 1 when it finds a problem
  help                                 all of this help, with examples
`

const notesText = `
Passwords: with -password-stdin, postroomctl reads the password from the first line
of standard input. Otherwise it asks twice on a terminal (nothing is shown while you
type); without a terminal it reads one line from standard input. If that gives no
password, postroomctl makes up a random one and prints it once: write it down.

Sizes: a number of bytes, or with K, M, G or T (powers of 1024): 500M, 1.5G.

Exit status: 0 done; 1 the command failed (or fsck found problems);
2 bad arguments.

Examples:
  postroomctl -data /var/lib/postroom users add alice@example.org
  echo 'correct horse battery' | postroomctl users passwd alice@example.org -password-stdin
  postroomctl alias add @example.org alice@example.org
  postroomctl users quota alice@example.org 2G
  postroomctl messages alice@example.org INBOX -n 10
`

// usageError is a mistake in the command line: run prints it, then the usage
// text, and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// errAborted ends a command the user declined or interrupted; run prints
// nothing more than the command did.
var errAborted = errors.New("aborted")

// ctl is one invocation: the parsed flags, the streams, and the store once a
// command opened it.
type ctl struct {
	data          string // data folder
	passwordStdin bool
	yes           bool
	last          int // messages -n
	keepOld       bool
	move          bool   // alias add -move
	port          int    // settings smarthost -port
	tls           string // settings smarthost -tls
	login         string // settings smarthost -user
	format        string // export/import -format

	stdin  io.Reader
	in     *bufio.Reader // line reader over stdin, made on first use
	stdout io.Writer
	stderr io.Writer

	st     *storage.Store // the store, when the appliance is stopped
	unlock func()         // lets go of the data folder's lock
	remote *admin.Client  // the control socket, when it runs
	doer   admin.Doer     // remote, or the admin layer over st
}

// A command is one line of the usage text. flags lists the command-specific
// flags it accepts; run rejects the others.
type command struct {
	name  string // "users add"
	min   int    // positional arguments after the name
	max   int
	flags []string
	run   func(c *ctl, args []string) error
}

var commands = []command{
	{"users list", 0, 0, nil, (*ctl).usersList},
	{"users add", 1, 1, []string{"password-stdin"}, (*ctl).usersAdd},
	{"users passwd", 1, 1, []string{"password-stdin"}, (*ctl).usersPasswd},
	{"users remove", 1, 1, []string{"yes"}, (*ctl).usersRemove},
	{"users rename", 2, 2, []string{"keep-old"}, (*ctl).usersRename},
	{"users quota", 2, 2, nil, (*ctl).usersQuota},
	{"users retention", 2, 2, nil, (*ctl).usersRetention},
	{"users admin", 2, 2, nil, (*ctl).usersAdmin},
	{"alias add", 2, 2, []string{"move"}, (*ctl).aliasAdd},
	{"alias remove", 1, 1, nil, (*ctl).aliasRemove},
	{"alias list", 0, 0, nil, (*ctl).aliasList},
	{"mailboxes", 1, 1, nil, (*ctl).mailboxes},
	{"messages", 1, 2, []string{"n"}, (*ctl).messages},
	{"stats", 0, 0, nil, (*ctl).stats},
	{"fsck", 0, 0, nil, (*ctl).fsck},
	{"export", 2, 3, []string{"format"}, (*ctl).export},
	{"import", 3, 3, []string{"format"}, (*ctl).importMail},
}

// run is the whole program; main only supplies the process's arguments and
// streams, so tests call run in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	c := &ctl{stdin: stdin, stdout: stdout, stderr: stderr}
	cmd, pos, err := c.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "postroomctl: %v\n\n%s", err, synopsisText)
		return exitUsage
	}

	err = cmd.run(c, pos)
	if cerr := c.closeAdmin(); cerr != nil && err == nil {
		err = cerr
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "postroomctl: %s: %v\n\n%s", cmd.name, err, synopsisText)
		return exitUsage
	case errors.Is(err, errRunning):
		fmt.Fprintf(stderr, "postroomctl: %s: the appliance is running and holds %s, and this command needs the store to itself: stop the appliance first\n", cmd.name, storeDir(c.data))
		return exitFailed
	case errors.Is(err, errAborted):
		return exitFailed
	case errors.Is(err, errProblems):
		return exitFailed // fsck printed them
	}
	fmt.Fprintf(stderr, "postroomctl: %s: %v\n", cmd.name, err)
	return exitFailed
}

// parse reads the flags, which may come anywhere on the line, and finds the
// command. It returns flag.ErrHelp for "help", -h and -help.
func (c *ctl) parse(args []string) (command, []string, error) {
	fs := flag.NewFlagSet("postroomctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error and the usage text
	def := os.Getenv("POSTROOM_DATA")
	if def == "" {
		def = "./data"
	}
	fs.StringVar(&c.data, "data", def, "")
	fs.BoolVar(&c.passwordStdin, "password-stdin", false, "")
	fs.BoolVar(&c.yes, "yes", false, "")
	fs.IntVar(&c.last, "n", 0, "")
	fs.BoolVar(&c.keepOld, "keep-old", false, "")
	fs.BoolVar(&c.move, "move", false, "")
	fs.IntVar(&c.port, "port", 0, "")
	fs.StringVar(&c.tls, "tls", "", "")
	fs.StringVar(&c.login, "user", "", "")
	fs.StringVar(&c.format, "format", admin.FormatMbox, "")

	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return command{}, nil, err
	}
	if len(pos) == 0 {
		return command{}, nil, usagef("no command given")
	}
	if pos[0] == "help" {
		return command{}, nil, flag.ErrHelp
	}

	var cmd command
	n := 0
	for _, cc := range commands {
		words := strings.Fields(cc.name)
		if len(pos) >= len(words) && strings.Join(pos[:len(words)], " ") == cc.name {
			cmd, n = cc, len(words)
			break
		}
	}
	if cmd.run == nil {
		return command{}, nil, unknownCommand(pos)
	}
	pos = pos[n:]
	switch {
	case len(pos) < cmd.min:
		return command{}, nil, usagef("%s: missing arguments", cmd.name)
	case len(pos) > cmd.max:
		return command{}, nil, usagef("%s: too many arguments: %s", cmd.name, strings.Join(pos[cmd.max:], " "))
	}

	var bad []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "data" {
			return
		}
		for _, ok := range cmd.flags {
			if f.Name == ok {
				return
			}
		}
		bad = append(bad, "-"+f.Name)
	})
	if len(bad) > 0 {
		return command{}, nil, usagef("%s does not take %s", cmd.name, strings.Join(bad, ", "))
	}
	if c.last < 0 {
		return command{}, nil, usagef("-n must be 0 (all) or more")
	}
	return cmd, pos, nil
}

func unknownCommand(pos []string) error {
	switch pos[0] {
	case "users", "alias", "domains", "queue", "apppass", "move", "cert":
		if len(pos) == 1 {
			return usagef("%s: which one? (see the list below)", pos[0])
		}
		return usagef("unknown command %q", pos[0]+" "+pos[1])
	}
	return usagef("unknown command %q", pos[0])
}

// parseInterleaved parses flags that appear anywhere among the positional
// arguments ("users add alice -password-stdin"), which the flag package alone
// does not: it stops at the first positional argument. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	return pos, nil
}
