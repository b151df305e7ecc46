package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// startProfiling serves Go's profiles (heap, CPU, goroutines) when
// POSTROOM_PPROF names a loopback address, e.g. 127.0.0.1:6060. It is how
// the memory figures in docs/BENCHMARKS.md are explained; it never listens
// beyond this machine.
func startProfiling(log *slog.Logger) error {
	addr := os.Getenv("POSTROOM_PPROF")
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("POSTROOM_PPROF: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("POSTROOM_PPROF must be a loopback address, not %s", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("POSTROOM_PPROF: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	log.Info("serving Go profiles", "addr", l.Addr().String())
	go http.Serve(l, mux)
	return nil
}
