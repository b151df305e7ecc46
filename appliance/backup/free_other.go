//go:build !unix

package backup

import "context"

func (f Folder) Free(ctx context.Context) (int64, error) { return -1, nil }

func freeSpace(dir string) (int64, error) { return -1, nil }
