//go:build unix

package backup

import (
	"context"
	"syscall"
)

func (f Folder) Free(ctx context.Context) (int64, error) { return freeSpace(f.Dir) }

func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
