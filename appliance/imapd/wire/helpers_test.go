package wire

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// session reads every command of input the way a server would, and
// returns one line per command: the command written back, or the answer
// to a rejected one. conts counts continuation requests sent.
type session struct {
	out   []string
	conts int
	fatal error
}

func readAll(t testing.TB, input string, opt Options) session {
	t.Helper()
	var s session
	if opt.Continue == nil {
		opt.Continue = func() error { s.conts++; return nil }
	}
	r := NewReader(bufio.NewReader(strings.NewReader(input)), opt)
	for range 1000 {
		cmd, err := r.ReadCommand()
		var ce *CommandError
		switch {
		case err == nil:
			s.out = append(s.out, format(cmd))
		case errors.As(err, &ce):
			var b bytes.Buffer
			w := NewWriter(&b, 0)
			w.Error(ce)
			w.Flush()
			s.out = append(s.out, strings.TrimSuffix(b.String(), "\r\n"))
		default:
			s.fatal = err
			return s
		}
	}
	t.Fatal("more than 1000 commands")
	return s
}

// format writes cmd back without its line end.
func format(cmd *Command) string {
	var b bytes.Buffer
	w := NewWriter(&b, 0)
	w.Command(cmd)
	w.Flush()
	return strings.TrimSuffix(b.String(), "\r\n")
}

// args parses one command line and returns its arguments.
func args(t testing.TB, line string) (*Command, error) {
	t.Helper()
	r := NewReader(bufio.NewReader(strings.NewReader(line+"\r\n")), Options{
		Continue: func() error { return nil },
	})
	return r.ReadCommand()
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
