package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"
)

// The control socket: postroomctl on the same machine sends operations to
// the running appliance, which holds the store.
//
// It is a unix stream socket in the data folder (SocketFile), mode 0600 in
// a folder of mode 0700, and the server asks the kernel who connected
// (SO_PEERCRED on Linux) and serves only the appliance's own user and root:
// the file modes keep others out, the check stays if a mode is loosened.
//
// The wire: one JSON object per line each way. A request
// {"op":"account.add","args":{...}} gets {"result":{...}} or
// {"error":{"code":...,"field":...,"message":...}}; a connection may carry
// several requests, one after the other. Who asks is what the kernel says
// of the peer, never what the request claims.

// SocketFile is the control socket's name in the data folder.
const SocketFile = "control.sock"

// Limits of the server.
const (
	maxRequest  = 1 << 20 // one request line
	maxConns    = 16      // connections served at once; more wait in accept
	idleTimeout = 5 * time.Minute
)

type request struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// rawResult is a result as it came over the socket; Call decodes it.
type rawResult json.RawMessage

func unmarshal(raw rawResult, v any) error { return json.Unmarshal(raw, v) }

// opTypes finds an Op's type by its name.
var opTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, op := range ops {
		m[op.OpName()] = reflect.TypeOf(op)
	}
	return m
}()

// decodeOp makes the Op a request names, filled from its arguments.
// Unknown fields are refused, so a misspelt one is not silently ignored.
func decodeOp(req request) (Op, error) {
	t, ok := opTypes[req.Op]
	if !ok {
		return nil, errorf(CodeInvalid, "op", "unknown operation %q", safe(req.Op))
	}
	p := reflect.New(t)
	if len(req.Args) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Args))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p.Interface()); err != nil {
			return nil, errorf(CodeInvalid, "args", "the arguments of %s: %v", req.Op, err)
		}
	}
	return p.Elem().Interface().(Op), nil
}

// Listen makes the control socket at path: a socket file left by a process
// that stopped is removed first (the caller holds the data folder's lock,
// so no live process owns it), and the new one is made mode 0600.
func Listen(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// Server serves an Admin on a control socket.
type Server struct {
	admin *Admin
	log   *slog.Logger
	// allowed decides whether a peer uid may connect; nil: the server's
	// own uid and root.
	allowed func(uid int) bool

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a server of a.
func NewServer(a *Admin, logger *slog.Logger) *Server {
	if logger == nil {
		logger = a.log
	}
	return &Server{admin: a, log: logger, conns: map[net.Conn]struct{}{}}
}

func (s *Server) mayConnect(uid int) bool {
	if s.allowed != nil {
		return s.allowed(uid)
	}
	return uid == 0 || uid == os.Getuid()
}

// Serve accepts connections on ln until Shutdown; it returns nil then.
func (s *Server) Serve(ln *net.UnixListener) error {
	sem := make(chan struct{}, maxConns)
	defer ln.Close()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("control socket: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		sem <- struct{}{}
		go func() {
			defer func() {
				<-sem
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
				s.wg.Done()
			}()
			s.serveConn(c)
		}()
	}
}

// Shutdown stops accepting, lets requests being served finish until ctx
// ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	// Idle connections wait for a next request: wake them so they end.
	s.mu.Lock()
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// serveConn answers the requests of one connection.
func (s *Server) serveConn(c *net.UnixConn) {
	enc := json.NewEncoder(c)
	uid, user, err := peer(c)
	if err != nil || !s.mayConnect(uid) {
		if err == nil {
			err = fmt.Errorf("uid %d is neither root nor the appliance's user", uid)
		}
		s.log.Warn("control socket: connection refused", "err", err)
		enc.Encode(response{Error: errorf(CodeDenied, "", "refused: only root and the appliance's own user may use the control socket")})
		return
	}
	by := Actor(fmt.Sprintf("uid %d via postroomctl", uid))
	if user != "" {
		by = Actor(fmt.Sprintf("%s (uid %d) via postroomctl", user, uid))
	}
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := readLine(r, maxRequest)
		if err != nil {
			if errors.Is(err, errTooLong) {
				enc.Encode(response{Error: errorf(CodeInvalid, "", "the request is longer than %d bytes", maxRequest)})
			}
			return
		}
		s.mu.Lock()
		closing := s.closed
		s.mu.Unlock()
		c.SetReadDeadline(time.Time{})
		resp := s.answer(by, line)
		if err := enc.Encode(resp); err != nil {
			return
		}
		if closing {
			return
		}
	}
}

func (s *Server) answer(by Actor, line []byte) response {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return response{Error: errorf(CodeInvalid, "", "the request is not JSON: %v", err)}
	}
	op, err := decodeOp(req)
	if err != nil {
		return response{Error: asError(err)}
	}
	res, err := s.admin.Do(context.Background(), by, op)
	if err != nil {
		return response{Error: asError(err)}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return response{Error: internal("encoding the answer", err)}
	}
	return response{Result: b}
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

var errTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes, without its "\n".
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, errTooLong
		}
		if err == nil {
			return line[:len(line)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}

// Client sends operations over a control socket. It is a Doer; one
// request at a time.
type Client struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

// SocketPath is the control socket of a data folder.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketFile) }

// Dial connects to the control socket at path.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return &Client{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends op and returns its result's JSON (Call decodes it) or the
// server's *Error. by is ignored: the server knows who connected.
func (c *Client) Do(ctx context.Context, by Actor, op Op) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	args, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(request{Op: op.OpName(), Args: args})
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
		defer c.conn.SetDeadline(time.Time{})
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	line, err := readLine(c.r, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("control socket: no answer: %w", err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("control socket: the answer is not JSON: %w", err)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return rawResult(resp.Result), nil
}
