package main

import (
	"errors"
	"fmt"

	"postroom/appliance/admin"
)

// restartSynopsis is the usage text of restart.
const restartSynopsis = `
Restart (on the box itself, while it runs):
  restart                              restart the box cleanly (mail stops for about a
                                       minute; senders try again, nothing is lost); the
                                       mail moves then to a USB disk prepared for it
`

func init() {
	commands = append(commands, command{"restart", 0, 0, nil, (*ctl).restart})
}

func (c *ctl) restart([]string) error {
	if c.remote == nil { // a stopped box's store: nothing runs to restart
		return errors.New("the appliance is not running here: start it (or switch the box on) instead")
	}
	r, err := call[admin.RestartResult](c, admin.RestartBox{})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, r.Note)
	return nil
}
