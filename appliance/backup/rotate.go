package backup

import (
	"fmt"
	"sort"
	"time"
)

// Policy is how many backups the rotation keeps: the newest of each of the
// last Daily days, Weekly ISO weeks and Monthly months that have one.
type Policy struct{ Daily, Weekly, Monthly int }

// Item is one backup for the rotation: its name, when it was made, and the
// backup it builds on ("" for a full one).
type Item struct {
	Name   string
	Time   time.Time
	Parent string
}

// Rotate says which backups to remove. Days, weeks and months are those of
// loc. A backup kept is kept with every backup its restore needs (its
// chain back to the full one), and the newest backup is always kept, so
// a rotation never leaves the office without its latest restore. It is a
// pure function: the table test in rotate_test.go is its specification.
func Rotate(items []Item, p Policy, loc *time.Location) (remove []string) {
	if len(items) == 0 {
		return nil
	}
	sorted := append([]Item(nil), items...)
	// Newest first; at the same time, the later name (names carry the
	// time, and a second backup in one second the next second's name).
	sort.Slice(sorted, func(i, j int) bool {
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.After(sorted[j].Time)
		}
		return sorted[i].Name > sorted[j].Name
	})
	keep := map[string]bool{sorted[0].Name: true}
	bucket := func(n int, period func(time.Time) string) {
		seen := map[string]bool{}
		for _, it := range sorted {
			if len(seen) == n {
				return
			}
			k := period(it.Time.In(loc))
			if !seen[k] {
				seen[k] = true
				keep[it.Name] = true
			}
		}
	}
	bucket(p.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-w%02d", y, w) })
	bucket(p.Monthly, func(t time.Time) string { return t.Format("2006-01") })

	parent := map[string]string{}
	for _, it := range items {
		parent[it.Name] = it.Parent
	}
	for name := range keep {
		for p := parent[name]; p != "" && !keep[p]; p = parent[p] {
			keep[p] = true
		}
	}
	for _, it := range sorted {
		if !keep[it.Name] {
			remove = append(remove, it.Name)
		}
	}
	sort.Strings(remove)
	return remove
}
