package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"postroom/internal/imapstress"
)

// runIMAP is `postroom-load imap`: the IMAP stress mix of internal/imapstress
// against a server on this machine, reporting commands per second, errors
// by kind and the first error's transcript; it fails if there was any error.
//
//	postroom-load imap -imap 127.0.0.1:1143 -user demo@example.test -c 10 -shared -duration 30s
//
// The password comes from -password or, kept off the command line, from
// the environment variable POSTROOM_LOAD_PASSWORD.
func runIMAP(args []string) error {
	fs := flag.NewFlagSet("postroom-load imap", flag.ContinueOnError)
	addr := fs.String("imap", "127.0.0.1:1143", "IMAP address (plain, LOGIN allowed: loopback only)")
	user := fs.String("user", "demo@example.test", "account every client logs in to")
	password := fs.String("password", "", "its password (default $POSTROOM_LOAD_PASSWORD)")
	clients := fs.Int("c", 10, "concurrent clients (1..1000)")
	shared := fs.Bool("shared", false, "all clients on one mailbox (default: a mailbox each)")
	duration := fs.Duration("duration", 10*time.Second, "stop after this long (at most 1h)")
	n := fs.Int64("n", 1_000_000, "stop after this many commands")
	seed := fs.Uint64("seed", 1, "seed of the random mix (client i draws from seed, i)")
	prefix := fs.String("prefix", "stress", "mailbox names start with this")
	messages := fs.Int("messages", 20, "messages each main mailbox starts with")
	maxMessages := fs.Int("max-messages", 100, "a client stops adding to a mailbox this full")
	weights := fs.String("weights", "", "override the mix, e.g. idle=0,move=6 (names: "+strings.Join(opNames(), " ")+")")
	all := fs.Bool("all", false, "print the first error of every kind with its transcript")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	if *clients <= 0 || *clients > 1000 || *duration <= 0 || *duration > time.Hour || *n <= 0 {
		return errors.New("-c must be 1..1000, -duration up to 1h, -n positive")
	}
	if *password == "" {
		*password = os.Getenv("POSTROOM_LOAD_PASSWORD")
	}
	w, err := parseWeights(*weights)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := imapstress.Run(ctx, imapstress.Options{
		Addr: *addr, User: *user, Password: *password, Clients: *clients, Shared: *shared,
		Duration: *duration, Commands: *n, Seed: *seed, Prefix: *prefix,
		Messages: *messages, MaxMessages: *maxMessages, Weights: w,
	})
	if err != nil {
		return err
	}
	res.Report(os.Stdout)
	if *all {
		res.ReportKinds(os.Stdout)
	}
	if k := res.ErrorCount(); k > 0 {
		return fmt.Errorf("%d errors", k)
	}
	return nil
}

func parseWeights(s string) (map[string]int, error) {
	if s == "" {
		return nil, nil
	}
	w := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if _, known := imapstress.DefaultWeights[k]; !ok || err != nil || n < 0 || !known {
			return nil, fmt.Errorf("-weights: %q is not name=weight with a name of the mix", kv)
		}
		w[k] = n
	}
	return w, nil
}

func opNames() []string {
	var names []string
	for k := range imapstress.DefaultWeights {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
