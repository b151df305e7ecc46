package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A kept restore: the backup's verification (appliance/backup/verify.go)
// keeps its scratch restore of a chain between backups and applies only
// the next incremental part to it, instead of restoring the whole chain
// again. For that the folder must stay exactly the last part's snapshot:
// it is never opened as a store (Open leases ID blocks and sweeps staged
// bodies, which changes keys), so Check runs on the Restore itself.

// ReopenRestore opens a folder that a Restore filled and closed, to apply
// the next part of the same chain. last is the summary of the last part
// it holds; Verify(ctx, last) before Apply proves it still does.
func ReopenRestore(dir string, log *slog.Logger, last *BackupSummary) (*Restore, error) {
	if log == nil {
		log = slog.Default()
	}
	if last == nil {
		return nil, errors.New("storage: reopen restore: the summary of its last part is needed")
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
		return nil, fmt.Errorf("storage: reopen restore: %s holds no restore (%v)", dir, err)
	}
	db, err := badger.Open(restoreOptions(dir, log))
	if err != nil {
		return nil, fmt.Errorf("storage: reopen restore %s: %w", dir, err)
	}
	return &Restore{db: db, log: log, last: last}, nil
}

// Check runs Store.Check on the restored database as it is, without
// opening it as a store. A UID index that disagrees with the records is
// reported and not repaired: the database is read-only to it.
func (r *Restore) Check(ctx context.Context) error {
	sp := newSpace(r.db.Opts().Dir, defaultMinFree, defaultVLogFile, 0, r.log)
	sp.readOnly = true // every write is refused (space.gate)
	s := &Store{
		db: r.db, log: r.log, dir: r.db.Opts().Dir, space: sp,
		locks:     map[AccountID]*sync.Mutex{},
		queues:    map[AccountID]*commitQueue{},
		pins:      map[ObjectID]int{},
		eraseKick: make(chan struct{}, 1),
		authSem:   make(chan struct{}, 1),
		quotas:    map[AccountID]int64{},
		now:       time.Now,
	}
	s.events.init()
	return s.Check(ctx)
}
