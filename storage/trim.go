package storage

import (
	"path/filepath"
	"runtime/debug"
)

// TrimMemory gives back memory the store holds but does not need while
// idle: the Go heap's free pages, and the pages of the database's
// memory-mapped files (value logs, tables, the memtable log), which Linux
// counts as resident until it needs them elsewhere. On a 512 MB board that
// keeps the idle appliance small; the pages come back from disk on demand.
func (s *Store) TrimMemory() {
	debug.FreeOSMemory()
	dir, err := filepath.EvalSymlinks(s.dir)
	if err != nil {
		return
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return
	}
	if n, err := pageOutMappings(dir); err != nil {
		s.log.Debug("trim memory", "err", err)
	} else {
		s.log.Debug("trimmed memory", "mappings", n)
	}
}
