package main

import (
	"fmt"

	"postroom/appliance/admin"
)

// updateSynopsis is the usage text of update.
const updateSynopsis = `
Update (on the box itself, while it runs):
  update FILE                          install the signed update file FILE (made by
                                       make image): its signature, board and version
                                       are checked before anything is written; the box
                                       then restarts to try the new version and keeps
                                       it only if its self-test passes
`

func init() {
	commands = append(commands, command{"update", 1, 1, nil, (*ctl).update})
}

func (c *ctl) update(args []string) error {
	file, err := absPath(args[0])
	if err != nil {
		return err
	}
	r, err := call[admin.UpdateResult](c, admin.InstallUpdate{File: file})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, r.Note)
	return nil
}
